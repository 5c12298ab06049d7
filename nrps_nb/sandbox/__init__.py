"""The built-in sandbox LMS: an independent LTI 1.3 platform (OIDC launch, OAuth 2 client
credentials, NRPS v2) serving deterministic synthetic courses over HTTP.

With a profile (``SandboxConfig(profile="moodle")``, ``nrps-nb sandbox --profile moodle``) it
behaves like one LMS: Canvas, Moodle, Blackboard, D2L, Sakai, Schoology or Open edX
(``profiles.py``). It deliberately shares no code with the client side of ``nrps_nb``.
"""

from __future__ import annotations

from .app import SandboxServer, make_app, run
from .config import DEFAULT_COURSES, DEFAULT_TOOL_URL, CourseSpec, SandboxConfig
from .faults import Fault

__all__ = [
    "DEFAULT_COURSES",
    "DEFAULT_TOOL_URL",
    "CourseSpec",
    "Fault",
    "SandboxConfig",
    "SandboxServer",
    "make_app",
    "run",
]
