"""Runtime state of one sandbox platform, shared by its request handlers."""

from __future__ import annotations

import random
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from .config import SandboxConfig
from .faults import FaultBook
from .keys import PlatformKey
from .profiles import DEFAULT_PROFILE, PROFILES, member_kind, shape_member
from .roster import Course, PersonFactory, build_course, shape_course, stable_hash
from .signing import Signer
from .toolkeys import ToolKeys
from .vocab import ROLE_INSTRUCTOR, ROLE_LEARNER, ROLE_TEACHING_ASSISTANT

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


# Short context roles SandboxServer.mutate(change_role=...) accepts, as the sandbox's role lists.
_ROLE_LISTS: dict[str, list[str]] = {
    "Learner": [ROLE_LEARNER],
    "Instructor": [ROLE_INSTRUCTOR],
    "TeachingAssistant": [ROLE_INSTRUCTOR, ROLE_TEACHING_ASSISTANT],
}


def role_list(role: str) -> list[str]:
    """The sandbox's roles for a short context role (Learner, Instructor, TeachingAssistant)."""
    found = _ROLE_LISTS.get(role)
    if found is None:
        for roles in _ROLE_LISTS.values():
            if roles[-1] == role:
                return list(roles)
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(_ROLE_LISTS)}")
    return list(found)


def _stamp(at: float) -> str:
    micros = round(at * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(micros // 1_000_000)) + (
        f".{micros % 1_000_000:06d}Z"
    )


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
        # For differences links: an opaque "since" value, as Blackboard's are (a time stamp).
        # Each roster change is a new generation with a strictly later stamp.
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.stamps: list[str] = [self.started_at]
        self._generations: dict[str, int] = {self.started_at: 0}
        # course_id -> user_id -> (generation of the last change, the member as of then;
        # status Deleted for a removed one)
        self.changes: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}
        self.added: Counter[str] = Counter()  # members added by mutate(), per course
        self.faults = FaultBook(config.faults)
        self.rate_limit_used = 0.0
        self.rate_limit_at = time.monotonic()
        self.courses_by_url_id = {c.url_id: c for c in self.courses.values()}
        self.platform_guid = f"nrps-nb-sandbox-{config.seed}"
        # (course_id, role URI) -> members with that role; rosters are static, so never stale.
        self.role_filter_cache: dict[tuple[str, str], list[dict[str, Any]]] = {}

    @staticmethod
    def now() -> float:
        return time.time()

    # differences and roster changes ------------------------------------------------------

    @property
    def differences_enabled(self) -> bool:
        return self.profile.differences or self.config.differences

    @property
    def generation(self) -> int:
        return len(self.stamps) - 1

    def generation_of(self, since: str) -> int | None:
        """The generation a ``since`` stamp names (None: not one of this platform's)."""
        return self._generations.get(since)

    def changed_since(self, course: Course, generation: int) -> list[dict[str, Any]]:
        """The members of ``course`` changed after ``generation``, oldest change first."""
        log = self.changes.get(course.course_id, {})
        found = sorted(
            ((g, i, m) for i, (g, m) in enumerate(log.values()) if g > generation),
            key=lambda t: (t[0], t[1]),
        )
        return [m for _g, _i, m in found]

    def mutate(
        self,
        course_id: str,
        *,
        drop: Iterable[str] = (),
        deactivate: Iterable[str] = (),
        add: int = 0,
        change_role: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Change a course's roster (one new generation); the user ids of added members.

        Call it on the server's loop (``SandboxServer.mutate`` does).
        """
        course = self.courses.get(course_id)
        if course is None:
            raise KeyError(f"no sandbox course {course_id!r}")
        drop, deactivate = list(drop), list(deactivate)
        roles_to = dict(change_role or {})
        if add < 0:
            raise ValueError("add must be >= 0")
        for uid in [*drop, *deactivate, *roles_to]:
            if course.member(uid) is None:
                raise KeyError(f"no member {uid!r} in course {course_id!r}")
        new_roles = {uid: role_list(role) for uid, role in roles_to.items()}
        at = time.time()
        stamp = _stamp(at)
        while stamp <= self.stamps[-1]:
            at += 1e-6
            stamp = _stamp(at)
        self.stamps.append(stamp)
        self._generations[stamp] = generation = len(self.stamps) - 1
        log = self.changes.setdefault(course_id, {})
        profile, shaped = self.profile, bool(course.people)
        people = dict(course.people)
        members: list[dict[str, Any]] = []
        for member in course.members:
            uid = str(member["user_id"])
            if uid in drop:
                log[uid] = (generation, {"user_id": uid, "status": "Deleted",
                                         "roles": list(member["roles"])})  # fmt: skip
                people.pop(uid, None)
                continue
            changed = dict(member)
            if uid in new_roles:
                roles = new_roles[uid]
                if shaped:
                    people[uid] = {**people[uid], "roles": roles}
                    roles = list(profile.roles[member_kind(roles)])
                changed["roles"] = roles
            if uid in deactivate:
                changed["status"] = "Inactive"
            if changed != member:
                log[uid] = (generation, changed)
                if changed["status"] != "Active" and profile.only_active:
                    continue  # the platform lists active enrolments only
            members.append(changed)
        rng = random.Random(self.config.seed + stable_hash(course_id) + generation)
        factory = PersonFactory(rng)
        added: list[str] = []
        serial = course.spec.size + self.added[course_id]  # after every generated member
        self.added[course_id] += add
        for k in range(add):
            base = factory.person([ROLE_LEARNER])
            member = base
            if shaped:
                member = shape_member(
                    profile, base, serial=serial + k, privacy=self.config.privacy,
                    issuer=profile.issuer or "", admin=False,
                )  # fmt: skip
                people[str(member["user_id"])] = base
            if course.member(str(member["user_id"])) is not None:
                raise RuntimeError("an added member's user id is already taken")
            log[str(member["user_id"])] = (generation, member)
            members.append(member)
            added.append(str(member["user_id"]))
        updated = replace(
            course,
            members=tuple(members),
            index={str(m["user_id"]): i for i, m in enumerate(members)},
            people=people if shaped else {},
        )
        self.courses[course_id] = updated
        self.courses_by_url_id[updated.url_id] = updated
        for key in [k for k in self.role_filter_cache if k[0] == course_id]:
            del self.role_filter_cache[key]
        return added

    def rate_limit_remaining(self, cost: float) -> float | None:
        """Charge one request to the budget; what remains (None: no budget configured).

        Negative when the request could not be paid (it is throttled, and not charged).
        """
        budget = self.config.rate_limit_budget
        if budget is None:
            return None
        now = time.monotonic()
        refill = self.config.rate_limit_refill * (now - self.rate_limit_at)
        self.rate_limit_at = now
        self.rate_limit_used = max(0.0, self.rate_limit_used - refill)
        if self.rate_limit_used + cost > budget:
            return -1.0
        self.rate_limit_used += cost
        return budget - self.rate_limit_used

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
