"""NRPS 2.0 memberships: bearer auth, opaque cursor paging, filters, content negotiation."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from nrps_nb.sandbox import SandboxServer

LIS = "http://purl.imsglobal.org/vocab/lis/v2/membership"
INSTRUCTOR = f"{LIS}#Instructor"
LEARNER = f"{LIS}#Learner"
TA = f"{LIS}/Instructor#TeachingAssistant"
TEST_USER = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"
NRPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


def next_link(response: httpx.Response) -> str | None:
    header = response.headers.get("link")
    if header is None:
        return None
    match = re.fullmatch(r'<([^>]*)>; rel="next"', header)
    assert match, header
    return match.group(1)


def walk(kit: Any, url: str, token: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every member, following rel=next verbatim; also the number of pages."""
    members: list[dict[str, Any]] = []
    pages = 0
    response = kit.nrps(url, token, **params)
    while True:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(NRPS_TYPE)
        body = response.json()
        assert body["id"] == str(response.request.url)
        members.extend(body["members"])
        pages += 1
        link = next_link(response)
        if link is None:
            return members, pages
        assert link.startswith(kit_base(url))
        response = kit.nrps(link, token)


def kit_base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def test_missing_or_bad_bearer(sandbox: SandboxServer, kit: Any) -> None:
    url = sandbox.memberships_url("seminar")
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = kit.client.get(url, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    response = kit.nrps(url, "not-a-token")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "invalid_token"


def test_token_without_nrps_scope(sandbox: SandboxServer, kit: Any) -> None:
    token = kit.token(sandbox, scope=kit.AGS_SCOPES[0])
    response = kit.nrps(sandbox.memberships_url("seminar"), token)
    assert response.status_code == 401
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_unknown_course(sandbox: SandboxServer, kit: Any) -> None:
    url = sandbox.memberships_url("seminar").replace("seminar", "nope")
    assert kit.nrps(url, kit.token(sandbox)).status_code == 404


def test_single_page_course(sandbox: SandboxServer, kit: Any) -> None:
    url = sandbox.memberships_url("seminar")
    response = kit.nrps(url, kit.token(sandbox))
    assert response.status_code == 200
    assert "link" not in response.headers
    body = response.json()
    assert set(body) == {"id", "context", "members"}
    assert body["id"] == url
    assert body["context"]["label"] == "SEM 500" and body["context"]["title"] == "Research Seminar"
    assert body["members"] == sandbox.course_members("seminar")


@pytest.mark.parametrize(("course", "limit"), [("intro-stats", 37), ("big-lecture", 100)])
def test_paging_covers_every_member_once(
    sandbox: SandboxServer, kit: Any, course: str, limit: int
) -> None:
    expected = sandbox.course_members(course)
    before = sandbox.stats["nrps_requests"]
    members, pages = walk(kit, sandbox.memberships_url(course), kit.token(sandbox), limit=limit)
    assert members == expected
    assert pages == math.ceil(len(expected) / limit)
    assert sandbox.stats["nrps_requests"] == before + pages


def test_next_link_is_absolute_opaque_and_keeps_parameters(
    sandbox: SandboxServer, kit: Any
) -> None:
    url = sandbox.memberships_url("intro-stats")
    response = kit.nrps(url, kit.token(sandbox), role="Learner", limit=10)
    link = next_link(response)
    assert link is not None and link.startswith(url + "?")
    query = parse_qs(urlsplit(link).query)
    assert query["role"] == ["Learner"] and query["limit"] == ["10"]
    [cursor] = query["cursor"]
    assert "10" not in cursor.split(".")[1:]  # not a bare offset


def test_default_and_capped_page_size(sandbox: SandboxServer, kit: Any) -> None:
    url, token = sandbox.memberships_url("big-lecture"), kit.token(sandbox)
    assert len(kit.nrps(url, token).json()["members"]) == 50
    response = kit.nrps(url, token, limit=100000)
    assert len(response.json()["members"]) == 100
    assert "limit=100000" in (next_link(response) or "")


@pytest.mark.parametrize("limit", ["abc", "0", "-5", "1.5", "", "١٢"])
def test_bad_limit(sandbox: SandboxServer, kit: Any, limit: str) -> None:
    response = kit.nrps(sandbox.memberships_url("seminar"), kit.token(sandbox), limit=limit)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "limit" in response.json()["error_description"]


def _first_next(sandbox: SandboxServer, kit: Any, token: str, **params: Any) -> str:
    link = next_link(kit.nrps(sandbox.memberships_url("intro-stats"), token, limit=5, **params))
    assert link is not None
    return link


def test_tampered_or_foreign_cursor(sandbox: SandboxServer, kit: Any) -> None:
    token = kit.token(sandbox)
    link = _first_next(sandbox, kit, token)
    cursor = parse_qs(urlsplit(link).query)["cursor"][0]
    payload, mac = cursor.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    for bad in (f"{flipped}.{mac}", f"{payload}.{mac[:-1]}", "garbage", f"{payload}.", "é.é"):
        response = kit.nrps(sandbox.memberships_url("intro-stats"), token, limit=5, cursor=bad)
        assert response.status_code == 400, bad
        assert "cursor" in response.json()["error_description"]
    # A good cursor is bound to its listing: not another role filter, not another course.
    response = kit.nrps(
        sandbox.memberships_url("intro-stats"), token, role="Learner", cursor=cursor
    )
    assert response.status_code == 400
    response = kit.nrps(sandbox.memberships_url("big-lecture"), token, cursor=cursor)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("role", "predicate"),
    [
        ("Learner", lambda m: LEARNER in m["roles"]),
        (LEARNER, lambda m: LEARNER in m["roles"]),
        ("Instructor", lambda m: INSTRUCTOR in m["roles"]),
        ("TeachingAssistant", lambda m: TA in m["roles"]),
        (TA, lambda m: TA in m["roles"]),
        (TEST_USER, lambda m: TEST_USER in m["roles"]),
        ("Mentor", lambda m: False),
    ],
)
def test_role_filter(sandbox: SandboxServer, kit: Any, role: str, predicate: Any) -> None:
    expected = [m for m in sandbox.course_members("intro-stats") if predicate(m)]
    url = sandbox.memberships_url("intro-stats")
    members, _ = walk(kit, url, kit.token(sandbox), role=role, limit=40)
    assert members == expected
    if role == "Instructor":
        assert len(members) >= 2  # the instructor and the TAs
    if role == TEST_USER:
        assert len(members) == 1


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (NRPS_TYPE, 200),
        ("application/json", 200),
        ("*/*", 200),
        (f"text/html, {NRPS_TYPE};q=0.9", 200),
        ("text/html", 406),
        ("application/vnd.ims.lis.v2.membershipcontainer+json", 406),
        ("application/json;q=0", 406),
        ("application/xml, text/plain", 406),
    ],
)
def test_accept(sandbox: SandboxServer, kit: Any, accept: str, status: int) -> None:
    response = kit.nrps(sandbox.memberships_url("seminar"), kit.token(sandbox), accept=accept)
    assert response.status_code == status
    if status == 200:
        assert response.headers["content-type"].startswith(NRPS_TYPE)


