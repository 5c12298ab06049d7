"""Progress bars for roster fetches from plain code and the CLI (``tqdm.auto``).

In a notebook ``tqdm.auto`` draws a widget bar; in a terminal a text bar on stderr; with
``enabled=None`` (the default of the fetch functions) a script whose stderr is not a terminal
(a cron job, a pipe) prints nothing. NRPS does not say how many members a course has, so the
bar counts members and shows the pages in its postfix.

Create the bar on the thread that called the fetch (inside Jupyter the sync facade runs the
fetch on a private loop thread, and a bar displayed from there could land in another cell's
output); the updates may come from any thread.

Example::

    >>> bar = RosterProgress("STAT 101", enabled=False)
    >>> bar.on_page(page, 50)                                               # doctest: +SKIP
    >>> bar.close()
"""

from __future__ import annotations

import threading
from typing import Any

from .errors import NrpsNbError
from .nrps import Page
from .registry import Course

__all__ = ["CoursesProgress", "RosterProgress"]


def _tqdm(enabled: bool | None, **kwargs: Any) -> Any:
    from tqdm.auto import tqdm

    # disable=None: tqdm's own rule (off when stderr is no terminal; always on in a notebook)
    return tqdm(disable=None if enabled is None else not enabled, leave=True, **kwargs)


class RosterProgress:
    """One course's fetch: members so far, pages in the postfix. Feed it as ``on_page``."""

    def __init__(self, desc: str, *, enabled: bool | None = None) -> None:
        self.pages = 0
        self.members = 0
        self._bar = _tqdm(enabled, desc=desc, unit=" members", total=None)

    def on_page(self, page: Page, members: int) -> None:
        self.pages += 1
        self._bar.update(members - self.members)
        self.members = members
        self._bar.set_postfix_str(f"page {self.pages}" + ("" if page.next_url else ", done"))

    def close(self, *, failed: bool = False) -> None:
        if failed:
            self._bar.set_postfix_str(f"stopped after {self.pages} page(s)")
        self._bar.close()


class CoursesProgress:
    """Several courses' fetches: courses done out of all, members so far in the postfix."""

    def __init__(self, total: int, *, enabled: bool | None = None) -> None:
        self.members = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._bar = _tqdm(enabled, desc="rosters", unit=" courses", total=total)

    def on_course(self, course: Course, result: int | NrpsNbError) -> None:
        """A course finished with ``result`` members, or failed with that error."""
        with self._lock:
            if isinstance(result, int):
                self.members += result
            else:
                self.failed += 1
            self._bar.update(1)
            failed = f", {self.failed} failed" if self.failed else ""
            self._bar.set_postfix_str(f"{self.members} members{failed}")

    def close(self) -> None:
        self._bar.close()
