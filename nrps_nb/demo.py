"""``nrps-nb demo``: the main job end to end on the built-in sandbox LMS.

It starts the sandbox and the launch receiver on free loopback ports, registers the sandbox
as a platform, performs a real launch the way a browser would (following the redirects and
submitting the auto-posted form over HTTP), claims that launch, fetches the course roster
across several pages, prints a summary and the head of the DataFrame, and writes the roster
to a CSV file in the current directory.

``drive_launch`` is the browser stand-in, reused by the tests.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import TextIO
from urllib.parse import urljoin

import httpx

from .errors import BadResponse
from .workspace import ENV_HOME, Workspace, default_home

__all__ = ["drive_launch", "run_demo"]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, dict[str, str]]] = []
        self._current: tuple[str, str, dict[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = (a.get("action", ""), a.get("method", "get").lower(), {})
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            self._current[2][a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def drive_launch(
    start_url: str,
    *,
    timeout: float = 30.0,
    max_forms: int = 3,
    client: httpx.Client | None = None,
) -> httpx.Response:
    """Launch like a browser without JavaScript: follow redirects, submit auto-post forms.

    Returns the final response (the receiver's launch page). Raises BadResponse when a step
    answers an error.

    >>> page = drive_launch(sandbox.launch_url("intro-stats"))             # doctest: +SKIP
    >>> page.status_code                                                     # doctest: +SKIP
    200
    """
    if client is None:
        with httpx.Client(follow_redirects=True, timeout=timeout) as own:
            return drive_launch(start_url, max_forms=max_forms, client=own)
    response = client.get(start_url, follow_redirects=True)
    for _ in range(max_forms):
        if response.status_code >= 400:
            raise BadResponse(
                f"the launch step {response.url} answered HTTP {response.status_code}: "
                f"{_text_of(response.text)[:300]}",
                url=str(response.url),
                status=response.status_code,
            )
        parser = _FormParser()
        parser.feed(response.text)
        auto = [f for f in parser.forms if f[1] == "post"]
        if not auto:
            return response
        action, _, fields = auto[0]
        response = client.post(
            urljoin(str(response.url), action), data=fields, follow_redirects=True
        )
    return response


def _slug(text: str | None) -> str:
    """A file-name-safe version of a course label: 'STAT 101' -> 'STAT-101'."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text or "").strip("-.")
    return slug[:60] or "course"


def _text_of(page: str) -> str:
    class _T(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []
            self._skip = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self._skip = tag in ("style", "script", "title")

        def handle_endtag(self, tag: str) -> None:
            self._skip = False

        def handle_data(self, data: str) -> None:
            if not self._skip and data.strip():
                self.parts.append(data.strip())

    t = _T()
    t.feed(page)
    return " ".join(t.parts)


def run_demo(out: TextIO, *, home: Path | None = None, output_dir: Path | None = None) -> Path:
    """Run the demo, printing to ``out``; return the path of the roster file it wrote."""
    import os

    scratch: Path | None = None  # a throwaway workspace, removed at the end (key included)
    if home is None:
        if os.environ.get(ENV_HOME):
            home = default_home()
        else:
            home = scratch = Path(tempfile.mkdtemp(prefix="nrps_nb-demo-"))
    try:
        return _run_demo(out, home, output_dir or Path.cwd(), scratch is not None)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _run_demo(out: TextIO, home: Path, output_dir: Path, scratch: bool) -> Path:
    from .sandbox import SandboxConfig, SandboxServer
    from .server import ReceiverServer

    t0 = time.perf_counter()
    ws = Workspace(home)
    note = " (a throwaway; set NRPS_NB_HOME to keep one)" if scratch else ""
    print(f"workspace: {ws.home}{note}", file=out)
    ws.init()
    with ReceiverServer(ws) as receiver:
        print(f"launch receiver: {receiver.base_url} (login, launch, jwks.json)", file=out)
        with SandboxServer(SandboxConfig(tool_url=receiver.base_url)) as sandbox:
            info = sandbox.info()
            print(f"sandbox LMS: {info['issuer']}", file=out)
            name = "sandbox"
            existing = {p.name for p in ws.store.list_platforms()}
            while name in existing:
                name = f"sandbox-{len(existing) + 1}"
                existing.add(name)
            ws.add_platform(
                name,
                preset="sandbox",
                base_url=info["issuer"],
                client_id=info["client_id"],
                deployment_ids=[info["deployment_id"]],
            )
            print(f"registered platform {name!r} (client_id {info['client_id']})", file=out)
            page = drive_launch(info["launch_url"])
            print(f"launch: the receiver answered HTTP {page.status_code}", file=out)
            launch = ws.capture_launch(timeout=10)
            print(
                f"captured launch {launch.id}: {launch.context_title} "
                f"({launch.context_label}) by {launch.user_name}",
                file=out,
            )
            df = ws.fetch_roster(launch)
    roles = df["role"].value_counts().to_dict()
    statuses = df["status"].value_counts().to_dict()
    print(
        f"\nroster: {len(df)} members in {df.attrs['pages']} pages "
        f"(complete: {df.attrs['complete']})",
        file=out,
    )
    print("roles: " + ", ".join(f"{k} {v}" for k, v in sorted(roles.items())), file=out)
    print("status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())), file=out)
    print(f"test users: {int(df['is_test_user'].sum())}", file=out)
    print(file=out)
    print(df[["name", "email", "role", "status"]].head(8).to_string(), file=out)
    target = output_dir / f"roster-{_slug(launch.context_label or launch.context_id)}.csv"
    from .export import write_frame

    write_frame(df, target)
    print(f"\nwrote {target} ({len(df)} rows) in {time.perf_counter() - t0:.1f} s", file=out)
    return target
