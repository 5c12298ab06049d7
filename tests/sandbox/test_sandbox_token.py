"""Token endpoint: RFC 6749 client_credentials + RFC 7523 client assertion, strictly."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from nrps_nb.sandbox import CourseSpec, SandboxConfig, SandboxServer

COURSES = (CourseSpec("c1", "C1", "C 1", 10),)


def test_good_assertion_gets_a_token(sandbox: SandboxServer, kit: Any) -> None:
    before = sandbox.stats["token_requests"]
    response = kit.post_token(sandbox, kit.token_form(kit.assertion(sandbox)))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == kit.NRPS_SCOPE
    assert len(body["access_token"]) >= 32 and "." not in body["access_token"]  # opaque
    assert sandbox.stats["token_requests"] == before + 1


def test_other_rsa_algorithms(static_sandbox: SandboxServer, kit: Any) -> None:
    unpinned = {k: v for k, v in kit.tool_key.public_jwk().items() if k != "alg"}
    config = SandboxConfig(tool_url="http://127.0.0.1:9", tool_jwk=unpinned, courses=COURSES)
    with SandboxServer(config) as srv:
        for alg in ("RS256", "RS384", "RS512"):
            form = kit.token_form(kit.assertion(srv, alg=alg))
            assert kit.post_token(srv, form).status_code == 200, alg
    # The registered JWK pins RS256, so RS512 with the same key is refused.
    form = kit.token_form(kit.assertion(static_sandbox, alg="RS512"))
    _error(kit.post_token(static_sandbox, form), 401, "invalid_client", "RS512", "RS256")


def test_audience_array_and_all_granted_scopes(sandbox: SandboxServer, kit: Any) -> None:
    token_url = sandbox.info()["auth_token_url"]
    assertion = kit.assertion(sandbox, claims={"aud": ["https://other.example", token_url]})
    scope = " ".join([kit.NRPS_SCOPE, *kit.AGS_SCOPES])
    response = kit.post_token(sandbox, kit.token_form(assertion, scope))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == scope


def _error(response: Any, status: int, error: str, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    for word in words:
        assert word in body["error_description"], body


def _none_alg(srv: SandboxServer, kit: Any) -> str:
    claims = jwt.decode(kit.assertion(srv), options={"verify_signature": False})
    header = kit.b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": "tool-key-1"}).encode())
    return f"{header}.{kit.b64url(json.dumps(claims).encode())}."


def _hs256(srv: SandboxServer, kit: Any) -> str:
    claims = jwt.decode(kit.assertion(srv), options={"verify_signature": False})
    return jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"kid": "tool-key-1"})


def _now() -> int:
    return int(time.time())


BAD_ASSERTIONS = {
    "wrong key": (lambda s, k: k.assertion(s, k.other_key, kid="tool-key-1"), "signature"),
    "unknown kid": (lambda s, k: k.assertion(s, k.other_key), "tool-key-2"),
    "no kid": (lambda s, k: k.assertion(s, kid=None), "kid"),
    "alg none": (_none_alg, "none"),
    "alg HS256": (_hs256, "HS256"),
    "iss": (lambda s, k: k.assertion(s, claims={"iss": "other"}), "'iss'"),
    "sub": (lambda s, k: k.assertion(s, claims={"sub": "other"}), "'sub'"),
    "aud": (lambda s, k: k.assertion(s, claims={"aud": s.base_url}), "'aud'"),
    "aud missing": (lambda s, k: k.assertion(s, drop=("aud",)), "'aud'"),
    "expired": (
        lambda s, k: k.assertion(s, claims={"iat": _now() - 400, "exp": _now() - 100}),
        "expired",
    ),
    "exp too far": (lambda s, k: k.assertion(s, claims={"exp": _now() + 600}), "300"),
    "exp missing": (lambda s, k: k.assertion(s, drop=("exp",)), "'exp'"),
    "iat future": (
        lambda s, k: k.assertion(s, claims={"iat": _now() + 120, "exp": _now() + 180}),
        "'iat'",
    ),
    "iat missing": (lambda s, k: k.assertion(s, drop=("iat",)), "'iat'"),
    "jti missing": (lambda s, k: k.assertion(s, drop=("jti",)), "'jti'"),
    "jti empty": (lambda s, k: k.assertion(s, claims={"jti": ""}), "'jti'"),
}


@pytest.mark.parametrize("case", sorted(BAD_ASSERTIONS))
def test_bad_assertion_is_invalid_client(sandbox: SandboxServer, kit: Any, case: str) -> None:
    make, word = BAD_ASSERTIONS[case]
    response = kit.post_token(sandbox, kit.token_form(make(sandbox, kit)))
    _error(response, 401, "invalid_client", word)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_replayed_jti(sandbox: SandboxServer, kit: Any) -> None:
    assertion = kit.assertion(sandbox)
    assert kit.post_token(sandbox, kit.token_form(assertion)).status_code == 200
    _error(kit.post_token(sandbox, kit.token_form(assertion)), 401, "invalid_client", "replayed")
    # A fresh assertion that reuses the jti is a replay too.
    jti = jwt.decode(assertion, options={"verify_signature": False})["jti"]
    again = kit.assertion(sandbox, claims={"jti": jti})
    _error(kit.post_token(sandbox, kit.token_form(again)), 401, "invalid_client", "replayed")


BAD_REQUESTS = {
    "grant_type": ({"grant_type": "authorization_code"}, "unsupported_grant_type", "grant_type"),
    "grant_type missing": ({"grant_type": None}, "invalid_request", "grant_type"),
    "assertion type": (
        {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
        "invalid_request",
        "client_assertion_type",
    ),
    "assertion missing": ({"client_assertion": None}, "invalid_request", "client_assertion"),
    "not a jwt": ({"client_assertion": "abc"}, "invalid_request", "JWS"),
    "ungranted scope": (
        {"scope": "https://purl.imsglobal.org/spec/lti-ags/scope/score"},
        "invalid_scope",
        "lti-ags/scope/score",
    ),
    "partly ungranted scope": (
        {"scope": "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly x"},
        "invalid_scope",
        "x",
    ),
    "scope missing": ({"scope": None}, "invalid_scope", "scope"),
    "scope empty": ({"scope": ""}, "invalid_scope", "scope"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_token_request(sandbox: SandboxServer, kit: Any, case: str) -> None:
    changes, error, word = BAD_REQUESTS[case]
    form = kit.token_form(kit.assertion(sandbox))
    for name, value in changes.items():
        if value is None:
            form.pop(name)
        else:
            form[name] = value
    _error(kit.post_token(sandbox, form), 400, error, word)


def test_client_id_parameter_must_match(sandbox: SandboxServer, kit: Any) -> None:
    form = kit.token_form(kit.assertion(sandbox), client_id="other")
    _error(kit.post_token(sandbox, form), 401, "invalid_client", "client_id")
    form = kit.token_form(kit.assertion(sandbox), client_id=kit.CLIENT_ID)
    assert kit.post_token(sandbox, form).status_code == 200


def test_form_encoding_and_single_parameters(sandbox: SandboxServer, kit: Any) -> None:
    url = sandbox.info()["auth_token_url"]
    form = kit.token_form(kit.assertion(sandbox))
    _error(kit.client.post(url, json=form), 400, "invalid_request", "Content-Type")
    doubled = [*form.items(), ("scope", kit.NRPS_SCOPE)]
    response = kit.client.post(
        url,
        content="&".join(f"{k}={v}" for k, v in doubled).replace(":", "%3A").replace("/", "%2F"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _error(response, 400, "invalid_request", "repeated")
    assert kit.client.get(url).status_code == 405


def test_static_tool_jwk_needs_no_fetch(static_sandbox: SandboxServer, kit: Any) -> None:
    response = kit.post_token(static_sandbox, kit.token_form(kit.assertion(static_sandbox)))
    assert response.status_code == 200, response.text
    # Without a kid the single static key applies; a different kid is refused.
    no_kid = kit.assertion(static_sandbox, kid=None)
    assert kit.post_token(static_sandbox, kit.token_form(no_kid)).status_code == 200
    other = kit.assertion(static_sandbox, kit.other_key)
    _error(kit.post_token(static_sandbox, kit.token_form(other)), 401, "invalid_client", "kid")
    forged = kit.assertion(static_sandbox, kit.other_key, kid="tool-key-1")
    _error(
        kit.post_token(static_sandbox, kit.token_form(forged)), 401, "invalid_client", "signature"
    )
    assert static_sandbox.stats["tool_jwks_fetches"] == 0


@pytest.fixture
def rotating(kit: Any) -> Iterator[tuple[SandboxServer, Any]]:
    """A sandbox whose tool JWKS server we control, to rotate keys."""
    jwks = kit.start_jwks_server([kit.tool_key.public_jwk()])
    try:
        with SandboxServer(SandboxConfig(tool_url=jwks.url, courses=COURSES)) as srv:
            yield srv, jwks
    finally:
        jwks.stop()


def test_tool_jwks_cached_and_refetched_once_on_unknown_kid(
    rotating: tuple[SandboxServer, Any], kit: Any
) -> None:
    srv, jwks = rotating
    for _ in range(3):
        assert kit.post_token(srv, kit.token_form(kit.assertion(srv))).status_code == 200
    assert jwks.hits == 1 and srv.stats["tool_jwks_fetches"] == 1
    # The tool rotates to a new key: the unknown kid triggers exactly one refetch.
    new = kit.new_tool_key("tool-key-rotated")
    jwks.keys = [new.public_jwk()]
    response = kit.post_token(srv, kit.token_form(kit.assertion(srv, new)))
    assert response.status_code == 200, response.text
    assert jwks.hits == 2
    # A kid the tool does not publish: one refetch, then a refusal naming the kid.
    response = kit.post_token(srv, kit.token_form(kit.assertion(srv, kit.other_key)))
    _error(response, 401, "invalid_client", "tool-key-2", "JWKS")
    assert jwks.hits == 3


def test_tool_jwks_unreachable(kit: Any) -> None:
    jwks = kit.start_jwks_server([])
    url = jwks.url
    jwks.stop()  # nothing listens there any more
    with SandboxServer(SandboxConfig(tool_url=url, courses=COURSES)) as srv:
        response = kit.post_token(srv, kit.token_form(kit.assertion(srv)))
    _error(response, 401, "invalid_client", "cannot fetch", "/jwks.json")
