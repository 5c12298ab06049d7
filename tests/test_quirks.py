"""What platforms really send, read tolerantly, and the clear errors where a platform says no.

Quirks a sandbox profile reproduces are tested against that profile; the rest (shapes no
profile sends) against a scripted server on loopback. No mocks: every case is real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from nrps_nb import (
    Forbidden,
    NotAuthorized,
    ResourceLinkRefused,
    RosterTooLarge,
    TokenError,
    Workspace,
)
from nrps_nb.oauth import clear_token_cache

from .helpers import Scripted, ThreadedApp, respond, scripted_server
from .profile_kit import COURSE, profile_env

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
M = LIS + "membership#"
TA = LIS + "membership/Instructor#TeachingAssistant"
NRPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
TOKEN = {"access_token": "t0k", "token_type": "Bearer", "expires_in": 3600}


class Lms:
    """A scripted platform: token endpoint plus whatever memberships answers a test scripts."""

    def __init__(self, ws: Workspace, script: Scripted, server: ThreadedApp) -> None:
        self.ws, self.script, self.server = ws, script, server

    @property
    def url(self) -> str:
        return self.server.base_url + "/members"

    def serve(self, *pages: tuple[int, Any, dict[str, str]]) -> None:
        self.script.routes["/members"] = [respond(s, b, h) for s, b, h in pages]

    def fetch(self, **kwargs: Any) -> pd.DataFrame:
        return self.ws.fetch_roster(self.url, platform="lms", **kwargs)

    def member_requests(self) -> list[str]:
        return [uri for method, uri, _ in self.script.requests if uri.startswith("/members")]


@pytest.fixture
def lms(ws: Workspace) -> Iterator[Lms]:
    script = Scripted()
    script.add("/token", respond(200, TOKEN))
    with scripted_server(script) as server:
        ws.add_platform(
            "lms", issuer="https://lms.example.edu", client_id="c",
            auth_login_url=server.base_url + "/auth", auth_token_url=server.base_url + "/token",
            key_set_url=server.base_url + "/jwks",
        )  # fmt: skip
        yield Lms(ws, script, server)


def container(*members: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "x", "context": {"id": "ctx", "label": "L", "title": "T"}, **extra,
            "members": list(members)}  # fmt: skip


# -- tolerant reading -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        NRPS_TYPE,
        "application/json",  # Sakai
        "application/vnd.ims.lti-nprs.v2.membershipcontainer+json",  # Moodle 3.7/3.8 typo
        "application/vnd.ims.lis.v2.membershipcontainer+json",  # 2018-era Canvas
        "text/plain; charset=utf-8",
        "",
    ],
)
def test_any_media_type_with_a_container_body(lms: Lms, content_type: str) -> None:
    body = json.dumps(container({"user_id": "u1", "roles": [M + "Learner"]}))
    lms.serve((200, body, {"Content-Type": content_type}))
    assert lms.fetch()["user_id"].tolist() == ["u1"]


def test_the_accept_header_is_exactly_the_nrps_type(lms: Lms) -> None:
    # Moodle compares the whole Accept header with the types it serves (services.php).
    lms.serve((200, container(), {}))
    lms.fetch()
    [(_, _, headers)] = [r for r in lms.script.requests if r[1].startswith("/members")]
    assert headers["Accept"] == NRPS_TYPE


def test_moodle_profile_answers_400_to_an_accept_list(tmp_path: Path) -> None:
    import httpx

    with profile_env("moodle", tmp_path / "ws") as env:
        url = env.sandbox.memberships_url(COURSE)
        response = httpx.get(url, headers={"Accept": f"{NRPS_TYPE}, application/json;q=0.9"})
        assert response.status_code == 400
        assert response.json()["reason"] == "Bad Request"  # Moodle's error shape


def test_no_context_numeric_and_url_user_ids_missing_status(lms: Lms) -> None:
    lms.serve((200, {"members": [
        {"user_id": 42, "roles": [M + "Learner"]},
        {"user_id": "https://sakai.example.edu/user/9f2c", "roles": ["Learner"],
         "status": "Inactive"},
        {"user_id": "", "roles": []}, {"roles": [M + "Learner"]}, "junk",
    ]}, {}))  # fmt: skip
    df = lms.fetch()
    assert df["user_id"].tolist() == ["42", "https://sakai.example.edu/user/9f2c"]
    assert df["status"].tolist() == ["Active", "Inactive"]  # missing status means Active
    assert df["context_id"].isna().all() and df["context_title"].isna().all()
    assert any("without a usable user_id" in w for w in df.attrs["warnings"])


def test_role_forms_become_full_uris(lms: Lms) -> None:
    lms.serve((200, container(
        {"user_id": "short", "roles": ["Learner"]},
        {"user_id": "urn", "roles": ["urn:lti:role:ims/lis/Instructor",
                                     "urn:lti:instrole:ims/lis/Faculty"]},
        {"user_id": "subrole", "roles": [TA]},  # the sub-role without its principal
        {"user_id": "both", "roles": [M + "Instructor", TA]},  # Canvas sends both
        {"user_id": "short-sub", "roles": ["Instructor#TeachingAssistant"]},
        {"user_id": "old-canvas", "roles": [LIS + "membership/instructor#TeachingAssistant"]},
        {"user_id": "test", "roles": [M + "Learner",
                                      "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"]},
    ), {}))  # fmt: skip
    df = lms.fetch().set_index("user_id")
    assert df.loc["short", "roles"] == [M + "Learner"]
    assert df.loc["urn", "roles"] == [M + "Instructor", LIS + "institution/person#Faculty"]
    for uid in ("subrole", "short-sub", "old-canvas"):
        assert df.loc[uid, "roles"] == [TA] and df.loc[uid, "role"] == "TeachingAssistant"
    assert df.loc["both", "role"] == "TeachingAssistant"
    assert df.loc["urn", "role"] == "Instructor" and df.loc["short", "role"] == "Learner"
    assert bool(df.loc["test", "is_test_user"]) and df.loc["test", "role"] == "Learner"


def test_role_filter_reads_every_role_form(lms: Lms) -> None:
    # A platform that ignores the filter and sends short names and URNs: nrps_nb filters.
    lms.serve((200, container(
        {"user_id": "i", "roles": ["urn:lti:role:ims/lis/Instructor"]},
        {"user_id": "ta", "roles": [TA]},
        {"user_id": "l", "roles": ["Learner"]},
    ), {}))  # fmt: skip
    df = lms.fetch(role="Instructor")
    assert df["user_id"].tolist() == ["i", "ta"]  # a TA is an Instructor
    [uri] = lms.member_requests()
    assert parse_qs(urlsplit(uri).query)["role"] == [M + "Instructor"]
    assert any("without the role" in w for w in df.attrs["warnings"])
    assert lms.fetch(role="TeachingAssistant")["user_id"].tolist() == ["ta"]


def test_unexpanded_variables_and_empty_strings_are_na(lms: Lms) -> None:
    lms.serve((200, container({"user_id": "u", "roles": [], "lis_person_sourcedid": "$Person.sourcedId",
                               "email": "", "name": "  "}), {}))  # fmt: skip
    df = lms.fetch()
    assert df[["lis_person_sourcedid", "email", "name"]].isna().all(axis=None)


@pytest.mark.parametrize(
    "message",
    [
        [{"https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
          "https://purl.imsglobal.org/spec/lti/claim/custom": {"grp": "A", "n": 2}}],
        {"https://purl.imsglobal.org/spec/lti/claim/custom": {"grp": "A", "n": 2}},  # object
    ],
)  # fmt: skip
def test_message_as_array_or_object(lms: Lms, message: Any) -> None:
    lms.serve((200, container({"user_id": "u", "roles": [], "message": message}), {}))
    df = lms.fetch(rlid="link-1")
    assert df.loc[0, "custom_grp"] == "A" and df.loc[0, "custom_n"] == "2"
    assert "custom" in df.loc[0, "extras"]  # the whole message is kept
    assert not [w for w in df.attrs["warnings"] if "ignored rlid" in w]


def test_an_empty_message_array_means_no_custom_values(lms: Lms) -> None:
    lms.serve((200, container({"user_id": "u", "roles": [], "message": []}), {}))
    df = lms.fetch(rlid="link-1")
    assert not [c for c in df.columns if c.startswith("custom_")]
    assert any("the platform ignored rlid" in w for w in df.attrs["warnings"])


def test_empty_body_is_an_empty_roster(lms: Lms) -> None:
    lms.serve((200, b"", {"Content-Type": "application/json"}))  # Sakai, empty site
    df = lms.fetch()
    assert len(df) == 0 and df.attrs["complete"] is True and df.attrs["pages"] == 1


def test_moodle_bare_link_and_next_links_that_carry_rlid(lms: Lms) -> None:
    base = lms.url
    lms.serve(
        (200, container({"user_id": "1", "roles": []}),
         {"Link": f"{base}?limit=1&from=1&rlid=7;rel=next"}),  # Moodle's URL;rel=next
        (200, container({"user_id": "2", "roles": []}),
         {"Link": f'<{base}?limit=1&offset=2&rlid=7>; rel="next"'}),  # Blackboard echoes rlid
        (200, container({"user_id": "3", "roles": []}), {}),
    )  # fmt: skip
    df = lms.fetch(rlid="7", limit=1)
    assert df["user_id"].tolist() == ["1", "2", "3"]
    requests = lms.member_requests()
    assert len(requests) == 3
    assert all(parse_qs(urlsplit(u).query)["rlid"] == ["7"] for u in requests)  # never twice


def test_moodle_38_shapes(tmp_path: Path) -> None:
    # No context object, the misspelled media type, and a next link on the last full page.
    with profile_env("moodle-3.8", tmp_path / "ws") as env:
        launch = env.launch()
        assert launch.context_label == "STAT 101"
        df = env.ws.fetch_roster(launch, limit=23)
        assert len(df) == 23 and df.attrs["pages"] == 2  # the second page is empty
        assert set(df["context_label"]) == {"STAT 101"}  # from the launch
        assert df.attrs["complete"] is True


# -- clear errors -----------------------------------------------------------------------------


def test_schoology_refuses_rlid(tmp_path: Path) -> None:
    with profile_env("schoology", tmp_path / "ws") as env:
        launch = env.launch()
        with pytest.raises(ResourceLinkRefused) as caught:
            env.ws.fetch_roster(launch, rlid=launch.resource_link_id)
        message = str(caught.value)
        assert caught.value.status == 400
        assert "fetch the section's roster without rlid" in message
        assert len(env.ws.fetch_roster(launch)) == len(env.members())


def test_openedx_course_over_the_enrollment_limit(tmp_path: Path) -> None:
    with profile_env("openedx", tmp_path / "ws", enrollment_limit=20) as env:
        launch = env.launch()
        before = env.sandbox.stats["nrps_requests"]
        with pytest.raises(RosterTooLarge) as caught:
            env.ws.fetch_roster(launch, limit=5)
        assert isinstance(caught.value, Forbidden) and caught.value.status == 403
        assert "LTI_NRPS_ACTIVE_ENROLLMENT_LIMIT" in str(caught.value)
        assert "paging does not help" in str(caught.value)
        assert env.sandbox.stats["nrps_requests"] == before + 1  # not retried


@pytest.mark.parametrize(
    "message",
    [
        "Tool does not have access to rlid or rlid does not exist",
        "Requested ResourceLink was not found",
        "Requested assignment not configured for external tool launches",
        "Requested ResourceLink bound to unexpected external tool",
    ],
)
def test_canvas_resource_link_errors(lms: Lms, message: str) -> None:
    lms.serve((400, {"errors": {"type": "bad_request", "message": message}}, {}))
    with pytest.raises(ResourceLinkRefused) as caught:
        lms.fetch(rlid="8aa641d1")
    assert message in str(caught.value)
    assert "Launch nrps_nb from the link again, or fetch without rlid" in str(caught.value)


def test_canvas_profile_unknown_rlid(tmp_path: Path) -> None:
    with profile_env("canvas", tmp_path / "ws") as env:
        launch = env.launch()
        with pytest.raises(ResourceLinkRefused, match="does not have access to rlid"):
            env.ws.fetch_roster(launch, rlid="not-a-link")


def test_any_400_to_rlid_is_a_resource_link_error(lms: Lms) -> None:
    lms.serve((400, {"error": "invalid_request"}, {}))
    with pytest.raises(ResourceLinkRefused, match="resource_link_id of launches"):
        lms.fetch(rlid="x")


def test_moodle_behind_a_proxy_that_drops_authorization(tmp_path: Path) -> None:
    with profile_env("moodle", tmp_path / "ws", proxy_strips_authorization=True) as env:
        launch = env.launch()
        with pytest.raises(NotAuthorized) as caught:
            env.ws.fetch_roster(launch)
        message = str(caught.value)
        assert "drops the Authorization header" in message and "CGIPassAuth On" in message
        assert caught.value.status == 401
        assert env.sandbox.stats["tokens_issued"] == 2  # one fresh token was tried too
        assert "Bearer" not in message  # nothing of the token


def test_moodle_unknown_rlid_is_a_404(tmp_path: Path) -> None:
    with profile_env("moodle", tmp_path / "ws") as env:
        launch = env.launch()
        with pytest.raises(ResourceLinkRefused, match="Moodle answers 404"):
            env.ws.fetch_roster(launch, rlid="999")


def test_sakai_403_for_an_unknown_token_gets_a_fresh_token(tmp_path: Path) -> None:
    with profile_env("sakai", tmp_path / "ws") as env:
        launch = env.launch()
        assert len(env.ws.fetch_roster(launch)) == len(env.members())
        env.sandbox.revoke_access_tokens()  # the cached token is now unknown: 403
        df = env.ws.fetch_roster(launch)
        assert len(df) == len(env.members())
        assert env.sandbox.stats["tokens_issued"] == 2


def test_d2l_needs_its_own_token_audience(tmp_path: Path) -> None:
    with profile_env("d2l", tmp_path / "ws") as env:
        launch = env.launch()
        info = env.sandbox.info()
        assert env.platform.audience == "https://api.brightspace.com/auth/token"
        env.ws.add_platform(
            "d2l-plain", issuer="https://other.brightspace.example", client_id=info["client_id"],
            auth_login_url=info["auth_login_url"], auth_token_url=info["auth_token_url"],
            key_set_url=info["key_set_url"],
        )  # fmt: skip
        clear_token_cache()
        with pytest.raises(TokenError, match=r"api\.brightspace\.com/auth/token"):
            env.ws.fetch_roster(launch.context_memberships_url, platform="d2l-plain")
        assert len(env.ws.fetch_roster(launch)) == len(env.members())


def test_canvas_scope_missing_explains_the_developer_key(lms: Lms, ws: Workspace) -> None:
    ws.add_platform(
        "canvas", preset="canvas-selfhosted", base_url=lms.server.base_url, client_id="c2",
        issuer="https://canvas.example.edu",
    )  # fmt: skip
    lms.script.routes["/login/oauth2/token"] = [respond(200, TOKEN)]
    lms.serve(
        (401, {"errors": {"type": "unauthorized", "message": "Insufficient permissions"}}, {})
    )
    with pytest.raises(NotAuthorized, match="Can retrieve user data"):
        ws.fetch_roster(lms.url, platform="canvas")
