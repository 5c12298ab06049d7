"""The platform's RSA signing key and its public JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def _b64_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def rfc7638_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of an RSA public JWK."""
    canonical = json.dumps(
        {"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    return (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )


class PlatformKey:
    """An RSA 2048 key generated at startup; signs id_tokens with RS256."""

    algorithm = "RS256"

    def __init__(self, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self._private = private_key or rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        numbers = self._private.public_key().public_numbers()
        base = {"kty": "RSA", "n": _b64_uint(numbers.n), "e": _b64_uint(numbers.e)}
        self.kid = rfc7638_thumbprint(base)
        self._public_jwk: dict[str, Any] = {**base, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def public_jwk(self) -> dict[str, Any]:
        return dict(self._public_jwk)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self._private, algorithm=self.algorithm, headers={"kid": self.kid}
        )
