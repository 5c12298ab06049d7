"""What the three forms share: the workspace, background jobs, inline messages, copy buttons.

Nothing here draws a widget; it is plain logic, testable without a browser or a kernel.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
from collections.abc import Coroutine, Generator
from html import escape
from pathlib import Path
from typing import Any, Generic, TypeVar

from ..errors import (
    ConfigError,
    Forbidden,
    IncompleteRoster,
    LaunchTimeout,
    NotAuthorized,
    NrpsNbError,
    RateLimited,
    ServiceUnavailable,
    TokenError,
)
from ..workspace import Workspace

__all__ = [
    "Job",
    "copy_button",
    "describe_error",
    "detect_tool_url",
    "message_html",
    "resolve_workspace",
]

T = TypeVar("T")
log = logging.getLogger("nrps_nb.widgets")

# Inline styles only: they survive JupyterLab, classic Notebook, VS Code and nbconvert alike.
_COLOURS = {"error": "#a11", "ok": "#17692b", "info": "#333", "warn": "#8a5300", "muted": "#666"}


def resolve_workspace(workspace: Workspace | None) -> Workspace:
    """The workspace a form works on: the one given, else the default one."""
    if workspace is not None:
        return workspace
    from .. import default_workspace

    return default_workspace()


class Job(Generic[T]):
    """One background run of a coroutine, started from a widget callback.

    It runs as a task on the running loop when there is one (ipykernel's: the callback returns
    at once, so the kernel keeps handling clicks such as Cancel while the job awaits the
    network, on ipykernel 6 and 7 alike), else on nrps_nb's private loop thread (plain Python).
    ``await job`` waits for it in a notebook cell.
    """

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._task: asyncio.Task[T] | None = None
        self._future: concurrent.futures.Future[T] | None = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            from ..http import _background_loop

            self._future = asyncio.run_coroutine_threadsafe(coro, _background_loop())
        else:
            self._task = loop.create_task(coro)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
        elif self._future is not None:
            self._future.cancel()

    def done(self) -> bool:
        if self._task is not None:
            return self._task.done()
        return self._future is not None and self._future.done()

    def result(self, timeout: float | None = None) -> T:
        """The job's result; waits up to ``timeout`` s when it runs on the private loop."""
        if self._task is not None:
            return self._task.result()
        assert self._future is not None
        return self._future.result(timeout)

    def __await__(self) -> Generator[Any, None, T]:
        if self._task is not None:
            return self._task.__await__()
        assert self._future is not None
        return asyncio.wrap_future(self._future).__await__()


_REMEDIES: tuple[tuple[type[NrpsNbError], str], ...] = (
    (
        ServiceUnavailable,
        "Check that the LMS is reachable from this kernel (network, VPN, proxy) and try again.",
    ),
    (
        RateLimited,
        "The LMS is throttling requests: wait a minute and try again.",
    ),
    (
        TokenError,
        "Compare the client_id and the token URL of this platform with what the LMS shows, "
        "and check that the LMS has the tool's current public key.",
    ),
    (
        NotAuthorized,
        "Check that the Names and Role Provisioning service is enabled for the tool in the LMS.",
    ),
    (Forbidden, "Check that the tool may read this course's roster (its privacy settings)."),
    (
        LaunchTimeout,
        "Click the nrps_nb link in the course (opening in a new window), then Wait again.",
    ),
)


def describe_error(exc: BaseException) -> tuple[str, str | None]:
    """The message of an error and, where its message lacks one, what to do about it."""
    if isinstance(exc, IncompleteRoster):
        return (
            str(exc),
            "The members fetched so far are kept: click Resume to continue from where it "
            "stopped, or Fetch to start again.",
        )
    if isinstance(exc, TokenError) and exc.network:
        # No answer at all from the token endpoint: the network, not the registration.
        return str(exc), _REMEDIES[0][1]
    if isinstance(exc, NrpsNbError):
        for kind, remedy in _REMEDIES:
            if isinstance(exc, kind):
                return str(exc), remedy
        return str(exc), None
    return (
        f"unexpected {type(exc).__name__}: {exc}",
        "This is a bug in nrps_nb; the kernel log has the details.",
    )


