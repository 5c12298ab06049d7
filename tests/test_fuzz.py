"""Fuzzing with hypothesis: parsers and normalizers raise nothing but nrps_nb's own errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nrps_nb.errors import NrpsNbError
from nrps_nb.frames import COLUMNS, context_role, members_to_frame, normalize_roles
from nrps_nb.jose import read_unverified
from nrps_nb.nrps import _parse_body

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
member_keys = st.sampled_from(
    ["user_id", "status", "name", "given_name", "family_name", "email", "picture", "roles",
     "lis_person_sourcedid", "lti11_legacy_user_id", "message", "middle_name", "extra"]
)  # fmt: skip
members = st.dictionaries(member_keys, json_values, max_size=8)
role_strings = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["Learner", "instructor", "TeachingAssistant", "urn:lti:role:ims/lis/Instructor",
         "urn:lti:instrole:ims/lis/Student", "urn:lti:sysrole:ims/lis/Administrator",
         "Learner/NonCreditLearner", "Instructor#TeachingAssistant", "#", "/", "urn:lti:role:ims/lis/",
         "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"]
    ),
)  # fmt: skip

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    st.lists(members, max_size=6),
    st.one_of(st.none(), st.dictionaries(st.text(max_size=6), json_values)),
)
def test_member_normalizer_never_raises(raw: list[dict[str, Any]], context: Any) -> None:
    df = members_to_frame(raw, context=context, platform="p", issuer="https://i")
    assert len(df) <= len(raw)  # duplicates of a user_id are merged
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert df["status"].notna().all()
    assert all(isinstance(r, list) for r in df["roles"])
    for value in df["extras"].dropna():
        json.loads(value)


@FUZZ
@given(st.one_of(st.lists(st.one_of(role_strings, json_values), max_size=6), json_values))
def test_role_normalizer_never_raises(roles: Any) -> None:
    out = normalize_roles(roles)
    assert all(isinstance(r, str) and r for r in out)
    assert len(set(out)) == len(out)
    assert context_role(out) in {"TeachingAssistant", "Instructor", "Learner", "Mentor",
                                 "ContentDeveloper", "Administrator", "Member", "Other"}  # fmt: skip


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@FUZZ
@given(
    st.one_of(
        st.text(max_size=200),
        st.tuples(json_values, json_values, st.text(max_size=20)).map(
            lambda t: ".".join(
                [_b64(json.dumps(t[0]).encode()), _b64(json.dumps(t[1]).encode()), t[2]]
            )  # fmt: skip
        ),
        st.tuples(st.binary(max_size=40), st.binary(max_size=40)).map(
            lambda t: f"{_b64(t[0])}.{_b64(t[1])}.sig"
        ),
    )
)
def test_id_token_parser_raises_only_package_errors(token: str) -> None:
    try:
        header, claims = read_unverified(token)
    except NrpsNbError:
        return
    assert isinstance(header, dict) and isinstance(claims, dict)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.lists(members, max_size=4).map(lambda m: json.dumps({"members": m}).encode()),
    ),
    st.sampled_from(["application/json", "text/html", "application/vnd.ims.lti-nrps.v2.membershipcontainer+json", ""]),
)  # fmt: skip
def test_membership_body_parser_raises_only_package_errors(body: bytes, ctype: str) -> None:
    response = httpx.Response(200, content=body, headers={"Content-Type": ctype} if ctype else {})
    try:
        found, context, _next, _warnings = _parse_body(response, "https://lms.example.edu/m")
    except NrpsNbError:
        return
    assert all(isinstance(m["user_id"], str) for m in found)
    assert context is None or isinstance(context, dict)
    members_to_frame(found, context=context)
    assert isinstance(pd.DataFrame(), pd.DataFrame)
