"""OAuth 2.0 token endpoint: client_credentials with an RFC 7523 JWT client assertion."""

from __future__ import annotations

import json
from typing import Any

import jwt
from jwt import api_jws

from .base import BaseHandler
from .state import ACCESS_TOKEN_LIFETIME, Platform
from .toolkeys import ToolKeyError
from .vocab import ASSERTION_ALGORITHMS, CLIENT_ASSERTION_TYPE, GRANTED_SCOPES

MAX_ASSERTION_LIFETIME = 300
LEEWAY = 5
MAX_IAT_FUTURE = 60
_FORM_TYPE = "application/x-www-form-urlencoded"


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def _client_error(description: str) -> OAuthError:
    # RFC 7523 §3.2: a client assertion that does not validate is "invalid_client"; 401 as
    # RFC 6749 §5.2 allows when the client tried to authenticate. A profile may answer its
    # platform's way instead (TokenHandler.post).
    return OAuthError("invalid_client", description, 401)


def _int_claim(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if value is None:
        raise _client_error(f"the assertion has no '{name}' claim")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _client_error(f"the '{name}' claim must be a NumericDate, got {value!r}")
    return int(value)


class AssertionVerifier:
    """Checks a client assertion the way a strict LMS does, one named failure at a time."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def verify(self, assertion: str, now: float) -> dict[str, Any]:
        """The verified claims, or ``OAuthError``."""
        p = self.platform
        client_id = p.config.client_id
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError as exc:
            raise OAuthError("invalid_request", f"client_assertion is not a JWS: {exc}") from exc
        alg = header.get("alg")
        if alg not in ASSERTION_ALGORITHMS:
            raise _client_error(
                f"alg {alg!r} is not allowed; use one of {', '.join(ASSERTION_ALGORITHMS)}"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _client_error("the 'kid' header must be a string")
        try:
            key = await p.tool_keys.key_for(kid)
        except ToolKeyError as exc:
            raise _client_error(str(exc)) from exc
        if key.alg is not None and key.alg != alg:
            raise _client_error(f"alg {alg!r} does not match the registered key's alg {key.alg!r}")
        try:
            # Signature only: every claim is checked below with its own message.
            decoded = api_jws.decode_complete(assertion, key.key, algorithms=[alg])
        except jwt.InvalidSignatureError as exc:
            raise _client_error(
                "JWS signature invalid (not signed by the registered tool key)"
            ) from exc
        except jwt.PyJWTError as exc:
            raise _client_error(f"client_assertion cannot be verified: {exc}") from exc
        try:
            claims = json.loads(decoded["payload"])
        except ValueError as exc:
            raise _client_error("the assertion payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise _client_error("the assertion payload is not a JSON object")
        self._check_claims(claims, client_id, now)
        return claims

    def _check_claims(self, claims: dict[str, Any], client_id: str, now: float) -> None:
        p = self.platform
        for name in ("iss", "sub") if p.profile.check_issuer else ("sub",):
            if claims.get(name) != client_id:
                raise _client_error(
                    f"the '{name}' claim must be the client_id {client_id!r}, "
                    f"got {claims.get(name)!r}"
                )
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        expected = p.assertion_audience  # the token URL, or e.g. D2L's fixed audience
        if p.profile.check_audience and expected not in audiences:
            raise _client_error(f"the 'aud' claim must contain {expected!r}, got {aud!r}")
        exp, iat = _int_claim(claims, "exp"), _int_claim(claims, "iat")
        if exp <= now - LEEWAY:
            raise _client_error(f"the assertion expired {int(now - exp)} s ago ('exp')")
        if iat > now + MAX_IAT_FUTURE:
            raise _client_error(f"the 'iat' claim is {int(iat - now)} s in the future")
        if (
            exp - iat > MAX_ASSERTION_LIFETIME + LEEWAY
            or exp - now > MAX_ASSERTION_LIFETIME + LEEWAY
        ):
            raise _client_error(
                f"the assertion lives too long: 'exp' must be at most {MAX_ASSERTION_LIFETIME} s "
                "after 'iat' and after now"
            )
        if "nbf" in claims and _int_claim(claims, "nbf") > now + LEEWAY:
            raise _client_error("the assertion is not valid yet ('nbf')")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _client_error("the assertion has no 'jti' claim")
        if not p.replay.first_use(client_id, jti, exp + LEEWAY, now):
            raise _client_error(f"the 'jti' {jti!r} was already used (replayed assertion)")


class TokenHandler(BaseHandler):
    """``POST /token``."""

    async def post(self) -> None:
        p = self.platform
        p.stats["token_requests"] += 1
        self.set_header("Pragma", "no-cache")
        try:
            body = await self._grant()
        except OAuthError as err:
            error, status = err.error, err.status
            if error == "invalid_client":  # the platform's own code and status for it
                error, status = p.profile.client_error
            if status == 401:
                self.set_header("WWW-Authenticate", f'Bearer error="{error}"')
            body = {"error": error}
            if p.profile.error_descriptions:
                body["error_description"] = err.description
            self.send_json(status, body)
            return
        p.stats["tokens_issued"] += 1
        self.send_json(200, body)

    def _form(self, name: str) -> str | None:
        values = self.request.body_arguments.get(name, [])
        if len(values) > 1:
            raise OAuthError("invalid_request", f"parameter {name!r} is repeated")
        return values[0].decode("utf-8", errors="replace") if values else None

    async def _grant(self) -> dict[str, Any]:
        p = self.platform
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != _FORM_TYPE:
            raise OAuthError("invalid_request", f"Content-Type must be {_FORM_TYPE}")
        grant_type = self._form("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type is missing")
        if grant_type != "client_credentials":
            raise OAuthError(
                "unsupported_grant_type",
                f"grant_type must be client_credentials, got {grant_type!r}",
            )
        assertion_type = self._form("client_assertion_type")
        if assertion_type != CLIENT_ASSERTION_TYPE:
            raise OAuthError(
                "invalid_request",
                f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}, got {assertion_type!r}",
            )
        assertion = self._form("client_assertion")
        if not assertion:
            raise OAuthError("invalid_request", "client_assertion is missing")
        scope = self._form("scope")
        client_id = self._form("client_id")
        if client_id is not None and client_id != p.config.client_id:
            raise _client_error(f"client_id {client_id!r} is not registered")
        await AssertionVerifier(p).verify(assertion, p.now())
        requested = (scope or "").split(" ")
        if not scope or any(not s for s in requested):
            raise OAuthError(
                "invalid_scope", "scope is missing or malformed (space-separated URIs)"
            )
        ungranted = sorted(set(requested) - GRANTED_SCOPES)
        if ungranted:
            raise OAuthError(
                "invalid_scope", f"scope not granted to this tool: {' '.join(ungranted)}"
            )
        granted = " ".join(dict.fromkeys(requested))
        token = p.access_tokens.issue(p.config.client_id, frozenset(requested), p.now())
        return {
            "access_token": token,
            "token_type": p.profile.token_type,
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "scope": granted,
        }
