"""Runtime state of one sandbox platform, shared by its request handlers."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .config import SandboxConfig
from .keys import PlatformKey
from .roster import Course, build_course
from .signing import Signer
from .toolkeys import ToolKeys

ACCESS_TOKEN_LIFETIME = 3600


@dataclass(frozen=True)
class AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


class AccessTokens:
    """Opaque bearer tokens issued by the token endpoint."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}

    def issue(self, client_id: str, scopes: frozenset[str], now: float) -> str:
        self._tokens = {k: v for k, v in self._tokens.items() if v.expires_at > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = AccessToken(client_id, scopes, now + ACCESS_TOKEN_LIFETIME)
        return token

    def lookup(self, token: str, now: float) -> AccessToken | None:
        found = self._tokens.get(token)
        return found if found is not None and found.expires_at > now else None


class ReplayCache:
    """Remembers each assertion ``jti`` until the assertion expires."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}

    def first_use(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        if len(self._seen) > 1000:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
        key = (client_id, jti)
        if key in self._seen and self._seen[key] > now:
            return False
        self._seen[key] = expires_at
        return True


def build_courses(config: SandboxConfig) -> dict[str, Course]:
    return {spec.course_id: build_course(spec, config.seed) for spec in config.courses}


class Platform:
    """Everything the handlers share: config, URLs, key, courses, tokens, counters."""

    def __init__(
        self,
        config: SandboxConfig,
        base_url: str,
        key: PlatformKey | None = None,
        courses: dict[str, Course] | None = None,
    ) -> None:
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.key = key or PlatformKey()
        self.signer = Signer()
        self.courses = courses if courses is not None else build_courses(config)
        self.tool_keys = ToolKeys(config.tool_jwks_url, config.tool_jwk)
        self.access_tokens = AccessTokens()
        self.replay = ReplayCache()
        self.stats: Counter[str] = Counter(
            dict.fromkeys(
                ("token_requests", "tokens_issued", "nrps_requests", "auth_requests",
                 "launch_requests", "jwks_requests"),
                0,
            )
        )  # fmt: skip
        self.platform_guid = f"nrps-nb-sandbox-{config.seed}"
        # (course_id, role URI) -> members with that role; rosters are static, so never stale.
        self.role_filter_cache: dict[tuple[str, str], list[dict[str, Any]]] = {}

    @staticmethod
    def now() -> float:
        return time.time()

    # URLs -----------------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/auth"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/jwks"

    def course_url(self, course_id: str) -> str:
        return f"{self.base_url}/courses/{course_id}"

    def memberships_url(self, course_id: str) -> str:
        return f"{self.base_url}/api/lti/courses/{course_id}/memberships"

    def launch_url(self, course_id: str, user_id: str) -> str:
        return f"{self.course_url(course_id)}/launch?{urlencode({'user': user_id})}"