def message_html(text: str, kind: str = "info", *, remedy: str | None = None) -> str:
    """One escaped line for a form's status area: ✗ for errors, ✓ for success."""
    mark = {"error": "✗ ", "ok": "✓ ", "warn": "⚠ "}.get(kind, "")
    colour = _COLOURS.get(kind, _COLOURS["info"])
    body = f"<span style='color:{colour}'>{mark}{escape(text)}</span>"
    if remedy:
        body += f"<br><span style='color:{_COLOURS['muted']}'>{escape(remedy)}</span>"
    return f"<div class='nrps-nb-message nrps-nb-{escape(kind)}'>{body}</div>"


# The copy button is plain HTML in an ipywidgets HTML widget: a kernel cannot reach the browser's
# clipboard. navigator.clipboard needs a secure context (https or localhost); elsewhere the
# old select-and-copy fallback still works.
_COPY_JS = (
    "var b=this,t=b.getAttribute('data-copy');"
    "function ok(){b.textContent='Copied';setTimeout(function(){b.textContent='Copy'},1500)}"
    "function old(){var a=document.createElement('textarea');a.value=t;"
    "document.body.appendChild(a);a.select();"
    "try{document.execCommand('copy');ok()}finally{a.remove()}}"
    "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t).then(ok,old)}"
    "else{old()}"
)


def copy_button(value: str) -> str:
    """An HTML button that copies ``value`` (escaped) to the clipboard."""
    return (
        f"<button type='button' class='nrps-nb-copy' data-copy='{escape(value, quote=True)}' "
        f'onclick="{escape(_COPY_JS, quote=True)}">Copy</button>'
    )


def detect_tool_url() -> tuple[str | None, str]:
    """The tool's public base URL as this kernel can tell it, and where it came from.

    The Jupyter server extension serves the tool under ``{public_url}nrps_nb/``; the public URL
    is ``$NRPS_NB_PUBLIC_URL``, else JupyterHub's public URL and prefix, else the address of the
    Jupyter server that started this kernel. Without any of them: None (pass ``tool_url=``,
    e.g. the address of ``nrps-nb serve``).
    """
    from ..server.extension import ENV_PUBLIC_URL, jupyterhub_public_url, tool_base

    explicit = os.environ.get(ENV_PUBLIC_URL)
    if explicit:
        return tool_base(explicit), f"${ENV_PUBLIC_URL}"
    hub = jupyterhub_public_url()  # the extension's own rule: both must name the same URLs
    if hub is not None:
        return tool_base(hub), "$JUPYTERHUB_PUBLIC_URL + $JUPYTERHUB_SERVICE_PREFIX"
    parent = os.environ.get("JPY_PARENT_PID")
    if parent and parent.isdigit():
        from jupyter_core.paths import jupyter_runtime_dir

        info = Path(jupyter_runtime_dir()) / f"jpserver-{parent}.json"
        try:
            url = json.loads(info.read_text()).get("url")
        except (OSError, ValueError):
            url = None
        if isinstance(url, str) and url:
            return tool_base(url), "the Jupyter server running this kernel (its own address)"
    return None, "no Jupyter server found"


def check_tool_url(url: str) -> str:
    """``url`` as the tool's base URL, or a ConfigError that says what is wrong with it."""
    from ..launch import ToolUrls

    try:
        return ToolUrls(url.strip()).base
    except ConfigError:
        raise ConfigError(
            f"the tool URL {url!r} is not an absolute http(s) URL (e.g. http://127.0.0.1:8765 "
            "for nrps-nb serve, or https://hub.example.edu/user/NAME/nrps_nb)"
        ) from None
