"""Every check of DESIGN §4, each with a token that fails it (and the good token that passes).

The platform's JWKS is served over loopback HTTP by a scripted server, so key fetching,
caching and the refetch-on-unknown-kid run for real.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from nrps_nb import Workspace
from nrps_nb.errors import (
    ExpiredToken,
    InvalidAudience,
    InvalidJWT,
    InvalidMessage,
    InvalidNonce,
    InvalidSignature,
    InvalidState,
    LaunchError,
    MissingClaim,
    UnknownDeployment,
    UnknownRegistration,
)
from nrps_nb.http import get_json, run_sync
from nrps_nb.jose import JwksCache
from nrps_nb.launch import CLAIM, NRPS_CLAIM, begin_login, store_launch

from .helpers import PlatformKey, Scripted, ThreadedApp, now, respond, scripted_server
from .launch_kit import CLIENT_ID, DEPLOYMENT, ISS, TOOL, LaunchKit, registered_platform


class Env(LaunchKit):
    """The launch kit with the platform's one key served at ``/jwks``."""

    def __init__(self, ws: Workspace, key: PlatformKey, script: Scripted, server: ThreadedApp):
        super().__init__(ws, script, server)
        self.key = key

    @property
    def jwks_fetches(self) -> int:
        return sum(1 for _m, uri, _h in self.script.requests if uri.startswith("/jwks"))


@pytest.fixture
def env(tmp_path: Any) -> Iterator[Env]:
    key = PlatformKey()
    script = Scripted()
    script.add("/jwks", respond(200, key.jwks()))
    with registered_platform(tmp_path / "ws", script) as (ws, server):
        yield Env(ws, key, script, server)


def test_good_launch_is_accepted_and_stored(env: Env) -> None:
    state, nonce = env.login()
    validated = env.validate(env.key.sign(env.claims(nonce)), state)
    launch = store_launch(env.ws.store, validated)
    assert launch.context_title == "Statistics"
    assert launch.course is not None
    assert launch.course.context_memberships_url.endswith("/ctx-1/memberships")
    assert env.ws.courses()["memberships_url"].tolist() == [launch.course.context_memberships_url]
    assert env.ws.launches()["context_id"].tolist() == ["ctx-1"]


def test_login_redirect_carries_every_oidc_parameter(env: Env) -> None:
    redirect = begin_login(
        env.ws.store,
        {
            "iss": ISS,
            "login_hint": "u 1",
            "target_link_uri": TOOL.launch_url,
            "client_id": CLIENT_ID,
            "lti_message_hint": "hint/+=?",
        },  # fmt: skip
        TOOL,
    )
    q = parse_qs(urlsplit(redirect).query)
    assert redirect.startswith(ISS + "/auth?")
    assert {k: v[0] for k, v in q.items() if k not in ("state", "nonce")} == {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": CLIENT_ID,
        "redirect_uri": TOOL.launch_url,
        "login_hint": "u 1",
        "lti_message_hint": "hint/+=?",
    }
    assert len(q["state"][0]) >= 32 and len(q["nonce"][0]) >= 32


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"iss": "https://other.example.edu"}, UnknownRegistration),
        ({"iss": ISS + "/"}, UnknownRegistration),
        ({"client_id": "someone-else"}, UnknownRegistration),
        ({"target_link_uri": "https://evil.example.com/launch"}, InvalidMessage),
        ({"login_hint": ""}, MissingClaim),
    ],
)
def test_login_initiation_fails_closed(env: Env, params: dict[str, str], error: type) -> None:
    base = {"iss": ISS, "login_hint": "u", "target_link_uri": TOOL.launch_url,
            "client_id": CLIENT_ID}  # fmt: skip
    with pytest.raises(error):
        begin_login(env.ws.store, {**base, **params}, TOOL)


Mutator = Callable[[Env, dict[str, Any]], None]


def _set(name: str, value: Any) -> Mutator:
    def mutate(_env: Env, claims: dict[str, Any]) -> None:
        claims[name] = value

    return mutate


def _drop(name: str) -> Mutator:
    def mutate(_env: Env, claims: dict[str, Any]) -> None:
        claims.pop(name, None)

    return mutate


