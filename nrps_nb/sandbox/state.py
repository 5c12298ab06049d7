"""Runtime state of one sandbox platform, shared by its request handlers."""

from __future__ import annotations

import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .config import SandboxConfig
from .keys import PlatformKey
from .profiles import DEFAULT_PROFILE, PROFILES
from .roster import Course, build_course, shape_course
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
    """The configured courses, as the configured profile's platform lists them."""
    courses = {spec.course_id: build_course(spec, config.seed) for spec in config.courses}
    profile = PROFILES[config.profile]
    if profile.name == DEFAULT_PROFILE and config.privacy == "public":
        return courses  # the plain sandbox lists its people as they are
    return {
        course_id: shape_course(course, profile, index=i, privacy=config.privacy)
        for i, (course_id, course) in enumerate(courses.items())
    }


def route_pattern(path: str, **values: str) -> str:
    """A tornado URL pattern for a profile path: ``{course}`` captures, the rest is literal."""
    marker = "\x00"
    head, found, tail = path.format(course=marker, **values).partition(marker)
    if not found:
        return re.escape(head)
    return re.escape(head) + r"([^/?]+)" + re.escape(tail)


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
        self.profile = PROFILES[config.profile]
        # For differences links: an opaque "since" value, as Blackboard's are.
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.courses_by_url_id = {c.url_id: c for c in self.courses.values()}
        self.platform_guid = f"nrps-nb-sandbox-{config.seed}"
        # (course_id, role URI) -> members with that role; rosters are static, so never stale.
        self.role_filter_cache: dict[tuple[str, str], list[dict[str, Any]]] = {}

    @staticmethod
    def now() -> float:
        return time.time()

    # URLs -----------------------------------------------------------------------------------

    def path(self, name: str, course: str = "") -> str:
        """A profile path (auth, token, jwks, memberships) with the tool's ids filled in."""
        cfg = self.config
        return self.profile.paths()[name].format(
            course=course, client_id=cfg.client_id, deployment_id=cfg.deployment_id
        )

    def route(self, name: str) -> str:
        cfg = self.config
        return route_pattern(
            self.profile.paths()[name], client_id=cfg.client_id, deployment_id=cfg.deployment_id
        )

    @property
    def issuer(self) -> str:
        return self.profile.issuer or self.base_url

    @property
    def auth_url(self) -> str:
        return self.base_url + self.path("auth")

    @property
    def token_url(self) -> str:
        return self.base_url + self.path("token")

    @property
    def jwks_url(self) -> str:
        return self.base_url + self.path("jwks")

    @property
    def assertion_audience(self) -> str:
        """The ``aud`` this platform expects in client assertions."""
        return self.profile.assertion_audience or self.token_url

    def page_sizes(self) -> tuple[int | None, int | None]:
        """(default, cap) of NRPS pages; None: everything / no cap."""
        if self.profile.paging == "cursor":
            return self.config.default_page_size, self.config.max_page_size
        return self.profile.default_page_size, self.profile.max_page_size

    def course_url(self, course_id: str) -> str:
        return f"{self.base_url}/courses/{course_id}"

    def memberships_url(self, course_id: str) -> str:
        course = self.courses.get(course_id)
        url_id = course.url_id if course is not None else course_id
        return self.base_url + self.path("memberships", url_id)

    def launch_url(self, course_id: str, user_id: str) -> str:
        return f"{self.course_url(course_id)}/launch?{urlencode({'user': user_id})}"

    def embed_url(self, course_id: str, user_id: str) -> str:
        return f"{self.course_url(course_id)}/embed?{urlencode({'user': user_id})}"
