"""Third-party initiated login and the OIDC auth endpoint, strict like a real LMS."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from nrps_nb.sandbox import SandboxServer

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"


def test_launch_link_redirects_to_tool_login(sandbox: SandboxServer, kit: Any) -> None:
    tool = sandbox.config.tool_url
    response = kit.client.get(sandbox.launch_url("seminar"))
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{tool}/login"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    instructor = sandbox.course_members("seminar")[0]
    assert query["iss"] == sandbox.base_url
    assert query["login_hint"] == instructor["user_id"]
    assert query["target_link_uri"] == f"{tool}/launch"
    assert query["client_id"] == "nrps-nb-sandbox-tool"
    assert query["lti_deployment_id"] == "sandbox-deployment-1"
    assert query["lti_message_hint"] and instructor["user_id"] not in query["lti_message_hint"]


def test_launch_link_unknown_course_or_user(sandbox: SandboxServer, kit: Any) -> None:
    base = sandbox.base_url
    assert kit.client.get(f"{base}/courses/nope/launch").status_code == 404
    assert kit.client.get(f"{base}/courses/seminar/launch?user=nobody").status_code == 404
    with pytest.raises(KeyError):
        sandbox.launch_url("seminar", "nobody")


def test_inactive_member_cannot_launch(sandbox: SandboxServer, kit: Any) -> None:
    inactive = next(m for m in sandbox.course_members("big-lecture") if m["status"] == "Inactive")
    assert kit.client.get(sandbox.launch_url("big-lecture", inactive["user_id"])).status_code == 403


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_auth_happy_path(sandbox: SandboxServer, kit: Any, method: str) -> None:
    login = kit.login(sandbox.launch_url("intro-stats"))
    params = kit.auth_request(login, sandbox.config.tool_url, state='st"<a>&b')
    url = sandbox.info()["auth_login_url"]
    if method == "GET":
        response = kit.client.get(url, params=params)
    else:
        response = kit.client.post(url, data=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = kit.parse_forms(response.text)
    assert page.scripts == 1 and ".submit()" in response.text
    [form] = page.forms
    assert form["method"] == "post"
    assert form["action"] == f"{sandbox.config.tool_url}/launch"
    assert set(form["inputs"]) == {"id_token", "state"}
    assert form["inputs"]["state"] == 'st"<a>&b'

    id_token = form["inputs"]["id_token"]
    jwks = kit.client.get(sandbox.info()["key_set_url"]).json()
    [jwk] = jwks["keys"]
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and jwk["use"] == "sig" and jwk["kid"]
    assert jwt.get_unverified_header(id_token)["kid"] == jwk["kid"]
    claims = jwt.decode(
        id_token,
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience="nrps-nb-sandbox-tool",
        issuer=sandbox.base_url,
        options={"require": ["exp", "iat", "sub", "nonce"]},
    )
    member = sandbox.course_members("intro-stats")[0]
    assert claims["sub"] == member["user_id"]
    assert claims["aud"] == claims["azp"] == "nrps-nb-sandbox-tool"
    assert claims["nonce"] == params["nonce"]
    assert claims["exp"] - claims["iat"] == 300 and abs(claims["iat"] - time.time()) < 5
    for name in ("name", "given_name", "family_name", "email"):
        assert claims[name] == member[name]
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == "sandbox-deployment-1"
    assert claims[LTI + "target_link_uri"] == f"{sandbox.config.tool_url}/launch"
    assert claims[LTI + "resource_link"]["id"]
    assert claims[LTI + "roles"] == member["roles"]
    context = claims[LTI + "context"]
    assert context["label"] == "STAT 101" and context["title"] == "Introduction to Statistics"
    assert context["type"] == ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"]
    assert context["id"] != "intro-stats"  # opaque, like Canvas
    platform = claims[LTI + "tool_platform"]
    assert platform["name"] == "nrps_nb sandbox"
    assert platform["product_family_code"] == "nrps_nb_sandbox" and platform["guid"]
    assert claims[NRPS_CLAIM] == {
        "context_memberships_url": sandbox.memberships_url("intro-stats"),
        "service_versions": ["2.0"],
    }


def test_auth_as_teaching_assistant(sandbox: SandboxServer, kit: Any) -> None:
    ta = next(m for m in sandbox.course_members("intro-stats") if TA in m["roles"])
    login = kit.login(sandbox.launch_url("intro-stats", ta["user_id"]))
    assert login["login_hint"] == ta["user_id"]
    response = kit.client.post(
        sandbox.info()["auth_login_url"], data=kit.auth_request(login, sandbox.config.tool_url)
    )
    token = kit.parse_forms(response.text).forms[0]["inputs"]["id_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == ta["user_id"] and TA in claims[LTI + "roles"]


def _tamper(value: str) -> str:
    i = len(value) // 3
    return value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]


BAD_AUTH = {
    "redirect trailing slash": ("redirect_uri", lambda tool, login: f"{tool}/launch/"),
    "redirect extra query": ("redirect_uri", lambda tool, login: f"{tool}/launch?x=1"),
    "redirect other host": ("redirect_uri", lambda tool, login: "https://evil.example/launch"),
    "redirect missing": ("redirect_uri", lambda tool, login: None),
    "client_id": ("client_id", lambda tool, login: "someone-else"),
    "scope": ("scope", lambda tool, login: "openid profile"),
    "response_type": ("response_type", lambda tool, login: "code"),
    "response_mode": ("response_mode", lambda tool, login: "query"),
    "response_mode missing": ("response_mode", lambda tool, login: None),
    "prompt": ("prompt", lambda tool, login: "login"),
    "prompt missing": ("prompt", lambda tool, login: None),
    "nonce missing": ("nonce", lambda tool, login: None),
    "nonce empty": ("nonce", lambda tool, login: ""),
    "hint tampered": ("lti_message_hint", lambda tool, login: _tamper(login["lti_message_hint"])),
    "hint garbage": ("lti_message_hint", lambda tool, login: "not-a-hint"),
    "hint missing": ("lti_message_hint", lambda tool, login: None),
    "login_hint unknown": ("login_hint", lambda tool, login: "no-such-user"),
}


@pytest.mark.parametrize("case", sorted(BAD_AUTH))
def test_auth_rejects(sandbox: SandboxServer, kit: Any, case: str) -> None:
    parameter, make = BAD_AUTH[case]
    tool = sandbox.config.tool_url
    login = kit.login(sandbox.launch_url("seminar"))
    params = kit.auth_request(login, tool, **{parameter: make(tool, login)})
    response = kit.client.get(sandbox.info()["auth_login_url"], params=params)
    _assert_rejected(response, parameter)


def _assert_rejected(response: httpx.Response, parameter: str) -> None:
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert f'<code class="parameter">{parameter}</code>' in response.text
    assert "<form" not in response.text and 'name="id_token"' not in response.text


def test_auth_hint_bound_to_user(sandbox: SandboxServer, kit: Any) -> None:
    """A valid hint issued for the instructor cannot launch as a learner."""
    members = sandbox.course_members("seminar")
    login = kit.login(sandbox.launch_url("seminar"))
    params = kit.auth_request(login, sandbox.config.tool_url, login_hint=members[1]["user_id"])
    response = kit.client.get(sandbox.info()["auth_login_url"], params=params)
    _assert_rejected(response, "lti_message_hint")


def test_auth_hint_from_another_sandbox(sandbox: SandboxServer, kit: Any) -> None:
    with SandboxServer(sandbox.config) as other:
        login = kit.login(other.launch_url("seminar"))
    params = kit.auth_request(login, sandbox.config.tool_url)
    response = kit.client.get(sandbox.info()["auth_login_url"], params=params)
    _assert_rejected(response, "lti_message_hint")


def test_auth_repeated_parameter(sandbox: SandboxServer, kit: Any) -> None:
    login = kit.login(sandbox.launch_url("seminar"))
    params = list(kit.auth_request(login, sandbox.config.tool_url).items())
    params.append(("nonce", "second"))
    response = kit.client.get(sandbox.info()["auth_login_url"], params=params)
    _assert_rejected(response, "nonce")


def test_auth_without_state_omits_it(sandbox: SandboxServer, kit: Any) -> None:
    login = kit.login(sandbox.launch_url("seminar"))
    params = kit.auth_request(login, sandbox.config.tool_url, state=None)
    response = kit.client.post(sandbox.info()["auth_login_url"], data=params)
    assert response.status_code == 200
    assert set(kit.parse_forms(response.text).forms[0]["inputs"]) == {"id_token"}


def test_stats_count_launches(sandbox: SandboxServer, kit: Any) -> None:
    before = sandbox.stats
    kit.login(sandbox.launch_url("seminar"))
    kit.client.get(sandbox.info()["auth_login_url"])
    after = sandbox.stats
    assert after["launch_requests"] == before["launch_requests"] + 1
    assert after["auth_requests"] == before["auth_requests"] + 1
