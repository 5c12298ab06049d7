"""The registered tool's public key: a static JWK, or its JWKS URL (cached by ``kid``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import jwt


class ToolKeyError(Exception):
    """No usable tool key for this assertion; the message says why."""


@dataclass(frozen=True)
class ToolKey:
    """A tool public key and the ``alg`` its JWK pins, if any."""

    key: Any
    alg: str | None


def _load_jwk(data: Any) -> ToolKey:
    if not isinstance(data, dict) or data.get("kty") != "RSA":
        raise ToolKeyError("the tool key is not an RSA JWK")
    if data.get("use", "sig") != "sig":
        raise ToolKeyError("the tool key is not a signing key (use != sig)")
    alg = data.get("alg")
    try:
        # PyJWK needs an algorithm to pick a key class; the header alg is checked separately.
        parsed = jwt.PyJWK(data, algorithm=alg if isinstance(alg, str) else "RS256")
    except jwt.PyJWTError as exc:
        raise ToolKeyError(f"the tool key is not a valid RSA JWK: {exc}") from exc
    return ToolKey(parsed.key, alg if isinstance(alg, str) else None)


class ToolKeys:
    """Finds the tool key for a client assertion header, the way an LMS with a JWKS URL does."""

    def __init__(self, jwks_url: str, static_jwk: dict[str, Any] | None = None) -> None:
        self.jwks_url = jwks_url
        self._static = _load_jwk(static_jwk) if static_jwk is not None else None
        self._static_kid = static_jwk.get("kid") if static_jwk is not None else None
        self._cache: dict[str, ToolKey] = {}
        self._lock: asyncio.Lock | None = None
        self.fetches = 0

    async def key_for(self, kid: str | None) -> ToolKey:
        if self._static is not None:
            if kid is not None and self._static_kid is not None and kid != self._static_kid:
                raise ToolKeyError(
                    f"kid {kid!r} is not the registered tool key {self._static_kid!r}"
                )
            return self._static
        # A JWKS URL registration selects the key by kid, so an assertion without one is
        # ambiguous (Canvas refuses it too).
        if not kid:
            raise ToolKeyError("the client assertion header has no 'kid'")
        if kid in self._cache:
            return self._cache[kid]
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # Unknown kid: the tool may have rotated its key, so refetch once (single-flight).
            if kid not in self._cache:
                self._cache = await self._fetch()
        if kid not in self._cache:
            raise ToolKeyError(f"kid {kid!r} is not in the tool JWKS at {self.jwks_url}")
        return self._cache[kid]

    async def _fetch(self) -> dict[str, ToolKey]:
        self.fetches += 1
        try:
            # trust_env=False: the tool is usually on loopback; an HTTP(S)_PROXY must not apply.
            async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
                response = await client.get(self.jwks_url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ToolKeyError(f"cannot fetch the tool JWKS from {self.jwks_url}: {exc!r}") from exc
        if response.status_code != 200:
            raise ToolKeyError(
                f"the tool JWKS at {self.jwks_url} answered HTTP {response.status_code}"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise ToolKeyError(f"the tool JWKS at {self.jwks_url} is not JSON") from exc
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list):
            raise ToolKeyError(f"the tool JWKS at {self.jwks_url} has no 'keys' array")
        found: dict[str, ToolKey] = {}
        for entry in keys:
            if isinstance(entry, dict) and isinstance(entry.get("kid"), str):
                try:
                    found[entry["kid"]] = _load_jwk(entry)
                except ToolKeyError:
                    continue  # other key types in the set are not for us
        return found
