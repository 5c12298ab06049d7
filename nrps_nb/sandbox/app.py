"""The tornado application and a server that runs it on a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from types import FrameType, TracebackType
from typing import Any, TypeVar

import tornado.netutil
import tornado.web
from tornado.httpserver import HTTPServer

from .base import log_request
from .config import DEFAULT_TOOL_URL, SandboxConfig
from .discovery import JwksHandler, OpenIdConfigurationHandler
from .faults import Fault, FaultBook
from .keys import PlatformKey
from .nrps import MembershipsHandler
from .oidc import AuthHandler, LoginInitiationHandler
from .pages import CourseHandler, IndexHandler
from .roster import Course
from .state import AccessTokens, Platform, build_courses
from .storage import STORAGE_FRAME, EmbedHandler, StorageFrameHandler
from .tokens import TokenHandler

_COURSE = r"([A-Za-z0-9][A-Za-z0-9._-]*)"
T = TypeVar("T")


def make_app(platform: Platform) -> tornado.web.Application:
    """All sandbox routes, bound to one platform state."""
    kw = {"platform": platform}
    return tornado.web.Application(
        [
            (r"/", IndexHandler, kw),
            (rf"/courses/{_COURSE}", CourseHandler, kw),
            (rf"/courses/{_COURSE}/launch", LoginInitiationHandler, kw),
            (rf"/courses/{_COURSE}/embed", EmbedHandler, kw),
            (rf"/lti/{STORAGE_FRAME}", StorageFrameHandler, kw),
            # The platform-facing paths are the profile's (Canvas's, Moodle's, ...).
            (platform.route("auth"), AuthHandler, kw),
            (platform.route("token"), TokenHandler, kw),
            (platform.route("jwks"), JwksHandler, kw),
            (r"/\.well-known/openid-configuration", OpenIdConfigurationHandler, kw),
            (platform.route("memberships"), MembershipsHandler, kw),
        ],
        log_function=log_request,
    )


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 - mapping a wildcard bind to a usable URL
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class SandboxServer:
    """A sandbox LMS on a daemon thread. ``start()`` returns once it is listening."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config if config is not None else SandboxConfig()
        # Courses and key exist before start() so that tests can inspect rosters up front.
        self._courses = build_courses(self.config)
        self._key = PlatformKey()
        self._platform: Platform | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    # lifecycle ------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
        if self._thread is not None or self._platform is not None:
            raise RuntimeError("this SandboxServer was already started")
        sockets = tornado.netutil.bind_sockets(port, host or None)
        base_url = f"http://{_url_host(host)}:{sockets[0].getsockname()[1]}"
        platform = Platform(self.config, base_url, self._key, self._courses)
        ready = threading.Event()
        errors: list[BaseException] = []
        thread = threading.Thread(
            target=self._serve,
            args=(platform, sockets, ready, errors),
            name=f"nrps-nb-sandbox-{base_url}",
            daemon=True,
        )
        thread.start()
        ready.wait()
        if errors:
            thread.join()
            raise RuntimeError("the sandbox server failed to start") from errors[0]
        self._platform, self._thread = platform, thread
        return self

    def _serve(
        self,
        platform: Platform,
        sockets: list[socket.socket],
        ready: threading.Event,
        errors: list[BaseException],
    ) -> None:
        async def main() -> None:
            try:
                server = HTTPServer(make_app(platform))
                server.add_sockets(sockets)
                self._stop_event = asyncio.Event()
                self._loop = asyncio.get_running_loop()
            except BaseException as exc:
                for sock in sockets:
                    sock.close()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await self._stop_event.wait()
            finally:
                server.stop()
                await server.close_all_connections()

        asyncio.run(main())

    def stop(self) -> None:
        """Stop serving, close every connection and join the thread (idempotent)."""
        thread, loop, event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(event.set)
        thread.join()
        self._thread = self._loop = self._stop_event = None

    def __enter__(self) -> SandboxServer:
        if self._platform is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # introspection --------------------------------------------------------------------------

    @property
    def _running(self) -> Platform:
        if self._platform is None:
            raise RuntimeError("the SandboxServer is not started; call start() first")
        return self._platform

    @property
    def base_url(self) -> str:
        """The issuer, e.g. ``http://127.0.0.1:PORT`` (no trailing slash)."""
        return self._running.base_url

    def _course(self, course_id: str) -> Course:
        try:
            return self._courses[course_id]
        except KeyError:
            raise KeyError(f"no sandbox course {course_id!r}; have {list(self._courses)}") from None

    def memberships_url(self, course_id: str) -> str:
        self._course(course_id)
        return self._running.memberships_url(course_id)

    def launch_url(self, course_id: str, user_id: str | None = None) -> str:
        """Where a browser starts a launch as ``user_id`` (default: the course instructor)."""
        course = self._course(course_id)
        if user_id is None:
            user_id = str(course.instructor["user_id"])
        elif course.member(user_id) is None:
            raise KeyError(f"no user {user_id!r} in course {course_id!r}")
        return self._running.launch_url(course_id, user_id)

    def embed_url(self, course_id: str, user_id: str | None = None, *, window: bool = False) -> str:
        """The course page with the tool in an iframe (or a new window) and platform storage."""
        url = self.launch_url(course_id, user_id).replace("/launch?", "/embed?", 1)
        return url + ("&target=window" if window else "")

    def course(self, course_id: str) -> Course:
        """A course as the platform lists it (context id, resource link id, members)."""
        return self._course(course_id)

    def course_members(self, course_id: str) -> list[dict[str, Any]]:
        """A copy of every NRPS member dict of the course, in listing order."""
        return self._course(course_id).members_copy()

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (between requests) and return its result."""
        loop = self._loop
        if loop is None or self._platform is None:
            raise RuntimeError("the SandboxServer is not started; call start() first")

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=30)

    def mutate(
        self,
        course_id: str,
        *,
        drop: Iterable[str] = (),
        deactivate: Iterable[str] = (),
        add: int = 0,
        change_role: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Change a course's roster; returns the user ids of the ``add`` new learners.

        ``drop`` removes members, ``deactivate`` makes them Inactive (left out of the listing
        on platforms that list active enrolments only), ``change_role`` maps user ids to
        Learner, Instructor or TeachingAssistant. Memberships answers reflect the change at
        once; a differences URL handed out before lists exactly the changed members
        (removed ones with status Deleted). KeyError for an unknown course or member.
        """
        self._course(course_id)
        drop, deactivate = list(drop), list(deactivate)
        roles = dict(change_role or {})
        return self._on_loop(
            lambda: self._running.mutate(
                course_id, drop=drop, deactivate=deactivate, add=add, change_role=roles
            )
        )

    def set_faults(self, *faults: Fault) -> None:
        """Replace the injected faults (and their counters); no arguments: no more faults."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"not a Fault: {fault!r}")
        book = FaultBook(tuple(faults))

        def install() -> None:
            self._running.faults = book

        self._on_loop(install)

    @property
    def faults_fired(self) -> list[int]:
        """How often each installed fault has fired so far."""
        return list(self._running.faults.fired)

    def revoke_access_tokens(self) -> None:
        """Forget every access token issued so far (as an LMS does after a restart)."""
        self._running.access_tokens = AccessTokens()

    def jwks(self) -> dict[str, Any]:
        """The platform's public JWKS (what ``GET /jwks`` serves)."""
        return self._key.jwks()

    @property
    def stats(self) -> dict[str, int]:
        p = self._running
        return {**p.stats, "tool_jwks_fetches": p.tool_keys.fetches}

    def info(self) -> dict[str, str]:
        p = self._running
        first = self.config.courses[0].course_id
        return {
            "profile": self.config.profile,
            "issuer": p.issuer,
            "client_id": self.config.client_id,
            "deployment_id": self.config.deployment_id,
            "auth_login_url": p.auth_url,
            "auth_token_url": p.token_url,
            "token_audience": p.assertion_audience,
            "key_set_url": p.jwks_url,
            "memberships_url": self.memberships_url(first),
            "launch_url": self.launch_url(first),
        }


def run(
    host: str = "127.0.0.1",
    port: int = 8766,
    tool_url: str = DEFAULT_TOOL_URL,
    tool_jwk: dict[str, Any] | None = None,
    profile: str | None = None,
) -> None:
    """Serve a sandbox until Ctrl-C or SIGTERM, after printing its ``info()`` as one JSON line.

    ``profile`` makes it behave like one LMS (see ``profiles.PROFILES``); ValueError if unknown.
    """
    config = SandboxConfig(tool_url=tool_url, tool_jwk=tool_jwk, profile=profile or "sandbox")
    server = SandboxServer(config)
    server.start(host, port)
    stop = threading.Event()
    previous: Any = None
    in_main = threading.current_thread() is threading.main_thread()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        if in_main:
            previous = signal.signal(signal.SIGTERM, on_sigterm)
        print(json.dumps(server.info()), flush=True)
        # Short waits keep the main thread responsive to signals.
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        server.stop()
