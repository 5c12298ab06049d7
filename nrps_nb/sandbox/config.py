"""Sandbox configuration: the registered tool and the synthetic courses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .faults import Fault
from .profiles import DEFAULT_PROFILE, PRIVACY_LEVELS, PROFILES

DEFAULT_TOOL_URL = "http://127.0.0.1:8765"

# Course ids appear verbatim in URL paths, so keep them to unreserved characters.
_COURSE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_COURSE_SIZE = 1_000_000  # 100,000 members generate in about 2 s and take about 100 MB


@dataclass(frozen=True)
class CourseSpec:
    """One synthetic course: URL id, title, label (course code) and member count.

    ``campus_learners``: how many of its learners are people of the sandbox's campus, the same
    people (user id, names, e-mail) in every course that has some: campus person ``k`` is in
    every course whose ``campus_learners`` exceeds ``k``. The rest are the course's own people.
    """

    course_id: str
    title: str
    label: str
    size: int
    campus_learners: int = 0

    def __post_init__(self) -> None:
        if self.campus_learners < 0:
            raise ValueError(f"campus_learners must be >= 0: {self.campus_learners}")
        if not _COURSE_ID_RE.fullmatch(self.course_id):
            raise ValueError(f"course_id must match {_COURSE_ID_RE.pattern}: {self.course_id!r}")
        if self.size < 2:
            raise ValueError(
                f"a course needs at least 2 members (instructor + test student): {self.size}"
            )
        if self.size > MAX_COURSE_SIZE:
            raise ValueError(f"a course has at most {MAX_COURSE_SIZE} members: {self.size}")


# Campus people 0-2 take all three courses, 3-39 STAT 101 and BIG 100, 40-59 BIG 100 only:
# rosters joined across courses have people in one, two and three of them.
DEFAULT_COURSES: tuple[CourseSpec, ...] = (
    CourseSpec("intro-stats", "Introduction to Statistics", "STAT 101", 250, campus_learners=40),
    CourseSpec("seminar", "Research Seminar", "SEM 500", 8, campus_learners=3),
    CourseSpec("big-lecture", "Big Lecture", "BIG 100", 3000, campus_learners=60),
)


@dataclass
class SandboxConfig:
    """How the sandbox platform is set up and which single tool it has registered.

    ``profile`` makes it behave like one LMS (``profiles.PROFILES``: canvas, moodle,
    blackboard, d2l, sakai, schoology, openedx, ...); its client_id and deployment_id then
    default to that platform's formats. ``privacy`` is the tool's privacy level in Canvas's
    words (anonymous, name_only, email_only, public), mapped to each platform's settings.
    ``max_page_size`` and ``default_page_size`` are the plain sandbox's; the other profiles
    page the way their platform does. ``proxy_strips_authorization`` puts a web server in
    front that drops the Authorization header of service requests (Moodle behind Apache with
    PHP-FPM); ``enrollment_limit`` overrides Open edX's roster limit.

    For tests and benchmarks:

    * ``faults``: failures of the memberships service (429, Canvas's 403 throttle, 5xx, a hang,
      token revocation, a garbage page, a next link to another host), see ``faults.Fault``.
    * ``differences``: the plain sandbox sends ``rel="differences"`` links (the Blackboard
      profile always does). ``SandboxServer.mutate()`` changes a course's roster; a
      differences URL (``?since=<stamp>``) lists the members changed since that stamp, removed
      ones with status ``Deleted``, deactivated ones ``Inactive`` (NRPS 2.0).
    * ``rate_limit_budget``: Canvas-style ``X-Rate-Limit-Remaining`` headers. Each memberships
      request costs ``rate_limit_cost``, the budget refills at ``rate_limit_refill`` a second,
      and a request the remaining budget cannot pay is throttled the way Canvas does
      (HTTP 403 "403 Forbidden (Rate Limit Exceeded)").
    """

    tool_url: str = DEFAULT_TOOL_URL
    tool_jwk: dict[str, Any] | None = None
    client_id: str = ""  # "": the profile's
    deployment_id: str = ""  # "": the profile's
    seed: int = 20261203
    courses: tuple[CourseSpec, ...] = field(default=DEFAULT_COURSES)
    max_page_size: int = 100
    default_page_size: int = 50
    latency: float = 0.0
    profile: str = DEFAULT_PROFILE
    privacy: str = "public"
    proxy_strips_authorization: bool = False
    enrollment_limit: int | None = None  # None: the profile's
    faults: tuple[Fault, ...] = ()
    differences: bool = False
    rate_limit_budget: float | None = None  # None: no X-Rate-Limit-Remaining header
    rate_limit_cost: float = 1.0
    rate_limit_refill: float = 0.0  # budget units a second

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(
                f"unknown sandbox profile {self.profile!r}; known: {', '.join(PROFILES)}"
            )
        if self.privacy not in PRIVACY_LEVELS:
            raise ValueError(f"privacy must be one of {', '.join(PRIVACY_LEVELS)}")
        platform = PROFILES[self.profile]
        self.client_id = self.client_id or platform.client_id
        self.deployment_id = self.deployment_id or platform.deployment_id
        if self.enrollment_limit is None:
            self.enrollment_limit = platform.enrollment_limit
        self.tool_url = self.tool_url.rstrip("/")
        if not self.courses:
            raise ValueError("the sandbox needs at least one course")
        ids = [c.course_id for c in self.courses]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate course ids: {ids}")
        if self.max_page_size < 1 or not 1 <= self.default_page_size <= self.max_page_size:
            raise ValueError("need 1 <= default_page_size <= max_page_size")
        if self.latency < 0:
            raise ValueError("latency must be >= 0")
        self.faults = tuple(self.faults)
        for fault in self.faults:
            if not isinstance(fault, Fault):
                raise ValueError(f"faults must be sandbox.faults.Fault values, not {fault!r}")
        if self.rate_limit_budget is not None and self.rate_limit_budget <= 0:
            raise ValueError("rate_limit_budget must be > 0 (or None)")
        if self.rate_limit_cost < 0 or self.rate_limit_refill < 0:
            raise ValueError("rate_limit_cost and rate_limit_refill must be >= 0")

    @property
    def tool_login_url(self) -> str:
        return f"{self.tool_url}/login"

    @property
    def tool_redirect_uri(self) -> str:
        return f"{self.tool_url}/launch"

    @property
    def tool_jwks_url(self) -> str:
        return f"{self.tool_url}/jwks.json"
