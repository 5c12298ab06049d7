"""Test helpers: a scripted HTTP server on loopback, and a platform key that signs id_tokens."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import tornado.httpserver
import tornado.netutil
import tornado.web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

Responder = Callable[[tornado.web.RequestHandler], tuple[int, dict[str, str], bytes | str]]


class ThreadedApp:
    """A tornado Application served on 127.0.0.1 from a daemon thread."""

    def __init__(self, app: tornado.web.Application) -> None:
        self.app = app
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: tornado.httpserver.HTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedApp:
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._server = tornado.httpserver.HTTPServer(self.app)
            self._server.add_sockets(sockets)
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
        assert self._loop is not None and self._thread is not None
        loop, server = self._loop, self._server

        async def shutdown() -> None:
            assert server is not None
            server.stop()
            await server.close_all_connections()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        self._thread.join(timeout=10)

    def __enter__(self) -> ThreadedApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Scripted:
    """Routes of a scripted server: path -> list of responders, used in order (last repeats)."""

    routes: dict[str, list[Responder]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def add(self, path: str, *responders: Responder) -> None:
        self.routes.setdefault(path, []).extend(responders)


def respond(status: int = 200, body: Any = b"", headers: dict[str, str] | None = None) -> Responder:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    hdrs = {"Content-Type": "application/json"} if not isinstance(body, bytes | str) else {}
    hdrs.update(headers or {})
    return lambda _h: (status, hdrs, data)


def scripted_server(script: Scripted) -> ThreadedApp:
    class Handler(tornado.web.RequestHandler):
        def _serve(self) -> None:
            path = self.request.path
            script.requests.append((self.request.method or "", self.request.uri or "",
                                    dict(self.request.headers)))  # fmt: skip
            responders = script.routes.get(path)
            if not responders:
                self.set_status(404)
                self.finish("not found")
                return
            responder = responders.pop(0) if len(responders) > 1 else responders[0]
            status, headers, body = responder(self)
            self.set_status(status)
            for k, v in headers.items():
                if k.lower() == "link":
                    for value in v.split("\n"):
                        self.add_header("Link", value)
                else:
                    self.set_header(k, v)
            self.finish(body)

        def get(self) -> None:
            self._serve()

        def post(self) -> None:
            self._serve()

    return ThreadedApp(tornado.web.Application([(r"/.*", Handler)]))


class PlatformKey:
    """An RSA platform key that signs id_tokens, with its JWKS."""

    def __init__(self, kid: str | None = None, bits: int = 2048) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        self.kid = kid or uuid.uuid4().hex[:12]

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return jwk

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None,
             alg: str = "RS256") -> str:  # fmt: skip
        hdrs = {"kid": self.kid}
        hdrs.update(headers or {})
        return jwt.encode(claims, self.private, algorithm=alg, headers=hdrs)


def add_scripted_platform(ws: Any, server: ThreadedApp, name: str = "lms") -> Any:
    """Register a scripted server as platform ``name`` (token at /token, keys at /jwks)."""
    return ws.add_platform(
        name,
        issuer="https://lms.example.edu",
        client_id="c",
        auth_login_url=server.base_url + "/auth",
        auth_token_url=server.base_url + "/token",
        key_set_url=server.base_url + "/jwks",
    )


def now() -> int:
    return int(time.time())
