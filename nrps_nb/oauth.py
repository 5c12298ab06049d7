"""Access tokens: the RFC 7523 client-credentials grant and an expiry-aware token cache.

Tokens live in memory only. One token serves every course of a registration: the cache key
is (token URL, client_id, audience, scopes), and concurrent callers on a loop wait for the
single request in flight instead of each asking (repeated token requests are what gets a
tool throttled on Canvas). A token POST is never retried blindly.

Example::

    >>> token = await get_access_token(platform, key, [NRPS_SCOPE])   # doctest: +SKIP
    >>> token                                                          # doctest: +SKIP
    AccessToken(scope='https://purl.imsglobal.org/...', expires_in=3599)
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from .errors import TokenError
from .http import get_client
from .jose import sign_client_assertion
from .keys import ToolKey
from .registry import Platform, check_url

__all__ = [
    "ASSERTION_TYPE",
    "NRPS_SCOPE",
    "AccessToken",
    "clear_token_cache",
    "get_access_token",
    "invalidate_token",
    "token_request_count",
]

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REFRESH_MARGIN = 60.0  # refresh this long before expiry


@dataclass(frozen=True)
class AccessToken:
    """A bearer token. Its repr never shows the token itself."""

    value: str = field(repr=False)
    scope: str
    expires_at: float

    def __repr__(self) -> str:
        return f"AccessToken(scope={self.scope!r}, expires_in={int(self.expires_at - time.time())})"

    @property
    def fresh(self) -> bool:
        return time.time() < self.expires_at - REFRESH_MARGIN

    @property
    def header(self) -> str:
        return f"Bearer {self.value}"


# (token URL, client_id, audience, scopes, tool key id): a token obtained with one workspace's
# key must never serve another workspace that happens to use the same client_id.
CacheKey = tuple[str, str, str, frozenset[str], str]

_tokens: dict[CacheKey, AccessToken] = {}
_tokens_lock = threading.Lock()
_inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[CacheKey, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_requests = 0  # how many token requests this process made (tests and benchmarks read it)


def token_request_count() -> int:
    return _requests


def clear_token_cache() -> None:
    with _tokens_lock:
        _tokens.clear()


def _cache_key(platform: Platform, scopes: Iterable[str], key: ToolKey) -> CacheKey:
    return (
        platform.auth_token_url,
        platform.client_id,
        platform.audience,
        frozenset(scopes),
        key.kid,
    )


def invalidate_token(
    platform: Platform, scopes: Iterable[str], token: AccessToken, key: ToolKey
) -> None:
    """Drop ``token`` from the cache (after a 401) unless a newer one replaced it already."""
    cache = _cache_key(platform, scopes, key)
    with _tokens_lock:
        if _tokens.get(cache) is token:
            del _tokens[cache]


def _lock_for(key: CacheKey) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    with _tokens_lock:
        locks = _inflight.setdefault(loop, {})
        lock = locks.get(key)
        if lock is None:
            lock = locks[key] = asyncio.Lock()
    return lock


async def get_access_token(
    platform: Platform, key: ToolKey, scopes: Iterable[str] = (NRPS_SCOPE,)
) -> AccessToken:
    """A cached token for ``scopes``, or a new one from the platform's token endpoint."""
    scopes = tuple(sorted(set(scopes)))
    cache_key = _cache_key(platform, scopes, key)
    with _tokens_lock:
        token = _tokens.get(cache_key)
    if token is not None and token.fresh:
        return token
    async with _lock_for(cache_key):
        with _tokens_lock:
            token = _tokens.get(cache_key)
        if token is not None and token.fresh:
            return token  # another coroutine fetched it while we waited
        token = await _request_token(platform, key, scopes)
        with _tokens_lock:
            _tokens[cache_key] = token
        return token


async def _request_token(platform: Platform, key: ToolKey, scopes: tuple[str, ...]) -> AccessToken:
    global _requests
    url = check_url(
        platform.auth_token_url, what="token URL", allow_insecure_http=platform.allow_insecure_http
    )
    assertion = sign_client_assertion(key, client_id=platform.client_id, audience=platform.audience)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": " ".join(scopes),
    }
    _requests += 1
    try:
        response = await get_client().post(url, data=form, headers={"Accept": "application/json"})
    except httpx.TimeoutException:
        raise TokenError(
            f"the token endpoint {url} did not answer in time; try again later",
            url=url,
            network=True,
        ) from None
    except httpx.HTTPError as exc:
        raise TokenError(
            f"cannot reach the token endpoint {url} ({type(exc).__name__}); check the token URL "
            f"of platform {platform.name!r}",
            url=url,
            network=True,
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        description = body.get("error_description") if isinstance(body, dict) else None
        if isinstance(error, str):
            detail = f"{error}" + (f": {description}" if isinstance(description, str) else "")
            hint = _hint_for(error)
            if isinstance(description, str) and "jwks" in description.lower():
                hint = (  # the LMS says it could not get the tool's keys: reachability first
                    "the LMS could not get the tool's public keys: keep the receiver whose "
                    "/jwks.json the registration names running and reachable from the LMS, or "
                    "register the public key itself (`nrps-nb keys jwks`) instead of the URL"
                )
        else:
            ctype = response.headers.get("content-type", "?")
            detail = f"HTTP {response.status_code}, not an OAuth error (Content-Type {ctype})"
            hint = "check that the token URL is the platform's OAuth2 token endpoint"
        raise TokenError(
            f"the token endpoint {url} refused platform {platform.name!r} ({detail}); {hint}",
            error=error if isinstance(error, str) else None,
            error_description=description if isinstance(description, str) else None,
            status=response.status_code,
            url=url,
        )
    value = body.get("access_token")
    token_type = body.get("token_type", "Bearer")
    if not isinstance(value, str) or not value:
        raise TokenError(f"the token endpoint {url} answered without an access_token", url=url)
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise TokenError(
            f"the token endpoint {url} issued a {token_type!r} token; only Bearer is supported",
            url=url,
        )
    expires_in = body.get("expires_in", 3600)
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        expires_in = 3600
    granted = body.get("scope")
    # No (or an empty) scope in the answer means "as requested" (RFC 6749 §5.1).
    scope = granted if isinstance(granted, str) and granted.strip() else " ".join(scopes)
    return AccessToken(value=value, scope=scope, expires_at=time.time() + float(expires_in))


def _hint_for(error: str) -> str:
    return {
        "invalid_client": (
            "the platform does not accept the tool's key or client_id: check the client_id, and "
            "that the LMS registration has the tool's key — either a JWKS URL the LMS can reach "
            "(the receiver's /jwks.json, running) or the public key itself "
            "(`nrps-nb keys jwks`)"
        ),
        "invalid_grant": (
            "the client assertion was rejected: check the token audience and this machine's clock"
        ),
        "invalid_scope": (
            "the registration lacks the Names and Role Provisioning scope: enable it in the LMS"
        ),
        "unauthorized_client": "the LMS registration does not allow client credentials",
    }.get(error, "check the platform registration")


def require_scope(token: AccessToken, scope: str, platform: Platform) -> None:
    """Raise when the platform granted a narrower scope than the service needs.

    Checked before the service is called: a request with a token that cannot succeed would
    only earn a 401, a second token request and a retry (the way to get throttled).
    """
    if scope not in token.scope.replace(",", " ").split():  # space-separated; commas tolerated
        raise TokenError(
            f"platform {platform.name!r} granted the scopes {token.scope!r}, not {scope}; "
            "enable Names and Role Provisioning for the tool in the LMS registration",
            error="invalid_scope",
        )
