"""Roles, the principal role, text cleaning and dtypes of the roster DataFrame."""

from __future__ import annotations

import pandas as pd
import pytest

from nrps_nb.frames import context_role, members_to_frame, normalize_role, pseudonymize_frame

M = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("Learner", M + "Learner"),
        ("instructor", M + "Instructor"),
        ("TeachingAssistant", TA),
        ("urn:lti:role:ims/lis/TeachingAssistant", TA),
        ("urn:lti:role:ims/lis/Learner", M + "Learner"),
        ("urn:lti:instrole:ims/lis/Student",
         "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"),
        ("urn:lti:sysrole:ims/lis/Administrator",
         "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"),
        ("Learner/NonCreditLearner",
         "http://purl.imsglobal.org/vocab/lis/v2/membership/Learner#NonCreditLearner"),
        ("urn:lti:role:ims/lis/", "urn:lti:role:ims/lis/"),  # found by fuzzing: was ""
        (M + "Mentor", M + "Mentor"),
        ("SomethingElse", "SomethingElse"),
    ],
)  # fmt: skip
def test_normalize_role(role: str, expected: str) -> None:
    assert normalize_role(role) == expected


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([M + "Instructor", TA], "TeachingAssistant"),  # Canvas sends both
        ([M + "Learner", M + "Instructor"], "Instructor"),
        ([M + "Learner", "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"], "Learner"),
        ([M + "ContentDeveloper", M + "Mentor"], "Mentor"),
        # DESIGN §5's order, pair by pair: Instructor, Learner, Mentor, ContentDeveloper,
        # Administrator, Member, Other.
        ([M + "Mentor", M + "Learner"], "Learner"),
        ([M + "Administrator", M + "ContentDeveloper"], "ContentDeveloper"),
        ([M + "Member", M + "Administrator"], "Administrator"),
        ([M + "Member"], "Member"),
        ([M + "Manager"], "Other"),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership/Learner#NonCreditLearner"], "Learner"),
        (["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Staff"], "Other"),
        ([], "Other"),
    ],
)
def test_principal_role(roles: list[str], expected: str) -> None:
    assert context_role(roles) == expected


def test_text_cleaning_dtypes_and_extras() -> None:
    df = members_to_frame(
        [
            {"user_id": 7, "roles": "Learner", "lis_person_sourcedid": "$Person.sourcedId",
             "email": "", "status": "inactive", "sakai_ext": {"sakai_role": "access"}},
            {"user_id": "b", "roles": ["Instructor"], "name": "Zoë"},
        ],
        context={"id": "c1", "title": "T"},
        platform="p",
    )  # fmt: skip
    assert df["user_id"].tolist() == ["7", "b"]
    assert pd.isna(df.loc[0, "lis_person_sourcedid"]) and pd.isna(df.loc[0, "email"])
    assert df["status"].tolist() == ["Inactive", "Active"]
    assert df.loc[0, "extras"] == '{"sakai_ext": {"sakai_role": "access"}}'
    assert df["context_label"].isna().all() and df["context_title"].tolist() == ["T", "T"]
    assert {str(df[c].dtype) for c in ("name", "email", "role", "platform")} == {"string"}
    assert str(df["is_instructor"].dtype) == "boolean"
    assert df["is_instructor"].tolist() == [False, True]


def test_custom_columns_from_the_resource_link_message() -> None:
    message = [{"https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
                "https://purl.imsglobal.org/spec/lti/claim/custom": {"section": "001", "n": 3}}]  # fmt: skip
    df = members_to_frame([{"user_id": "a", "message": message}, {"user_id": "b"}])
    assert df["custom_section"].tolist()[0] == "001"
    assert pd.isna(df["custom_section"].tolist()[1])
    assert df["custom_n"].tolist()[0] == "3"


def test_pseudonymize_keeps_allow_list_only() -> None:
    df = members_to_frame([{"user_id": "u1", "name": "Ada", "email": "a@x", "roles": ["Learner"]}])
    out = pseudonymize_frame(df, b"k" * 32)
    assert "name" not in out.columns and "email" not in out.columns and "extras" not in out.columns
    assert out.loc[0, "user_id"] != "u1" and len(out.loc[0, "user_id"]) == 32
    assert pseudonymize_frame(df, b"k" * 32).loc[0, "user_id"] == out.loc[0, "user_id"]
    assert pseudonymize_frame(df, b"j" * 32).loc[0, "user_id"] != out.loc[0, "user_id"]


def test_repeated_role_sets_are_cached_but_rows_own_their_lists() -> None:
    learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
    df = members_to_frame(
        [
            {"user_id": "a", "roles": ["Learner"]},
            {"user_id": "b", "roles": ["Learner"]},
            {"user_id": "c", "roles": ["Learner", {"junk": 1}]},  # unhashable: not cached
            {"user_id": "d", "roles": [1, True]},  # not strings: no roles
        ]
    )
    assert df["roles"].tolist() == [[learner], [learner], [learner], []]
    assert df["role"].tolist() == ["Learner", "Learner", "Learner", "Other"]
    df.loc[0, "roles"].append("x")  # one row's list is its own
    assert df.loc[1, "roles"] == [learner]