CLAIM_CASES: list[tuple[str, Mutator, type[LaunchError], str]] = [
    ("iss unknown", _set("iss", "https://evil.example.com"), UnknownRegistration, "iss"),
    ("iss trailing slash", _set("iss", ISS + "/"), UnknownRegistration, "iss"),
    ("aud without client_id", _set("aud", "someone-else"), InvalidAudience, "aud"),
    ("aud wrong type", _set("aud", 42), InvalidAudience, "aud"),
    ("azp different", _set("azp", "someone-else"), InvalidAudience, "azp"),
    ("expired", _set("exp", now() - 3600), ExpiredToken, "expired"),
    ("exp missing", _drop("exp"), ExpiredToken, "exp"),
    ("exp wrong type", _set("exp", "tomorrow"), ExpiredToken, "exp"),
    ("iat missing", _drop("iat"), ExpiredToken, "iat"),
    ("iat in the future", _set("iat", now() + 3600), ExpiredToken, "iat"),
    ("nbf in the future", _set("nbf", now() + 3600), ExpiredToken, "nbf"),
    ("nonce missing", _drop("nonce"), InvalidNonce, "nonce"),
    ("nonce different", _set("nonce", "not-the-nonce"), InvalidNonce, "nonce"),
    ("deployment unknown", _set(CLAIM + "deployment_id", "dep-9"), UnknownDeployment, "dep-9"),
    ("deployment missing", _drop(CLAIM + "deployment_id"), MissingClaim, "deployment_id"),
    ("version wrong", _set(CLAIM + "version", "1.1"), InvalidMessage, "version"),
    (
        "message_type unknown",
        _set(CLAIM + "message_type", "LtiFooRequest"),
        InvalidMessage,
        "message_type",
    ),  # fmt: skip
    (
        "target_link_uri foreign",
        _set(CLAIM + "target_link_uri", "https://evil.example.com/"),
        InvalidMessage,
        "target_link_uri",
    ),  # fmt: skip
    ("resource_link missing", _drop(CLAIM + "resource_link"), MissingClaim, "resource_link"),
    (
        "resource_link.id missing",
        _set(CLAIM + "resource_link", {"title": "x"}),
        MissingClaim,
        "resource_link.id",
    ),  # fmt: skip
    ("roles missing", _drop(CLAIM + "roles"), MissingClaim, "roles"),
    ("roles wrong type", _set(CLAIM + "roles", "Instructor"), MissingClaim, "roles"),
    ("sub wrong type", _set("sub", 12345), MissingClaim, "sub"),
    ("context wrong type", _set(CLAIM + "context", ["ctx"]), MissingClaim, "context"),
    ("context.id missing", _set(CLAIM + "context", {"title": "x"}), MissingClaim, "context.id"),
    ("nrps claim wrong type", _set(NRPS_CLAIM, "url"), MissingClaim, "Names and Roles"),
]


@pytest.mark.parametrize(
    ("mutate", "error", "named"),
    [pytest.param(m, e, n, id=i) for i, m, e, n in CLAIM_CASES],
)
def test_each_claim_check_rejects(
    env: Env, mutate: Mutator, error: type[LaunchError], named: str
) -> None:
    state, nonce = env.login()
    claims = env.claims(nonce)
    mutate(env, claims)
    token = env.key.sign(claims)
    with pytest.raises(error) as info:
        env.validate(token, state)
    message = str(info.value)
    assert named in message
    assert token not in message and token[:40] not in message
    assert type(info.value) is error


def test_multiple_audiences_need_azp_and_trusted_audiences(env: Env) -> None:
    # An audience the tool does not know is refused, azp or not.
    for with_azp in (True, False):
        state, nonce = env.login()
        claims = env.claims(nonce)
        claims["aud"] = [CLIENT_ID, "another-tool"]
        if not with_azp:
            del claims["azp"]
        with pytest.raises(InvalidAudience, match="'another-tool', an audience this tool does"):
            env.validate(env.key.sign(claims), state)
    # The tool's own second registration at the same issuer is trusted; azp is then required.
    env.ws.add_platform("lms-2", issuer=ISS, client_id="tool-client-2",
                        auth_login_url=ISS + "/auth", auth_token_url=ISS + "/token",
                        key_set_url=env.server.base_url + "/jwks")  # fmt: skip
    state, nonce = env.login()
    claims = env.claims(nonce)
    claims["aud"] = [CLIENT_ID, "tool-client-2"]
    del claims["azp"]
    with pytest.raises(InvalidAudience, match="azp"):
        env.validate(env.key.sign(claims), state)
    state, nonce = env.login()
    claims = env.claims(nonce)
    claims["aud"] = [CLIENT_ID, "tool-client-2"]
    assert env.validate(env.key.sign(claims), state).claims["aud"][0] == CLIENT_ID


