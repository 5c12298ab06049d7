"""The tool's RSA key: generate, load, and publish it as JWK, JWKS or PEM (rotation: see
``Workspace.rotate_key``).

The private key is a PEM file with mode 0600 inside the workspace (mode 0700). It is parsed
once per process and cached, since parsing an RSA key costs far more than signing with it.

Example::

    >>> key = ToolKey.load_or_create(Path("/tmp/ws/tool_key.pem"))   # doctest: +SKIP
    >>> key.jwks()["keys"][0]["kid"] == key.kid                       # doctest: +SKIP
    True
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .errors import ConfigError

__all__ = ["KEY_BITS", "ToolKey", "jwk_thumbprint"]

log = logging.getLogger(__name__)

KEY_BITS = 2048
_cache: dict[tuple[str, int, int, int, int], ToolKey] = {}
_cache_lock = threading.Lock()


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA or EC public JWK."""
    kty = jwk.get("kty")
    if kty == "RSA":
        members = {k: jwk[k] for k in ("e", "kty", "n")}
    elif kty == "EC":
        members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    else:
        raise ConfigError(f"cannot compute a thumbprint for key type {kty!r}")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return _b64u(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True, repr=False)
class ToolKey:
    """The tool's signing key. Its repr shows only the kid, never key material."""

    private_key: rsa.RSAPrivateKey = field(compare=False)
    kid: str

    def __repr__(self) -> str:
        return f"ToolKey(kid={self.kid!r}, bits={self.private_key.key_size})"

    @classmethod
    def generate(cls, bits: int = KEY_BITS) -> ToolKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return cls.from_private_key(key)

    @classmethod
    def from_private_key(cls, key: rsa.RSAPrivateKey) -> ToolKey:
        if key.key_size < KEY_BITS:
            raise ConfigError(f"the tool key has {key.key_size} bits; at least {KEY_BITS} needed")
        public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        return cls(private_key=key, kid=jwk_thumbprint(public))

    @classmethod
    def load(cls, path: Path) -> ToolKey:
        """Load a PEM private key (cached per process by path, inode, size and times)."""
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ConfigError(
                f"no tool key at {path}; run `nrps-nb init` to create the workspace and key"
            ) from None
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            # Someone loosened the key file's mode: repair it before using the key.
            log.warning("the tool key %s had mode %o; repairing to 0600", path, mode)
            try:
                os.chmod(path, 0o600)
            except OSError as exc:
                raise ConfigError(
                    f"the tool key {path} is readable by others and cannot be repaired: "
                    f"{exc.strerror}; run chmod 600 on it"
                ) from None
        # Inode and ctime too: a rotation replaces the file (a new inode, a new ctime) within
        # the same mtime tick and with the same size more often than not.
        cache_key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with _cache_lock:
            cached = _cache.get(cache_key)
        if cached is not None:
            return cached
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"the tool key file {path} is not an unencrypted PEM private key "
                f"({type(exc).__name__})"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"the tool key file {path} is not an RSA key")
        tool_key = cls.from_private_key(key)
        with _cache_lock:
            _cache[cache_key] = tool_key
        return tool_key

    @classmethod
    def load_or_create(cls, path: Path) -> ToolKey:
        """Load the key at ``path``, creating it (mode 0600) if there is none."""
        if path.exists():
            return cls.load(path)
        key = cls.generate()
        key.save(path)
        return cls.load(path)

    def save(self, path: Path) -> None:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # A temporary file of its own (mode 0600 from the start), complete on disk, then
        # renamed over the key: a reader sees the old key or the new one, never half of one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return jwk

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}

    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )
