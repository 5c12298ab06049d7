"""``RosterPicker()``: platform → course → role → pseudonymize → Fetch, then export.

The fetch runs as a background job (the Fetch click returns at once), so the form stays
responsive: a progress bar counts pages and members, Cancel stops the fetch. Errors appear
under the buttons with what to do. Nothing already fetched is lost: a failed or cancelled
fetch keeps the previous roster in ``picker.df`` and its own members in ``picker.partial_df``,
and Resume continues it from the page where it stopped.

Example::

    >>> picker = RosterPicker()                                             # doctest: +SKIP
    >>> picker                                                              # doctest: +SKIP
    >>> picker.df.groupby("role").size()    # after clicking Fetch            # doctest: +SKIP
    >>> df = await picker.fetch(course=3)   # the same from code              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import EllipsisType
from typing import Any

import ipywidgets as w
import pandas as pd

from ..errors import ConfigError, IncompleteRoster, NrpsNbError
from ..export import write_frame
from ..frames import members_to_frame, pseudonymize_frame
from ..nrps import Page
from ..registry import Course
from ..workspace import Workspace
from ._common import Job, describe_error, log, message_html, resolve_workspace

__all__ = ["ROLE_CHOICES", "FetchProgress", "RosterPicker", "course_label", "course_options"]

ROLE_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("All members", None),
    ("Learners", "Learner"),
    ("Instructors", "Instructor"),
    ("Teaching assistants", "TA"),
    ("Mentors", "Mentor"),
    ("Content developers", "ContentDeveloper"),
    ("Administrators", "Administrator"),
)
_CHOOSE_PLATFORM = "— choose a platform —"
_NO_COURSES = "— no courses yet: launch the tool from a course, or add_course(url) —"


def course_label(course: Course) -> str:
    """How a course reads in the dropdown: its title and label, and where it came from."""
    origin = "" if course.source == "launch" else " · added by URL"
    return f"{course.display_name}{origin}"


def course_options(courses: list[Course]) -> list[tuple[str, int]]:
    """Dropdown options (label, course id); equal labels get the course id appended."""
    labels = [course_label(c) for c in courses]
    return [
        (label if labels.count(label) == 1 else f"{label} [#{c.id}]", c.id)
        for label, c in zip(labels, courses, strict=True)
    ]


@dataclass
class FetchProgress:
    """What a running fetch has brought so far (fed by ``on_page``), kept for a Resume."""

    course: Course
    pages: int = 0
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_url: str | None = None
    more: bool = True

    def on_page(self, page: Page, _total: int) -> None:
        self.pages += 1
        for member in page.members:
            self.members[str(member.get("user_id"))] = member
        self.next_url = page.next_url
        self.more = page.next_url is not None

    def summary(self) -> str:
        return f"page {self.pages} · {len(self.members)} members" + ("" if self.more else " · done")


class RosterPicker(w.VBox):  # type: ignore[misc]
    """The roster form. ``picker.df`` is the last roster fetched (None before the first)."""

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        platform: str | None = None,
        course: int | None = None,
        export_dir: str | Path | None = None,
    ) -> None:
        self.workspace = resolve_workspace(workspace)
        self.export_dir = Path(export_dir) if export_dir is not None else Path.cwd()
        self.job: Job[pd.DataFrame | None] | None = None
        self.partial_df: pd.DataFrame | None = None
        self._df: pd.DataFrame | None = None
        self._incomplete: IncompleteRoster | None = None
        self._incomplete_course: Course | None = None
        style = {"description_width": "7em"}
        self.platform = w.Dropdown(description="Platform", style=style)
        self.course = w.Dropdown(
            description="Course", style=style, layout=w.Layout(width="40em"), disabled=True
        )
        self.refresh_button = w.Button(
            description="", icon="refresh", tooltip="Reload platforms and courses",
            layout=w.Layout(width="3em"),
        )  # fmt: skip
        self.role = w.Dropdown(options=list(ROLE_CHOICES), description="Role", style=style)
        self.pseudonymize = w.Checkbox(
            description="Pseudonymize (keyed ids; no names or emails)",
            indent=False,
            layout=w.Layout(width="auto"),
        )
        self.fetch_button = w.Button(
            description="Fetch roster", button_style="primary", icon="download", disabled=True
        )
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.resume_button = w.Button(
            description="Resume", icon="play", layout=w.Layout(display="none")
        )
        self.progress = w.IntProgress(
            value=0, min=0, max=1, description="Pages", style=style,
            layout=w.Layout(display="none"),
        )  # fmt: skip
        self.progress_label = w.Label()
        self.status = w.HTML()
        self.output = w.Output()
        self.export_name = w.Text(description="File name", style=style, placeholder="roster")
        self.csv_button = w.Button(description="Export CSV", icon="file", disabled=True)
        self.json_button = w.Button(description="Export JSON", icon="file", disabled=True)
        self.parquet_button = w.Button(description="Export Parquet", icon="file", disabled=True)
        self.export_status = w.HTML()

        self.platform.observe(lambda _c: self._load_courses(), names="value")
        self.course.observe(lambda _c: self._on_course(), names="value")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.fetch_button.on_click(lambda _b: self._on_fetch())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.resume_button.on_click(lambda _b: self._on_resume())
        for button, suffix in (
            (self.csv_button, ".csv"),
            (self.json_button, ".json"),
            (self.parquet_button, ".parquet"),
        ):
            button.on_click(lambda _b, s=suffix: self._on_export(s))

        super().__init__(
            [
                w.HBox([self.platform, self.refresh_button]),
                self.course,
                self.role,
                self.pseudonymize,
                w.HBox([self.fetch_button, self.cancel_button, self.resume_button]),
                w.HBox([self.progress, self.progress_label]),
                self.status,
                self.output,
                w.HBox([self.export_name, self.csv_button, self.json_button, self.parquet_button]),
                self.export_status,
            ]
        )
        self.refresh()
        if platform is not None:
            self.select(platform=platform, course=course)
        elif course is not None:
            self.select(course=course)

    # -- what it holds --------------------------------------------------------------------------

    @property
    def df(self) -> pd.DataFrame | None:
        """The last roster fetched completely (a failed fetch leaves it as it was)."""
        return self._df

    @property
    def busy(self) -> bool:
        return self.job is not None and not self.job.done()

    # -- choosing -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the platforms and courses from the workspace (after a launch, say)."""
        registered = [p.name for p in self.workspace.store.list_platforms()]
        orphaned = sorted(
            {c.platform for c in self.workspace.store.list_courses()} - set(registered)
        )
        options: list[tuple[str, str | None]] = [(_CHOOSE_PLATFORM, None)]
        options += [(name, name) for name in registered]
        options += [(f"{name} (not registered any more)", name) for name in orphaned]
        current = self.platform.value
        values = [v for _, v in options]
        if len(registered) == 1 and current is None:
            current = registered[0]
        with self.hold_sync():
            self.platform.options = options
            self.platform.value = current if current in values else None
        self._load_courses()

    def _load_courses(self) -> None:
        platform = self.platform.value
        previous = self.course.value
        if platform is None:
            self.course.options = []
            self.course.disabled = True
            self._on_course()
            return
        options = course_options(self.workspace.store.list_courses(platform))
        with self.hold_sync():
            if options:
                self.course.options = options
                ids = [v for _, v in options]
                self.course.value = previous if previous in ids else ids[-1]
                self.course.disabled = False
            else:
                self.course.options = [(_NO_COURSES, None)]
                self.course.value = None
                self.course.disabled = True
        self._on_course()
        if self.busy:
            return
        if platform not in {p.name for p in self.workspace.store.list_platforms()}:
            self.status.value = message_html(
                f"platform {platform!r} is not registered any more; its courses stay listed",
                "error",
                remedy="Register it again (same name) with PlatformSetup() or add_platform(), "
                "then click ↻.",
            )
        else:
            self.status.value = ""

    def _on_course(self) -> None:
        self.fetch_button.disabled = self.busy or self.course.value is None
        course = self._selected_course()
        if course is not None:
            stem = course.context_label or course.context_id or f"course-{course.id}"
            self.export_name.value = "roster-" + re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-")

    def _selected_course(self) -> Course | None:
        value = self.course.value
        return None if value is None else self.workspace.store.get_course(int(value))

    def select(self, *, platform: str | None = None, course: int | Course | None = None) -> None:
        """Choose a platform and/or a course as the dropdowns would (raises ConfigError)."""
        if isinstance(course, Course):
            platform, course = platform or course.platform, course.id
        if course is not None and platform is None:
            found = self.workspace.store.get_course(int(course))
            if found is None:
                raise ConfigError(f"no course with course_id {course}; see courses()")
            platform = found.platform
        if platform is not None:
            if platform not in [v for _, v in self.platform.options]:
                self.refresh()
            if platform not in [v for _, v in self.platform.options]:
                raise ConfigError(f"unknown platform {platform!r}; see platforms()")
            self.platform.value = platform
        if course is not None:
            if course not in [v for _, v in self.course.options]:
                raise ConfigError(f"course {course} is not a course of platform {platform!r}")
            self.course.value = course

    # -- fetching -------------------------------------------------------------------------------

    def fetch(
        self,
        *,
        course: int | Course | None = None,
        role: str | EllipsisType | None = ...,
        pseudonymize: bool | None = None,
    ) -> Job[pd.DataFrame | None]:
        """Start fetching the chosen course (what Fetch does); ``await`` the result for the frame.

        The keywords set the form's fields first. The job's result is the roster, or None when
        the fetch failed or was cancelled (the form says why).
        """
        if course is not None:
            self.select(course=course)
        if role is not ...:
            if role not in [v for _, v in ROLE_CHOICES]:
                raise ConfigError(
                    f"role {role!r}: choose one of {[v for _, v in ROLE_CHOICES]} "
                    "(or call fetch_roster(role=...) for other role URIs)"
                )
            self.role.value = role
        if pseudonymize is not None:
            self.pseudonymize.value = pseudonymize
        return self._start(resume=None)

    def _on_fetch(self) -> None:
        try:
            self.fetch()
        except NrpsNbError as exc:
            text, remedy = describe_error(exc)
            self.status.value = message_html(text, "error", remedy=remedy)

    def _on_resume(self) -> None:
        if self._incomplete is None:
            return
        self._start(resume=self._incomplete)

    def _start(self, *, resume: IncompleteRoster | None) -> Job[pd.DataFrame | None]:
        if self.busy:
            raise ConfigError("a fetch is running; wait for it or click Cancel")
        course = self._incomplete_course if resume is not None else self._selected_course()
        if course is None:
            raise ConfigError("choose a course first (or click ↻ after a new launch)")
        role = str(self.role.value) if self.role.value else None
        # The form shows the fetch as started now, not when the job first runs.
        self._set_busy(True)
        self.progress.value, self.progress.max = 0, 1
        self.progress_label.value = "starting…"
        what = course.display_name + (f", role {role}" if role else "")
        self.status.value = message_html(f"fetching the roster of {what}…")
        self.job = Job(self._run(course, role, bool(self.pseudonymize.value), resume))
        return self.job

    def cancel(self) -> None:
        """Stop the running fetch; the members fetched so far stay in ``partial_df``."""
        if self.job is not None:
            self.job.cancel()

    def _set_busy(self, busy: bool) -> None:
        with self.hold_sync():
            self.fetch_button.disabled = busy or self.course.value is None
            self.cancel_button.disabled = not busy
            if busy:
                self.resume_button.layout.display = "none"
            for b in (self.csv_button, self.json_button, self.parquet_button):
                b.disabled = busy or self._df is None
            if busy:
                self.progress.layout.display = ""
                self.progress.bar_style = "info"

    def _show_progress(self, state: FetchProgress) -> None:
        with self.hold_sync():
            self.progress.max = state.pages + (1 if state.more else 0)
            self.progress.value = state.pages
            self.progress_label.value = state.summary()

    async def _run(
        self, course: Course, role: str | None, pseudonymize: bool, resume: IncompleteRoster | None
    ) -> pd.DataFrame | None:
        state = FetchProgress(course)
        if resume is not None:
            state.pages = resume.pages
            state.members = {str(m.get("user_id")): m for m in resume.members}

        def on_page(page: Page, total: int) -> None:
            state.on_page(page, total)
            self._show_progress(state)

        try:
            df = await self.workspace.afetch_roster(
                course,
                role=role,
                pseudonymize=pseudonymize,
                resume=resume,
                on_page=on_page,
                progress=False,
            )
        except asyncio.CancelledError:
            # Our own job, cancelled on purpose: keep what came, then end normally.
            stopped = NrpsNbError(f"cancelled after {state.pages} page(s)")
            self._keep_partial(state, role, pseudonymize, stopped)
            self.status.value = message_html(
                f"cancelled: {len(state.members)} members from {state.pages} page(s) are in "
                "picker.partial_df",
                "warn",
                remedy="Click Resume to continue from the next page, or Fetch to start again."
                if state.next_url
                else None,
            )
            return None
        except IncompleteRoster as exc:
            self._keep_partial(state, role, pseudonymize, exc)
            text, remedy = describe_error(exc)
            self.status.value = message_html(text, "error", remedy=remedy)
            return None
        except NrpsNbError as exc:
            text, remedy = describe_error(exc)
            if isinstance(exc, ConfigError) and "unknown platform" in str(exc):
                remedy = (
                    f"The platform of this course ({course.platform!r}) was deleted: register "
                    "it again with PlatformSetup() or add_platform(), then click ↻."
                )
            self.status.value = message_html(text, "error", remedy=remedy)
            self.progress.bar_style = "danger"
            return None
        except Exception as exc:  # shown in the form, not lost in the kernel log
            log.exception("RosterPicker fetch failed")
            text, remedy = describe_error(exc)
            self.status.value = message_html(text, "error", remedy=remedy)
            self.progress.bar_style = "danger"
            return None
        finally:
            self._set_busy(False)
        self._df = df
        self._incomplete = None
        self.partial_df = None
        state.more = False
        self._show_progress(state)
        self.progress.bar_style = "success"
        self._set_busy(False)
        self.status.value = message_html(self._summary(df), "ok")
        self.output.outputs = ()  # not clear_output(): it needs the cell context
        self.output.append_display_data(df)
        return df

    def _keep_partial(
        self, state: FetchProgress, role: str | None, pseudonymize: bool, cause: NrpsNbError
    ) -> None:
        c = state.course
        if isinstance(cause, IncompleteRoster):
            members, resume_url = cause.members, cause.resume_url
        else:
            members, resume_url = list(state.members.values()), state.next_url
        self._incomplete = None
        if resume_url is not None:
            self._incomplete = IncompleteRoster(
                str(cause),
                members=members,
                resume_url=resume_url,
                cause=cause,
                pages=state.pages,
                url=c.context_memberships_url,
            )
            self._incomplete_course = c
            self.resume_button.layout.display = ""
        if isinstance(cause, IncompleteRoster) and cause.frame is not None:
            frame = cause.frame  # the workspace's: provenance, and pseudonymized if asked
        else:  # cancelled: what the pages brought so far
            frame = members_to_frame(
                members,
                context={"id": c.context_id, "label": c.context_label, "title": c.context_title},
                platform=c.platform,
            )
            frame.attrs.update({"complete": False, "pages": state.pages, "role_filter": role})
            if pseudonymize:
                frame = pseudonymize_frame(frame, self.workspace.pseudonym_key())
        self.partial_df = frame
        self.progress.bar_style = "warning"
        self.output.outputs = ()  # not clear_output(): it needs the cell context
        self.output.append_display_data(frame)

    @staticmethod
    def _summary(df: pd.DataFrame) -> str:
        counts = df["role"].value_counts().to_dict() if len(df) else {}
        roles = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        pages = df.attrs.get("pages")
        title = df["context_title"].iloc[0] if len(df) else None
        where = f"{title}: " if isinstance(title, str) else ""
        pseudo = "; pseudonymized" if df.attrs.get("pseudonymized") else ""
        return (
            f"{where}{len(df)} members" + (f" in {pages} page(s)" if pages else "")
            + (f" ({roles})" if roles else "") + pseudo + ". The frame is picker.df"
        )  # fmt: skip

    # -- exporting ------------------------------------------------------------------------------

    def export(self, suffix: str, name: str | None = None) -> Path:
        """Write ``picker.df`` to ``export_dir/name + suffix`` (.csv, .json or .parquet)."""
        df = self._df
        if df is None:
            raise ConfigError("nothing to export yet: fetch a roster first")
        stem = (name if name is not None else str(self.export_name.value)).strip() or "roster"
        if "/" in stem or "\\" in stem:
            raise ConfigError(
                f"the file name {stem!r} contains a path; give a plain name (the file goes to "
                f"{self.export_dir})"
            )
        return write_frame(df, self.export_dir / f"{stem}{suffix}")

    def _on_export(self, suffix: str) -> None:
        try:
            path = self.export(suffix)
        except NrpsNbError as exc:
            text, remedy = describe_error(exc)
            self.export_status.value = message_html(text, "error", remedy=remedy)
            return
        assert self._df is not None
        self.export_status.value = message_html(f"wrote {path} ({len(self._df)} rows)", "ok")