def test_leeway_accepts_small_clock_skew(env: Env) -> None:
    state, nonce = env.login()
    claims = env.claims(nonce)
    claims["iat"] = now() + 30
    claims["nbf"] = now() + 30
    claims["exp"] = now() - 30
    env.validate(env.key.sign(claims), state)


def test_state_unknown_reused_and_expired(env: Env) -> None:
    state, nonce = env.login()
    token = env.key.sign(env.claims(nonce))
    with pytest.raises(InvalidState):
        env.validate(token, "never-issued")
    with pytest.raises(InvalidState):
        env.validate(token, None)
    env.validate(token, state)
    with pytest.raises(InvalidState, match="already used"):
        env.validate(token, state)  # the replayed form post
    # expired: a state created with a negative TTL
    redirect = begin_login(
        env.ws.store,
        {
            "iss": ISS,
            "login_hint": "u",
            "target_link_uri": TOOL.launch_url,
            "client_id": CLIENT_ID,
        },  # fmt: skip
        TOOL,
        ttl=-1,
    )
    old_state = parse_qs(urlsplit(redirect).query)["state"][0]
    with pytest.raises(InvalidState, match="expired"):
        env.validate(token, old_state)


def test_replayed_nonce_is_rejected(env: Env) -> None:
    # Two logins that (as an attacker might arrange) carry the same nonce: the second use fails.
    for state in ("s-1", "s-2"):
        env.ws.store.create_login_state(
            state=state, nonce="shared-nonce", platform="lms", lti_deployment_id=None,
            target_link_uri=TOOL.launch_url, ttl=600,
        )  # fmt: skip
    token = env.key.sign(env.claims("shared-nonce"))
    env.validate(token, "s-1")
    with pytest.raises(InvalidNonce, match="used before"):
        env.validate(token, "s-2")


def test_deployment_must_match_the_login(env: Env) -> None:
    env.ws.store.add_deployment("lms", "dep-2")
    state, nonce = env.login(lti_deployment_id="dep-1")
    claims = env.claims(nonce)
    claims[CLAIM + "deployment_id"] = "dep-2"
    with pytest.raises(UnknownDeployment, match="lti_deployment_id"):
        env.validate(env.key.sign(claims), state)


def test_auto_deployments_register_with_a_warning(env: Env) -> None:
    p = env.ws.platform("lms")
    env.ws.add_platform(
        "lms", issuer=p.issuer, client_id=p.client_id, auth_login_url=p.auth_login_url,
        auth_token_url=p.auth_token_url, key_set_url=p.key_set_url, auto_deployments=True,
        replace=True,
    )  # fmt: skip
    # A launch that fails a later check (here the version) leaves the registration alone.
    for broken in ({CLAIM + "version": "1.1"}, {CLAIM + "roles": "Instructor"}):
        state, nonce = env.login(lti_deployment_id="dep-new")
        claims = {**env.claims(nonce), CLAIM + "deployment_id": "dep-new", **broken}
        with pytest.raises((InvalidMessage, MissingClaim)):
            env.validate(env.key.sign(claims), state)
        assert "dep-new" not in env.ws.platform("lms").deployment_ids
    state, nonce = env.login(lti_deployment_id="dep-new")
    claims = env.claims(nonce)
    claims[CLAIM + "deployment_id"] = "dep-new"
    validated = env.validate(env.key.sign(claims), state)
    assert any("dep-new" in w for w in validated.warnings)
    assert "dep-new" in env.ws.platform("lms").deployment_ids


def test_claim_type_errors_say_what_was_received(env: Env) -> None:
    state, nonce = env.login()
    claims = {**env.claims(nonce), CLAIM + "roles": "Instructor"}
    with pytest.raises(MissingClaim, match="got str 'Instructor'"):
        env.validate(env.key.sign(claims), state)


def test_names_and_roles_claim_without_service_versions_warns(env: Env) -> None:
    state, nonce = env.login()
    claims = env.claims(nonce)
    del claims[NRPS_CLAIM]["service_versions"]
    validated = env.validate(env.key.sign(claims), state)
    assert any("no service_versions" in w for w in validated.warnings)


