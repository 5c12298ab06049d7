"""Declarative faults of the sandbox's memberships service, for tests and benchmarks.

A fault names what goes wrong (``kind``), on which page of a listing (``page``, 1-based;
``None``: any page), on which requests (``every``: every n-th matching request) and how often
(``times``: that many firings, ``None``: forever). ``SandboxConfig(faults=(...))`` installs
them; ``SandboxServer.set_faults(...)`` replaces them (and their counters) while it runs.

Kinds:

``429``          HTTP 429 with ``Retry-After: <retry_after>`` seconds (none when ``None``)
``429-date``     HTTP 429 with ``Retry-After`` as an HTTP date ``retry_after`` s from now
``canvas-403``   Canvas's throttle: HTTP 403 with the text "403 Forbidden (Rate Limit Exceeded)"
``500`` ``502`` ``503`` ``504``   that server error (``Retry-After`` when ``retry_after`` is set)
``hang``         the answer is held back ``hang`` seconds (longer than the client waits)
``revoke``       after the page is served, every access token issued so far is forgotten
``garbage``      HTTP 200 with an HTML error page instead of the membership container
``foreign-next`` the page's next link points to ``url`` (another host), path and query kept

Example::

    SandboxConfig(faults=(Fault("429", page=2, times=3, retry_after=0),
                          Fault("revoke", page=1, times=1)))
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from typing import Literal, get_args

FaultKind = Literal[
    "429",
    "429-date",
    "canvas-403",
    "500",
    "502",
    "503",
    "504",
    "hang",
    "revoke",
    "garbage",
    "foreign-next",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
ERROR_KINDS = frozenset({"429", "429-date", "canvas-403", "500", "502", "503", "504"})
CANVAS_THROTTLE_TEXT = "403 Forbidden (Rate Limit Exceeded)"
GARBAGE_PAGE = (
    "<!DOCTYPE html><html><head><title>Service maintenance</title></head>"
    "<body><h1>We'll be back soon</h1></body></html>"
)


@dataclass(frozen=True)
class Fault:
    """One injected fault of the memberships service (see the module docstring)."""

    kind: FaultKind
    page: int | None = None
    every: int | None = None
    times: int | None = None
    retry_after: float | None = None
    hang: float = 2.0
    url: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        for name in ("page", "every", "times"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ValueError(f"Fault {name} must be a positive integer or None: {value!r}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("Fault retry_after must be >= 0")
        if self.hang <= 0:
            raise ValueError("Fault hang must be > 0 seconds")
        if self.kind == "foreign-next" and not self.url.startswith(("http://", "https://")):
            raise ValueError("a foreign-next fault needs url='http(s)://other-host[:port]'")
        if self.kind == "429-date" and self.retry_after is None:
            raise ValueError("a 429-date fault needs retry_after (seconds from now)")

    @property
    def status(self) -> int:
        """The HTTP status of an error fault."""
        return {"429-date": 429, "canvas-403": 403}.get(self.kind) or int(self.kind)

    def retry_after_header(self) -> str | None:
        if self.retry_after is None:
            return None
        if self.kind == "429-date":
            return email.utils.formatdate(time.time() + self.retry_after, usegmt=True)
        return str(round(self.retry_after))


@dataclass
class FaultBook:
    """The installed faults and how often each has matched and fired."""

    faults: tuple[Fault, ...] = ()
    matched: list[int] = field(default_factory=list)
    fired: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.matched = [0] * len(self.faults)
        self.fired = [0] * len(self.faults)

    def due(self, page: int) -> list[Fault]:
        """The faults that fire on this request for ``page`` (counting it)."""
        out: list[Fault] = []
        for i, fault in enumerate(self.faults):
            if fault.page is not None and fault.page != page:
                continue
            if fault.times is not None and self.fired[i] >= fault.times:
                continue
            self.matched[i] += 1
            if fault.every is not None and self.matched[i] % fault.every:
                continue
            self.fired[i] += 1
            out.append(fault)
        return out
