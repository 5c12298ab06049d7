"""The standalone launch receiver (``nrps-nb serve``), for people without a Jupyter server.

``ReceiverServer`` runs the receiver's tornado app on its own event loop in a daemon thread
(the demo and the tests use it); ``serve_forever`` runs it in the foreground for the CLI.

Example::

    >>> with ReceiverServer(Workspace("/tmp/ws")) as rcv:                   # doctest: +SKIP
    ...     print(rcv.base_url)                                              # doctest: +SKIP
    http://127.0.0.1:40123
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType

import tornado.httpserver
import tornado.netutil
import tornado.web

from ..http import close_client
from ..workspace import Workspace
from .handlers import SECURITY_HEADERS, ReceiverContext, content_security_policy, routes
from .pages import setup_page

__all__ = ["MAX_BODY_BYTES", "ReceiverServer", "make_app"]

# Bodies up to this size reach the handlers, which answer 413 above MAX_FORM_BYTES; tornado
# itself drops anything larger.
MAX_BODY_BYTES = 1024 * 1024


class _Root(tornado.web.RequestHandler):
    """``/``: the values to paste into an LMS (no launches: this page needs no login)."""

    SUPPORTED_METHODS = ("GET",)

    def initialize(self, ctx: ReceiverContext, url_source: str) -> None:
        self.ctx = ctx
        self.url_source = url_source

    def set_default_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.set_header("Content-Security-Policy", content_security_policy())

    def get(self) -> None:
        ws = self.ctx.workspace
        jwks = ws.tool_jwks()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            setup_page(
                self.ctx.tool,
                url_source=self.url_source,
                jwk=jwks["keys"][0],
                pem=ws.tool_public_pem(),
                launches=None,
            )
        )


def make_app(
    workspace: Workspace, public_url: str, *, url_source: str = "--public-url"
) -> tornado.web.Application:
    ctx = ReceiverContext.create(workspace, public_url)
    handlers: list[tuple[str, type[tornado.web.RequestHandler], dict[str, object]]] = [
        *routes("", ctx),
        ("/", _Root, {"ctx": ctx, "url_source": url_source}),
    ]
    return tornado.web.Application(handlers, xsrf_cookies=False)


class ReceiverServer:
    """The receiver in a background thread. ``public_url`` defaults to the bound address."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        public_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.workspace = workspace
        self.host = host
        self.port = port
        self._public_url = public_url
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: tornado.httpserver.HTTPServer | None = None
        self._sockets: list[socket.socket] = []

    @property
    def base_url(self) -> str:
        """The public base URL (login = BASE/login, redirect = BASE/launch)."""
        if self._public_url is not None:
            return self._public_url.rstrip("/")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> ReceiverServer:
        self._sockets = tornado.netutil.bind_sockets(self.port, self.host)
        self.port = self._sockets[0].getsockname()[1]
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                source = (
                    "--public-url" if self._public_url is not None else "the address it listens on"
                )
                app = make_app(self.workspace, self.base_url, url_source=source)
                self._server = tornado.httpserver.HTTPServer(app, max_body_size=MAX_BODY_BYTES)
                self._server.add_sockets(self._sockets)
            except BaseException as exc:  # reported to start()
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(close_client())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="nrps_nb-receiver", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if server is not None:
                server.stop()
                await server.close_all_connections()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        self._thread.join(timeout=10)
        for sock in self._sockets:
            sock.close()
        self._thread = None
        self._loop = None

    def __enter__(self) -> ReceiverServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
