"""Edge paths that no other test pins down: token refresh margin, login without client_id,
empty pages with a next link, de-duplication across pages, the id_token algorithm allow-list,
the clock-skew leeway, DESIGN §4's check order, and capture_launch's window.

Platforms are real loopback servers (scripted ones, or the sandbox LMS); nothing is mocked.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from nrps_nb import Platform, Workspace
from nrps_nb.demo import drive_launch
from nrps_nb.errors import (
    ExpiredToken,
    InvalidAudience,
    InvalidNonce,
    InvalidSignature,
    LaunchTimeout,
    UnknownRegistration,
)
from nrps_nb.http import run_sync
from nrps_nb.launch import CLAIM, begin_login
from nrps_nb.oauth import NRPS_SCOPE, clear_token_cache, get_access_token, token_request_count
from nrps_nb.sandbox import SandboxServer
from nrps_nb.workspace import CAPTURE_WINDOW

from .helpers import (
    PlatformKey,
    Scripted,
    add_scripted_platform,
    now,
    respond,
    scripted_server,
)
from .launch_kit import CLIENT_ID, TOOL, LaunchKit, registered_platform


def _token_posts(script: Scripted) -> list[str]:
    return [uri for method, uri, _h in script.requests if method == "POST" and uri == "/token"]


def _gets(script: Scripted) -> list[str]:
    return [uri for method, uri, _h in script.requests if method == "GET"]


# -- 1. access tokens are refreshed shortly before they expire -------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "token_requests"),
    [
        pytest.param(30, 2, id="inside the 60 s refresh margin: refreshed"),
        pytest.param(120, 1, id="outside the margin: cached"),
        pytest.param(3600, 1, id="an hour: cached"),
    ],
)
def test_token_is_refreshed_inside_the_margin_before_expiry(
    ws: Workspace, expires_in: int, token_requests: int
) -> None:
    clear_token_cache()
    script = Scripted()
    script.add(
        "/token",
        respond(200, {"access_token": "first", "token_type": "Bearer", "expires_in": expires_in}),
        respond(200, {"access_token": "second", "token_type": "Bearer", "expires_in": expires_in}),
    )
    script.add("/m", respond(200, {"members": [{"user_id": "a", "roles": ["Learner"]}]}))
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        before = token_request_count()
        for _ in range(2):
            df = ws.fetch_roster(server.base_url + "/m", platform="lms")
            assert df["user_id"].tolist() == ["a"]
    assert len(_token_posts(script)) == token_requests
    assert token_request_count() - before == token_requests
    bearers = [h.get("Authorization") for m, uri, h in script.requests if uri == "/m"]
    expected_second = "Bearer second" if token_requests == 2 else "Bearer first"
    assert bearers == ["Bearer first", expected_second]


def test_a_token_near_expiry_is_not_handed_out_again(ws: Workspace) -> None:
    """The cache itself (no roster fetch): a token with 30 s left is never returned twice."""
    clear_token_cache()
    script = Scripted()
    script.add(
        "/token",
        respond(200, {"access_token": "one", "expires_in": 30}),
        respond(200, {"access_token": "two", "expires_in": 3600}),
    )
    with scripted_server(script) as server:
        platform = add_scripted_platform(ws, server)
        first = run_sync(get_access_token(platform, ws.key, [NRPS_SCOPE]))
        second = run_sync(get_access_token(platform, ws.key, [NRPS_SCOPE]))
        third = run_sync(get_access_token(platform, ws.key, [NRPS_SCOPE]))
    assert (first.value, second.value, third.value) == ("one", "two", "two")
    assert not first.fresh and second.fresh
    assert len(_token_posts(script)) == 2


# -- 2. login initiation without client_id: the registration by iss alone -------------------------


def _login_params(iss: str, **extra: str) -> dict[str, str]:
    return {"iss": iss, "login_hint": "user-1", "target_link_uri": TOOL.launch_url, **extra}


def test_login_without_client_id_finds_the_only_registration(ws: Workspace) -> None:
    ws.add_platform("only", issuer="https://one.example.edu", client_id="cid-1",
                    auth_login_url="https://one.example.edu/auth",
                    auth_token_url="https://one.example.edu/token",
                    key_set_url="https://one.example.edu/jwks")  # fmt: skip
    redirect = begin_login(ws.store, _login_params("https://one.example.edu"), TOOL)
    assert redirect.startswith("https://one.example.edu/auth?")
    query = parse_qs(urlsplit(redirect).query)
    assert query["client_id"] == ["cid-1"]
    state = query["state"][0]
    login = ws.store.consume_login_state(state)
    assert login is not None and login["platform"] == "only"


def test_login_without_client_id_is_refused_when_the_issuer_is_ambiguous(ws: Workspace) -> None:
    iss = "https://shared.example.edu"
    for name, cid in (("first", "cid-a"), ("second", "cid-b")):
        ws.add_platform(name, issuer=iss, client_id=cid, auth_login_url=f"{iss}/auth/{name}",
                        auth_token_url=f"{iss}/token", key_set_url=f"{iss}/jwks")  # fmt: skip
    with pytest.raises(UnknownRegistration) as info:
        begin_login(ws.store, _login_params(iss), TOOL)
    message = str(info.value)
    assert type(info.value) is UnknownRegistration
    assert "2 platforms share issuer" in message and iss in message
    assert "no client_id" in message and "send client_id" in message
    # With client_id the same login is unambiguous.
    redirect = begin_login(ws.store, _login_params(iss, client_id="cid-b"), TOOL)
    assert redirect.startswith(f"{iss}/auth/second?")
    assert parse_qs(urlsplit(redirect).query)["client_id"] == ["cid-b"]


# -- 3. an empty page with a next link ends the fetch ---------------------------------------------


def _empty_page_platform() -> Scripted:
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t", "expires_in": 3600}))
    script.add("/m", respond(200, {"members": [{"user_id": "a"}, {"user_id": "b"}]},
                             {"Link": '</m2>; rel="next"'}))  # fmt: skip
    script.add("/m2", respond(200, {"members": []}, {"Link": '</m3>; rel="next"'}))
    script.add("/m3", respond(200, {"members": [{"user_id": "never"}]}))
    return script


def test_empty_page_with_a_next_link_stops_with_a_warning(ws: Workspace) -> None:
    script = _empty_page_platform()
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        df = ws.fetch_roster(server.base_url + "/m", platform="lms")
    assert df["user_id"].tolist() == ["a", "b"]  # page 3's member is not in the roster
    assert df.attrs["pages"] == 2
    assert df.attrs["complete"] is True
    assert "page 2 was empty but had a next link; stopped there" in df.attrs["warnings"]
    assert df.attrs["differences_url"] is None


def test_empty_page_with_a_next_link_follows_no_further(ws: Workspace) -> None:
    """Pages are prefetched (the next request goes out while a page is parsed), so the page
    after the empty one may be requested once, on the same origin; nothing beyond it is, and
    its members are dropped."""
    script = _empty_page_platform()
    script.routes["/m3"] = [
        respond(200, {"members": [{"user_id": "never"}]}, {"Link": '</m4>; rel="next"'})
    ]
    script.add("/m4", respond(200, {"members": [{"user_id": "never-either"}]}))
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        df = ws.fetch_roster(server.base_url + "/m", platform="lms")
    assert _gets(script)[:2] == ["/m", "/m2"]
    assert "/m4" not in _gets(script)
    assert set(df["user_id"]) == {"a", "b"}


# -- 4. a member seen again on a later page: the later entry wins ---------------------------------


def test_duplicate_member_across_pages_keeps_the_later_entry(ws: Workspace) -> None:
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t", "expires_in": 3600}))
    page1 = {"members": [
        {"user_id": "u1", "name": "Old", "roles": ["Learner"]},
        {"user_id": "u2", "name": "Other", "roles": ["Learner"]},
    ]}  # fmt: skip
    page2 = {"members": [{"user_id": "u1", "name": "New", "roles": ["Instructor"]}]}
    script.add("/m", respond(200, page1, {"Link": '</m2>; rel="next"'}))
    script.add("/m2", respond(200, page2))
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        df = ws.fetch_roster(server.base_url + "/m", platform="lms")
    assert df["user_id"].tolist() == ["u1", "u2"]  # one row for u1, at its first position
    row = df.set_index("user_id").loc["u1"]
    assert row["name"] == "New"
    assert row["role"] == "Instructor"
    assert bool(row["is_instructor"]) and not bool(row["is_learner"])
    assert list(row["roles"]) == ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
    assert "1 duplicate members across pages were merged by user_id" in df.attrs["warnings"]
    assert df.attrs["pages"] == 2


# -- id_token launches (5-7): a platform JWKS served over loopback --------------------------------


class EcPlatformKey:
    """A P-256 platform key that signs id_tokens with ES256."""

    def __init__(self, kid: str | None = None) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.kid = kid or uuid.uuid4().hex[:12]

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        return jwk

    def sign(self, claims: dict[str, Any], *, alg: str = "ES256") -> str:
        return jwt.encode(claims, self.private, algorithm=alg, headers={"kid": self.kid})


class LaunchEnv(LaunchKit):
    """The launch kit with no platform key yet: each test serves the keys it needs."""

    def serve_keys(self, *jwks: dict[str, Any]) -> None:
        self.script.routes["/jwks"] = [respond(200, {"keys": list(jwks)})]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[LaunchEnv]:
    script = Scripted()
    with registered_platform(tmp_path / "launch-ws", script) as (ws, server):
        yield LaunchEnv(ws, script, server)


# -- 5. the algorithm allow-list: RS256, RS384, RS512 (Blackboard), ES256 ---------------------------


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_rsa_id_tokens_of_every_allowed_size_are_accepted(env: LaunchEnv, alg: str) -> None:
    key = PlatformKey()
    jwk = key.jwk()
    jwk["alg"] = alg
    env.serve_keys(jwk)
    state, nonce = env.login()
    token = key.sign(env.claims(nonce), alg=alg)
    assert jwt.get_unverified_header(token)["alg"] == alg
    validated = env.validate(token, state)
    assert validated.claims["nonce"] == nonce
    assert validated.claims[CLAIM + "context"]["id"] == "ctx-1"


def test_es256_id_token_is_accepted(env: LaunchEnv) -> None:
    key = EcPlatformKey()
    env.serve_keys(key.jwk())
    state, nonce = env.login()
    validated = env.validate(key.sign(env.claims(nonce)), state)
    assert validated.claims["nonce"] == nonce
    # ...and the same key's signature over other claims does not pass as someone else's.
    state, nonce = env.login()
    with pytest.raises(InvalidSignature):
        env.validate(EcPlatformKey(kid=key.kid).sign(env.claims(nonce)), state)


def test_es256_header_with_an_rsa_platform_key_is_rejected(env: LaunchEnv) -> None:
    rsa_key = PlatformKey()
    env.serve_keys(rsa_key.jwk())
    forged = EcPlatformKey(kid=rsa_key.kid)
    state, nonce = env.login()
    with pytest.raises(InvalidSignature, match="needs an EC key"):
        env.validate(forged.sign(env.claims(nonce)), state)


# -- 6. the clock-skew leeway (DEFAULT_LEEWAY = 60 s) ----------------------------------------------


@pytest.mark.parametrize(
    ("claim", "offset", "accepted"),
    [
        pytest.param("iat", +50, True, id="iat 50 s ahead"),
        pytest.param("iat", +90, False, id="iat 90 s ahead"),
        pytest.param("exp", -50, True, id="exp 50 s ago"),
        pytest.param("exp", -90, False, id="exp 90 s ago"),
    ],
)
def test_leeway_is_sixty_seconds(env: LaunchEnv, claim: str, offset: int, accepted: bool) -> None:
    key = PlatformKey()
    env.serve_keys(key.jwk())
    state, nonce = env.login()
    claims = env.claims(nonce)
    claims[claim] = now() + offset
    token = key.sign(claims)
    if accepted:
        assert env.validate(token, state).claims[claim] == claims[claim]
        return
    with pytest.raises(ExpiredToken) as info:
        env.validate(token, state)
    message = str(info.value)
    assert (
        ("expired" in message) if claim == "exp" else ("'iat'" in message and "future" in message)
    )


# -- 7. DESIGN §4 order: the first failing check is the one reported ------------------------------


def test_signature_is_checked_before_expiry(env: LaunchEnv) -> None:
    key = PlatformKey()
    env.serve_keys(key.jwk())
    state, nonce = env.login()
    claims = env.claims(nonce)
    claims["exp"] = now() - 3600
    claims["iat"] = now() - 3900
    badly_signed = PlatformKey(kid=key.kid).sign(claims)  # right kid, another key
    with pytest.raises(InvalidSignature) as info:
        env.validate(badly_signed, state)
    assert type(info.value) is InvalidSignature
    assert "expired" not in str(info.value)
    # The same claims signed correctly fail on expiry: the token above really was both.
    state, nonce = env.login()
    claims["nonce"] = nonce
    with pytest.raises(ExpiredToken):
        env.validate(key.sign(claims), state)


def _foreign_audience(claims: dict[str, Any]) -> None:
    claims["aud"] = claims["azp"] = "another-tool"


def _expired(claims: dict[str, Any]) -> None:
    claims["exp"] = now() - 3600


def _fixed(claims: dict[str, Any]) -> None:
    claims["aud"] = claims["azp"] = CLIENT_ID
    claims["exp"] = now() + 300


@pytest.mark.parametrize(
    ("spoil", "error", "named"),
    [(_foreign_audience, InvalidAudience, "'aud'"), (_expired, ExpiredToken, "expired")],
    ids=["audience", "expiry"],
)
def test_claim_checks_come_before_the_nonce(
    env: LaunchEnv, spoil: Any, error: type[Exception], named: str
) -> None:
    """A token with a wrong nonce and a wrong aud (or exp) is reported for the latter."""
    key = PlatformKey()
    env.serve_keys(key.jwk())
    state, _nonce = env.login()
    claims = env.claims("not-the-nonce-of-this-login")
    spoil(claims)
    with pytest.raises(error) as info:
        env.validate(key.sign(claims), state)
    assert type(info.value) is error
    assert named in str(info.value) and "nonce" not in str(info.value)
    # With that claim fixed, the same token fails on its nonce: it really was both.
    state, _nonce = env.login()
    _fixed(claims)
    with pytest.raises(InvalidNonce):
        env.validate(key.sign(claims), state)


# -- 8. capture_launch only claims launches of the last CAPTURE_WINDOW seconds --------------------


def _age_launch(ws: Workspace, launch_id: int, seconds: float) -> None:
    with ws.store.transaction() as con:
        con.execute(
            "UPDATE launches SET received_at = ? WHERE id = ?", (time.time() - seconds, launch_id)
        )


def _latest_launch_id(ws: Workspace) -> int:
    return int(ws.launches()["launch_id"].max())


def test_capture_launch_ignores_launches_older_than_the_window(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    assert CAPTURE_WINDOW == 600.0
    drive_launch(sandbox.launch_url("seminar"))
    stale = _latest_launch_id(ws)
    _age_launch(ws, stale, CAPTURE_WINDOW + 60)
    with pytest.raises(LaunchTimeout, match="no launch arrived"):
        ws.capture_launch(timeout=0.5)
    launches = ws.launches().set_index("launch_id")
    assert not bool(launches.loc[stale, "claimed"])  # still there, just too old to capture

    drive_launch(sandbox.launch_url("intro-stats"))  # a fresh one is captured
    fresh = _latest_launch_id(ws)
    launch = ws.capture_launch(timeout=5)
    assert launch.id == fresh and launch.id != stale
    assert launch.context_title == "Introduction to Statistics"

    drive_launch(sandbox.launch_url("seminar"))  # an older one still inside the window
    recent = _latest_launch_id(ws)
    _age_launch(ws, recent, CAPTURE_WINDOW - 60)
    assert ws.capture_launch(timeout=5).id == recent
    with pytest.raises(LaunchTimeout):  # and the stale one never comes back
        ws.capture_launch(timeout=0.5)