@pytest.mark.parametrize(
    ("make_token", "error"),
    [
        pytest.param(lambda e, c: "not-a-jwt", InvalidJWT, id="not a JWT"),
        pytest.param(lambda e, c: "a.b.c", InvalidJWT, id="garbage parts"),
        pytest.param(
            lambda e, c: jwt.encode(c, key=None, algorithm="none"), InvalidJWT, id="alg none"
        ),  # fmt: skip
        pytest.param(
            lambda e, c: jwt.encode(c, "secret-secret-secret-secret-secret!", algorithm="HS256"),
            InvalidJWT,
            id="HS256",
        ),
        pytest.param(lambda e, c: "x" * 70_000, InvalidJWT, id="oversized"),
        pytest.param(
            lambda e, c: PlatformKey(kid=e.key.kid).sign(c),
            InvalidSignature,
            id="right kid, wrong key",
        ),  # fmt: skip
        pytest.param(
            lambda e, c: PlatformKey(kid="unknown-kid").sign(c), InvalidSignature, id="unknown kid"
        ),  # fmt: skip
    ],
)
def test_shape_alg_and_signature(
    env: Env, make_token: Callable[[Env, dict[str, Any]], str], error: type[LaunchError]
) -> None:
    state, nonce = env.login()
    with pytest.raises(error):
        env.validate(make_token(env, env.claims(nonce)), state)


def test_hs256_signed_with_the_public_key_is_rejected(env: Env) -> None:
    # The classic algorithm-confusion forgery: HMAC keyed with the platform's public key.
    state, nonce = env.login()
    public_pem = env.key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "kid": env.key.kid}).encode())
    payload = b64(json.dumps(env.claims(nonce)).encode())
    sig = b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    with pytest.raises(InvalidJWT, match="HS256"):
        env.validate(f"{header}.{payload}.{sig}", state)


def test_unknown_kid_refetches_once_then_rejects(env: Env) -> None:
    state, nonce = env.login()
    env.validate(env.key.sign(env.claims(nonce)), state)
    assert env.jwks_fetches == 1
    state, nonce = env.login()
    with pytest.raises(InvalidSignature, match="no key with kid"):
        env.validate(PlatformKey(kid="rotated").sign(env.claims(nonce)), state)
    assert env.jwks_fetches == 2  # refetched exactly once
    state, nonce = env.login()
    with pytest.raises(InvalidSignature):
        env.validate(PlatformKey(kid="rotated-2").sign(env.claims(nonce)), state)
    assert env.jwks_fetches == 2  # rate-limited: no refetch storm


def test_key_rotation_is_accepted(env: Env) -> None:
    state, nonce = env.login()
    env.validate(env.key.sign(env.claims(nonce)), state)
    new_key = PlatformKey(kid="next-month")
    env.script.routes["/jwks"] = [respond(200, {"keys": [env.key.jwk(), new_key.jwk()]})]
    state, nonce = env.login()
    env.validate(new_key.sign(env.claims(nonce)), state)
    assert env.jwks_fetches == 2


def test_no_kid_needs_a_one_key_set(env: Env) -> None:
    state, nonce = env.login()
    token = jwt.encode(env.claims(nonce), env.key.private, algorithm="RS256")
    env.validate(token, state)  # one key: accepted
    other = PlatformKey(kid="second")
    env.script.routes["/jwks"] = [respond(200, {"keys": [env.key.jwk(), other.jwk()]})]
    env.jwks = JwksCache(fetch=get_json)
    state, nonce = env.login()
    token = jwt.encode(env.claims(nonce), env.key.private, algorithm="RS256")
    with pytest.raises(InvalidSignature, match="no kid"):
        env.validate(token, state)


_WEAK = PlatformKey(kid="weak", bits=1024)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(respond(500, b"oops"), "HTTP 500", id="500"),
        pytest.param(
            respond(200, b"<html>login</html>", {"Content-Type": "text/html"}), "JSON", id="html"
        ),
        pytest.param(respond(200, {}), "no usable key", id="empty object"),
        pytest.param(respond(200, {"keys": []}), "no usable key", id="no keys"),
        pytest.param(respond(200, _WEAK.jwks()), "1024 bits", id="1024-bit key"),
    ],
)
def test_bad_platform_key_sets_are_rejected(env: Env, answer: Any, reason: str) -> None:
    env.script.routes["/jwks"] = [answer]
    state, nonce = env.login()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about signing with a 1024-bit key
        token = _WEAK.sign(env.claims(nonce))
    with pytest.raises(InvalidSignature, match=reason):
        env.validate(token, state)


def test_static_platform_key(env: Env, tmp_path: Any) -> None:
    ws = Workspace(tmp_path / "static")
    ws.add_platform(
        "lms", issuer=ISS, client_id=CLIENT_ID, auth_login_url=ISS + "/auth",
        auth_token_url=ISS + "/token", platform_key=env.key.jwk(), deployment_ids=[DEPLOYMENT],
    )  # fmt: skip
    env.ws = ws
    state, nonce = env.login()
    env.validate(env.key.sign(env.claims(nonce)), state)
    assert env.jwks_fetches == 0
    state, nonce = env.login()
    with pytest.raises(InvalidSignature):
        env.validate(PlatformKey(kid=env.key.kid).sign(env.claims(nonce)), state)


