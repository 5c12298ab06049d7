"""PyJWT wrappers: client assertions, id_token signature checks, the platform JWKS cache.

PyJWT does the cryptography and the JWK parsing (``PyJWKSet``); this module adds what LTI
needs around it: an algorithm allow-list, key selection by ``kid`` with one rate-limited
refetch on an unknown ``kid`` (platforms rotate keys), and errors that name the problem.

Example::

    >>> assertion = sign_client_assertion(key, client_id="abc",            # doctest: +SKIP
    ...                                   audience="https://lms/token")
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.exceptions import InvalidSignatureError, PyJWKError, PyJWKSetError, PyJWTError

from .errors import InvalidJWT, InvalidSignature, NrpsNbError
from .http import CachedJson
from .keys import ToolKey

__all__ = [
    "ALLOWED_ALGORITHMS",
    "CLIENT_ASSERTION_LIFETIME",
    "MAX_JWT_BYTES",
    "JwksCache",
    "read_unverified",
    "sign_client_assertion",
    "verify_signature",
]

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256")
CLIENT_ASSERTION_LIFETIME = 300  # seconds; Canvas rejects assertions older than 5 minutes
MAX_JWT_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
JWKS_REFETCH_INTERVAL = 10.0  # an unknown kid may trigger at most one refetch this often
JWKS_TTL = 3600.0  # when the key set's response says nothing about caching
JWKS_MIN_TTL = JWKS_REFETCH_INTERVAL  # "no-cache" still may not turn launches into fetches
JWKS_MAX_TTL = 86400.0  # CHECKLIST §2.11: at most a day, whatever the headers say

FetchJson = Callable[[str], Awaitable[Any]]


def sign_client_assertion(
    key: ToolKey, *, client_id: str, audience: str, lifetime: int = CLIENT_ASSERTION_LIFETIME
) -> str:
    """An RFC 7523 client assertion: iss = sub = client_id, aud, iat, exp, random jti."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def read_unverified(token: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT *without* checking anything but its shape and alg."""
    if not isinstance(token, str) or not token:
        raise InvalidJWT("the id_token is missing or not a string")
    if len(token) > MAX_JWT_BYTES:
        raise InvalidJWT(f"the id_token is {len(token)} bytes long; the limit is {MAX_JWT_BYTES}")
    if token.count(".") != 2:
        raise InvalidJWT("the id_token is not a JWT (expected three base64url parts)")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except PyJWTError as exc:
        raise InvalidJWT(f"the id_token cannot be decoded: {exc}") from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise InvalidJWT(
            f"the id_token header has alg {alg!r}; expected one of {', '.join(ALLOWED_ALGORITHMS)}"
        )
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidJWT(f"the id_token header kid must be a string, got {type(kid).__name__}")
    if not isinstance(claims, dict):
        raise InvalidJWT("the id_token payload is not a JSON object")
    return header, claims


def _key_set_from_json(data: object, source: str) -> jwt.PyJWKSet:
    if not isinstance(data, dict):
        raise InvalidSignature(f"the platform key set at {source} is not a JSON object")
    try:
        key_set = jwt.PyJWKSet.from_dict(data)
    except (PyJWKSetError, PyJWKError) as exc:
        raise InvalidSignature(
            f"the platform key set at {source} holds no usable key: {exc}"
        ) from None
    return key_set


def _check_key_strength(key: jwt.PyJWK, source: str) -> None:
    size = getattr(key.key, "key_size", None)
    if key.key_type == "RSA" and isinstance(size, int) and size < MIN_RSA_BITS:
        raise InvalidSignature(
            f"the platform key {key.key_id!r} at {source} has {size} bits; "
            f"at least {MIN_RSA_BITS} are required"
        )


@dataclass
class _Entry:
    key_set: jwt.PyJWKSet
    fetched_at: float
    ttl: float = JWKS_TTL
    last_refetch: float = 0.0


