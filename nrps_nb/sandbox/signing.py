"""HMAC-protected opaque values (``lti_message_hint``, NRPS page cursors)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any


class InvalidToken(ValueError):
    """The opaque value was not issued by this signer, was altered, or is malformed."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("not base64url") from exc


class Signer:
    """Seals a small JSON object as ``payload.mac``; a per-purpose label stops cross-use."""

    def __init__(self, secret: bytes | None = None) -> None:
        # A fresh secret per server: values from an earlier sandbox run are rejected, as a
        # real platform rejects another installation's hints.
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def _mac(self, purpose: str, payload: str) -> str:
        msg = f"{purpose}\x00{payload}".encode("ascii")
        return _b64(hmac.new(self._secret, msg, hashlib.sha256).digest()[:20])

    def seal(self, purpose: str, data: dict[str, Any]) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac(purpose, payload)}"

    def open(self, purpose: str, token: str) -> dict[str, Any]:
        # compare_digest() only takes ASCII str, so non-ASCII input is malformed by definition.
        payload, sep, mac = token.partition(".")
        if not token.isascii() or not sep or not payload or not mac:
            raise InvalidToken("malformed")
        if not hmac.compare_digest(mac, self._mac(purpose, payload)):
            raise InvalidToken("bad signature")
        try:
            data = json.loads(_unb64(payload))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidToken("malformed payload") from exc
        if not isinstance(data, dict):
            raise InvalidToken("malformed payload")
        return data