def test_no_accept_header(sandbox: SandboxServer, kit: Any) -> None:
    url = sandbox.memberships_url("seminar")
    response = kit.client.get(url, headers={"Authorization": f"Bearer {kit.token(sandbox)}"})
    # httpx sends "Accept: */*" by default; remove it to test a client that sends none.
    request = kit.client.build_request("GET", url, headers=response.request.headers)
    del request.headers["accept"]
    assert kit.client.send(request).status_code == 200


def test_rlid(sandbox: SandboxServer, kit: Any) -> None:
    login = kit.login(sandbox.launch_url("seminar"))
    auth = kit.client.post(
        sandbox.info()["auth_login_url"], data=kit.auth_request(login, sandbox.config.tool_url)
    )
    import jwt

    id_token = kit.parse_forms(auth.text).forms[0]["inputs"]["id_token"]
    claims = jwt.decode(id_token, options={"verify_signature": False})
    rlid = claims["https://purl.imsglobal.org/spec/lti/claim/resource_link"]["id"]
    url, token = sandbox.memberships_url("seminar"), kit.token(sandbox)
    members, _ = walk(kit, url, token, rlid=rlid, limit=3)
    assert [{k: v for k, v in m.items() if k != "message"} for m in members] == (
        sandbox.course_members("seminar")
    )
    for m in members:
        [message] = m["message"]
        assert message["https://purl.imsglobal.org/spec/lti/claim/message_type"] == (
            "LtiResourceLinkRequest"
        )
        assert message["https://purl.imsglobal.org/spec/lti/claim/custom"]["section"]
    assert kit.nrps(url, token, rlid="other-link").status_code == 400


def test_repeated_query_parameter(sandbox: SandboxServer, kit: Any) -> None:
    url = sandbox.memberships_url("seminar") + "?limit=2&limit=3"
    assert kit.nrps(url, kit.token(sandbox)).status_code == 400