def test_time_checks_use_the_given_clock(env: Env) -> None:
    state, nonce = env.login()
    token = env.key.sign(env.claims(nonce))
    with pytest.raises(ExpiredToken):
        env.validate(token, state, now=time.time() + 10_000)


@pytest.mark.parametrize(
    ("headers", "lifetime"),
    [
        ({"Cache-Control": "public, max-age=600"}, 600.0),
        ({"Cache-Control": 'max-age="120", must-revalidate'}, 120.0),
        ({"Cache-Control": "no-store"}, 0.0),
        ({"Cache-Control": "private, no-cache"}, 0.0),
        ({"Cache-Control": "max-age=soon"}, None),
        ({"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0.0),
        ({"Expires": "not a date"}, 0.0),
        ({}, None),
    ],
)
def test_cache_lifetime_of_a_response(headers: dict[str, str], lifetime: float | None) -> None:
    import httpx

    from nrps_nb.http import cache_lifetime

    assert cache_lifetime(httpx.Headers(headers)) == lifetime


def test_cache_lifetime_from_a_future_expires() -> None:
    import email.utils

    import httpx

    from nrps_nb.http import cache_lifetime

    t = 1_800_000_000.0
    expires = email.utils.formatdate(t + 900, usegmt=True)
    assert cache_lifetime(httpx.Headers({"Expires": expires}), now=t) == 900.0


@pytest.mark.parametrize(
    ("cache_control", "ttl"),
    [("max-age=600", 600.0), ("max-age=9999999", 86400.0), ("no-cache", 10.0), (None, 3600.0)],
)
def test_platform_key_sets_are_cached_as_their_headers_say(
    cache_control: str | None, ttl: float
) -> None:
    """CHECKLIST §2.11: respect HTTP caching, at most a day (and at least the refetch interval,
    so that a no-cache key set cannot turn every launch into a fetch)."""
    from nrps_nb.http import get_json_cached

    key = PlatformKey()
    script = Scripted()
    headers = {"Cache-Control": cache_control} if cache_control else None
    script.add("/jwks", respond(200, key.jwks(), headers))
    with scripted_server(script) as server:
        cache = JwksCache(fetch=get_json_cached)
        url = server.base_url + "/jwks"
        run_sync(cache.get_key(url, key.kid))
        run_sync(cache.get_key(url, key.kid))  # within the lifetime: no second fetch
    assert cache._entries[url].ttl == ttl
    assert sum(1 for _m, path, _h in script.requests if path == "/jwks") == 1


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value",
    [10**400, -(10**400), float("inf"), float("-inf"), float("nan"), 2**60, "1700000000"],
    ids=["huge-int", "huge-negative", "inf", "-inf", "nan", "2^60", "string"],
)
def test_numeric_dates_must_be_finite_numbers(env: Env, claim: str, value: object) -> None:
    """JSON allows 1e400 (infinity), NaN and integers too big for a float: each is refused by
    name, never a crash, a token that never expires or a misreported nonce."""
    state, nonce = env.login()
    claims = {**env.claims(nonce), claim: value}
    with pytest.raises(ExpiredToken, match=f"'{claim}' must be a NumericDate"):
        env.validate(env.key.sign(claims), state)


def test_a_foreign_target_link_says_which_uri_to_register(env: Env) -> None:
    state, nonce = env.login()
    claims = {**env.claims(nonce), CLAIM + "target_link_uri": "https://evil.example.com/"}
    with pytest.raises(InvalidMessage) as info:
        env.validate(env.key.sign(claims), state)
    assert info.value.remedy == f"Set the target link URI in the LMS to {TOOL.target_link_uri}."


@pytest.mark.parametrize(
    ("url", "owned"),
    [
        (TOOL.launch_url, True),
        (TOOL.base + "/launch?x=1", True),
        (TOOL.base + "/../../api/contents", False),
        (TOOL.base + "/%2e%2e/x", False),
        (TOOL.base + "/./launch", False),
        (TOOL.base + "-evil/launch", False),
        ("https://evil.example.com/launch", False),
    ],
)
def test_tool_urls_own_only_what_is_under_their_base(url: str, owned: bool) -> None:
    assert TOOL.owns(url) is owned
