"""The platform profiles seen from the wire: token endpoints, Link headers, media types and
error shapes, each as its LMS documents them (client assertions are signed with PyJWT here;
the nrps_nb client is not involved)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nrps_nb.sandbox import CourseSpec, SandboxConfig, SandboxServer
from nrps_nb.sandbox.profiles import PROFILES

COURSES = (CourseSpec("c1", "C1", "C 1", 12),)
NRPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


@pytest.fixture(scope="module")
def servers(tool_jwks: Any) -> Iterator[dict[str, SandboxServer]]:
    started = {
        name: SandboxServer(
            SandboxConfig(tool_url=tool_jwks.url, profile=name, courses=COURSES)
        ).start()
        for name in PROFILES
    }
    yield started
    for server in started.values():
        server.stop()


def assertion(kit: Any, srv: SandboxServer, **claims: Any) -> str:
    info = srv.info()
    cid = info["client_id"]
    return str(kit.assertion(srv, claims={"iss": cid, "sub": cid, "aud": info["token_audience"],
                                          **claims}))  # fmt: skip


def token(kit: Any, srv: SandboxServer) -> str:
    response = kit.post_token(srv, kit.token_form(assertion(kit, srv)))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_d2l_wants_its_own_audience(servers: dict[str, SandboxServer], kit: Any) -> None:
    srv = servers["d2l"]
    assert srv.info()["token_audience"] == "https://api.brightspace.com/auth/token"
    wrong = assertion(kit, srv, aud=srv.info()["auth_token_url"])
    response = kit.post_token(srv, kit.token_form(wrong))
    assert response.status_code == 401
    assert "api.brightspace.com" in response.json()["error_description"]
    assert token(kit, srv)


def test_token_error_and_type_shapes(servers: dict[str, SandboxServer], kit: Any) -> None:
    bad = kit.assertion(servers["moodle"], key=kit.other_key, kid="tool-key-1",
                        claims={"sub": "AbCdEf1234567890", "iss": "AbCdEf1234567890"})  # fmt: skip
    response = kit.post_token(servers["moodle"], kit.token_form(bad))
    assert (response.status_code, response.json()) == (400, {"error": "invalid_client"})
    bad = kit.assertion(servers["canvas"], key=kit.other_key, kid="tool-key-1",
                        claims={"sub": "10000000000002", "iss": "10000000000002"})  # fmt: skip
    response = kit.post_token(servers["canvas"], kit.token_form(bad))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    for name in ("blackboard", "openedx"):
        form = kit.token_form(assertion(kit, servers[name]))
        assert kit.post_token(servers[name], form).json()["token_type"] == "bearer"


def test_canvas_links(servers: dict[str, SandboxServer], kit: Any) -> None:
    srv = servers["canvas"]
    url = srv.memberships_url("c1")
    rlid = srv.course("c1").resource_link_id
    response = kit.nrps(url, token(kit, srv), limit=5, role="Learner", rlid=rlid)
    assert response.headers["content-type"] == f"{NRPS_TYPE}; charset=utf-8"
    links = response.headers["link"].split(",")
    assert [link.rsplit("rel=", 1)[1] for link in links] == [
        '"current"', '"next"', '"first"', '"last"']  # fmt: skip
    assert "limit" not in links[1] and "page=2&per_page=5" in links[1]
    assert "role=Learner" in links[1] and f"rlid={rlid}" in links[1]
    response = kit.nrps(url, token(kit, srv), rlid="nope")
    assert response.status_code == 400
    assert response.json() == {"errors": {"type": "bad_request", "message":
                               "Tool does not have access to rlid or rlid does not exist"}}  # fmt: skip


def test_moodle_bare_link_drops_the_role(servers: dict[str, SandboxServer], kit: Any) -> None:
    srv = servers["moodle"]
    url = srv.memberships_url("c1")
    response = kit.nrps(url, token(kit, srv), limit=5, role="Learner")
    assert response.headers["link"] == f"{url}?limit=5&from=5;rel=next"
    whole = kit.nrps(url, token(kit, srv))
    assert "link" not in whole.headers and len(whole.json()["members"]) == len(
        srv.course_members("c1")
    )
    response = kit.nrps(url, token(kit, srv), accept="application/json")
    assert response.status_code == 400 and response.json()["reason"] == "Bad Request"
    response = kit.nrps(url, None)
    assert response.status_code == 401 and response.json()["status"] == 401


def test_sakai_shapes(servers: dict[str, SandboxServer], kit: Any) -> None:
    srv = servers["sakai"]
    url = srv.memberships_url("c1")
    response = kit.nrps(url, None)
    assert (response.status_code, response.text) == (403, "invalid_authorization")
    response = kit.nrps(url, "forged")
    assert (response.status_code, response.text) == (403, "signature_error")
    response = kit.nrps(url, token(kit, srv), limit=5, role="Instructor", rlid="x")
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["link"] == f'<{url}?start=5&limit=5>; rel="next"'
    body = response.json()
    assert set(body["context"]) == {"id", "title"} and len(body["members"]) == 5
    assert not any("message" in m for m in body["members"])  # rlid ignored
    member = body["members"][0]
    assert member["user_id"].startswith("https://sakai.example.edu/user/")
    assert len(member["roles"]) == 1
    empty = kit.nrps(url, token(kit, srv), start=100, limit=5)
    assert (empty.status_code, empty.content) == (200, b"")


def test_openedx_enrollment_limit(kit: Any, tool_jwks: Any) -> None:
    config = SandboxConfig(tool_url=tool_jwks.url, profile="openedx", courses=COURSES,
                           enrollment_limit=10)  # fmt: skip
    with SandboxServer(config) as srv:
        response = kit.nrps(srv.memberships_url("c1"), token(kit, srv))
        assert response.status_code == 403
        assert response.json()["error"] == "above_response_limit"


def test_blackboard_and_schoology_rlid(servers: dict[str, SandboxServer], kit: Any) -> None:
    srv = servers["blackboard"]
    url, rlid = srv.memberships_url("c1"), srv.course("c1").resource_link_id
    response = kit.nrps(url, token(kit, srv), limit=5, rlid=rlid)
    next_link = response.headers["link"].split(", ")[0]
    assert f"rlid={rlid}" in next_link and 'rel="differences"' in response.headers["link"]
    twice = kit.client.get(
        f"{url}?rlid={rlid}&rlid={rlid}",
        headers={"Authorization": f"Bearer {token(kit, srv)}"},
    )
    assert twice.status_code == 400
    srv = servers["schoology"]
    response = kit.nrps(srv.memberships_url("c1"), token(kit, srv), rlid="1")
    assert response.status_code == 400


def test_launch_login_forms(servers: dict[str, SandboxServer], kit: Any) -> None:
    # Canvas and Moodle auto-post the login initiation; the others redirect.
    for name, posts in (("canvas", True), ("moodle", True), ("blackboard", False)):
        response = kit.client.get(servers[name].launch_url("c1"))
        if posts:
            form = kit.parse_forms(response.text).forms[0]
            assert form["method"] == "post" and "login_hint" in form["inputs"]
            if name == "canvas":
                assert form["inputs"]["canvas_environment"] == "prod"
        else:
            assert response.status_code == 302
