"""``LaunchWaiter()``: says where to click in the LMS, waits for the launch, shows the course.

The wait is a background job (``Workspace.acapture_launch`` polling the workspace), so the
kernel stays free: other cells run while it waits. It claims the oldest unclaimed launch of the
last 10 minutes, so a click made just before the cell ran counts too.

Example::

    >>> waiter = LaunchWaiter()                                             # doctest: +SKIP
    >>> waiter                          # now click the nrps_nb link in the course
    >>> launch = await waiter.wait()    # or later: waiter.launch           # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import time
from html import escape

import ipywidgets as w

from ..errors import LaunchTimeout, NrpsNbError
from ..launch import Launch
from ..workspace import Workspace
from ._common import Job, describe_error, log, message_html, resolve_workspace

__all__ = ["LaunchWaiter", "instructions_html"]


def instructions_html(link: str | None = None, *, timeout: float = 600.0) -> str:
    """What to do in the LMS while the form waits (``link``: where to click, if known)."""
    where = (
        f"<a href='{escape(link, quote=True)}' target='_blank' rel='noopener'>open this link</a>"
        if link
        else "open the course in your LMS and click the nrps_nb link (or placement)"
    )
    minutes = max(1, round(timeout / 60))
    return (
        f"<b>Capture a launch.</b> Now {where}. Make the LMS open it in a <b>new window</b> "
        "(browsers block a page inside the LMS from reaching a local Jupyter). "
        f"This waits up to {minutes} minute(s) and the kernel stays free meanwhile."
    )


class LaunchWaiter(w.VBox):  # type: ignore[misc]
    """Waits for one launch (from ``start=True``, right away). ``waiter.launch`` is the result."""

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        timeout: float = 600.0,
        link: str | None = None,
        start: bool = True,
    ) -> None:
        self.workspace = resolve_workspace(workspace)
        self.timeout = timeout
        self.launch: Launch | None = None
        self.job: Job[Launch | None] | None = None
        self.instructions = w.HTML(instructions_html(link, timeout=timeout))
        self.status = w.HTML()
        self.wait_button = w.Button(description="Wait again", icon="refresh")
        self.stop_button = w.Button(description="Stop waiting", icon="stop", disabled=True)
        self.result = w.HTML()
        self.wait_button.on_click(lambda _b: self._on_wait())
        self.stop_button.on_click(lambda _b: self.stop())
        super().__init__(
            [
                self.instructions,
                w.HBox([self.wait_button, self.stop_button]),
                self.status,
                self.result,
            ]
        )
        if start:
            self.start()

    @property
    def waiting(self) -> bool:
        return self.job is not None and not self.job.done()

    def start(self) -> Job[Launch | None]:
        """Start waiting (what Wait again does); a wait already running is kept."""
        if self.job is not None and not self.job.done():
            return self.job
        # The form says "waiting" now, not when the job first runs.
        self.wait_button.disabled = True
        self.stop_button.disabled = False
        self.result.value = ""
        since = time.strftime("%H:%M:%S")
        self.status.value = message_html(f"waiting for a launch (since {since})…")
        self.job = Job(self._run())
        return self.job

    def wait(self) -> Job[Launch | None]:
        """The running wait (``launch = await waiter.wait()``); starts one if none runs."""
        if self.launch is not None and self.job is not None and self.job.done():
            return self.job
        return self.start()

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_wait(self) -> None:
        self.start()

    async def _run(self) -> Launch | None:
        try:
            launch = await self.workspace.acapture_launch(self.timeout)
        except asyncio.CancelledError:
            self.status.value = message_html(
                "stopped waiting", "warn", remedy="Click Wait again after clicking the link."
            )
            return None
        except LaunchTimeout:
            # The exception's own advice names capture_launch(); this form has a button.
            _, remedy = describe_error(LaunchTimeout(""))
            self.status.value = message_html(
                f"no launch arrived within {self.timeout:g} s", "error", remedy=remedy
            )
            return None
        except NrpsNbError as exc:
            text, remedy = describe_error(exc)
            self.status.value = message_html(text, "error", remedy=remedy)
            return None
        except Exception as exc:  # shown in the form, not lost in the kernel log
            log.exception("LaunchWaiter failed")
            text, remedy = describe_error(exc)
            self.status.value = message_html(text, "error", remedy=remedy)
            return None
        finally:
            self.wait_button.disabled = False
            self.stop_button.disabled = True
        self.launch = launch
        course = launch.course.display_name if launch.course is not None else None
        if launch.context_memberships_url:
            next_step = (
                "Its roster is available now: RosterPicker() lists this course, or call "
                "nrps_nb.fetch_roster(waiter.launch)."
            )
            kind = "ok"
        else:
            next_step = (
                "This launch carried no Names and Roles service: enable NRPS for the tool in "
                "the LMS (see PlatformSetup()), then launch again."
            )
            kind = "warn"
        self.status.value = message_html(
            f"captured launch {launch.id}" + (f" from {course}" if course else ""),
            kind,
            remedy=next_step,
        )
        self.result.value = launch._repr_html_()
        return launch