@dataclass
class JwksCache:
    """Platform key sets by URL, fetched through ``fetch`` (an async JSON getter).

    The cache is shared by every launch a receiver validates; a refetch on an unknown
    ``kid`` happens at most once per ``JWKS_REFETCH_INTERVAL`` per URL. A key set is kept as
    long as its HTTP caching headers allow (when ``fetch`` returns a ``CachedJson``), within
    ``JWKS_MIN_TTL`` and ``JWKS_MAX_TTL``; otherwise ``ttl``.
    """

    fetch: FetchJson
    ttl: float = JWKS_TTL
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def _load(self, url: str) -> _Entry:
        try:
            data = await self.fetch(url)
        except NrpsNbError as exc:
            raise InvalidSignature(f"cannot fetch the platform key set {url}: {exc}") from None
        ttl = self.ttl
        if isinstance(data, CachedJson):
            if data.max_age is not None:
                ttl = min(max(data.max_age, JWKS_MIN_TTL), JWKS_MAX_TTL)
            data = data.data
        entry = _Entry(_key_set_from_json(data, url), time.monotonic(), ttl)
        self._entries[url] = entry
        return entry

    async def get_key(self, url: str, kid: str | None) -> jwt.PyJWK:
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            entry = self._entries.get(url)
            now = time.monotonic()
            if entry is None or now - entry.fetched_at > entry.ttl:
                entry = await self._load(url)
            key = _select_key(entry.key_set, kid)
            if (
                key is None
                and kid is not None
                and now - entry.last_refetch >= JWKS_REFETCH_INTERVAL
            ):
                # Keys rotate: refetch once before rejecting an unknown kid.
                last = now
                entry = await self._load(url)
                entry.last_refetch = last
                key = _select_key(entry.key_set, kid)
        if key is None:
            if kid is None:
                raise InvalidSignature(
                    f"the id_token has no kid and the key set {url} holds "
                    f"{len(entry.key_set.keys)} keys; without a kid only a one-key set will do"
                )
            raise InvalidSignature(f"no key with kid {kid!r} in the platform key set {url}")
        _check_key_strength(key, url)
        return key


def _select_key(key_set: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
    if kid is None:
        return key_set.keys[0] if len(key_set.keys) == 1 else None
    for key in key_set.keys:
        if key.key_id == kid:
            return key
    return None


def static_key(platform_key: dict[str, Any], kid: str | None) -> jwt.PyJWK:
    """The platform's pasted key (a JWK or a JWKS) as a PyJWK."""
    source = "the platform's static key"
    data = platform_key if "keys" in platform_key else {"keys": [platform_key]}
    key_set = _key_set_from_json(data, source)
    key = _select_key(key_set, kid) or (key_set.keys[0] if len(key_set.keys) == 1 else None)
    if key is None:
        raise InvalidSignature(f"no key with kid {kid!r} in {source}")
    _check_key_strength(key, source)
    return key


def verify_signature(token: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
    """Check the signature only; the caller checks every claim in DESIGN §4 order."""
    expected_kty = "EC" if alg.startswith("ES") else "RSA"
    if key.key_type != expected_kty:
        raise InvalidSignature(
            f"the id_token alg {alg!r} needs an {expected_kty} key, but the platform key "
            f"{key.key_id!r} is of type {key.key_type!r}"
        )
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
                "require": [],
            },
        )
    except InvalidSignatureError:
        raise InvalidSignature(
            f"the id_token signature does not verify with the platform key {key.key_id!r}"
        ) from None
    except PyJWTError as exc:
        raise InvalidSignature(f"the id_token signature cannot be checked: {exc}") from None
    return claims


def dumps_public(jwk: dict[str, Any]) -> str:
    """JSON of a public JWK for display (refuses private members)."""
    if any(k in jwk for k in ("d", "p", "q", "dp", "dq", "qi")):
        raise ValueError("refusing to serialize a private key")
    return json.dumps(jwk, indent=2)
