"""Tornado handlers for the LMS-facing endpoints: login, launch, launch/confirm, jwks.json.

One code path for both receivers: the standalone ``nrps-nb serve`` app and the Jupyter server
extension mount these same classes (``routes()``). They are plain tornado handlers: under
Jupyter they need no Jupyter login (their methods carry the ``@allow_unauthenticated`` mark
that jupyter_server checks) and skip its XSRF check, because an LMS form post is cross-site
and carries no cookie. What protects them instead is server-side, single-use state and nonce,
and, where the platform offers it, the 1EdTech postMessage platform storage (DESIGN §1).

The protocol work is in ``nrps_nb.launch``; these classes only translate HTTP to it and back.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import tornado.httputil
import tornado.web

from ..errors import ConfigError, LaunchError, NrpsNbError, StoreError, StoreFull
from ..http import get_json_cached
from ..jose import JwksCache
from ..launch import (
    ToolUrls,
    confirm_launch,
    origin_of,
    prepare_login,
    store_launch,
    store_pending_launch,
    validate_launch,
)
from ..workspace import Workspace
from .pages import error_page, launch_page, login_storage_page, pending_launch_page

__all__ = [
    "MAX_FORM_BYTES",
    "SECURITY_HEADERS",
    "ConfirmHandler",
    "JwksHandler",
    "LaunchHandler",
    "LoginHandler",
    "ReceiverContext",
    "content_security_policy",
    "routes",
]

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 64 * 1024  # an id_token form post is a few KiB; Canvas's largest are ~20 KiB
MAX_READ_BYTES = 1024 * 1024  # past this the connection is closed without reading on

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

F = TypeVar("F", bound=Callable[..., Any])


def public_endpoint(method: F) -> F:
    """Mark a handler method as reachable without a Jupyter login.

    This is what ``jupyter_server.auth.decorator.allow_unauthenticated`` does (it only sets
    the attribute); setting it here keeps jupyter_server out of ``nrps-nb serve``.
    """
    setattr(method, "__allow_unauthenticated", True)
    return method


def content_security_policy(script_nonce: str | None = None, *, form_action: bool = False) -> str:
    """Our pages' CSP: nothing but inline styles, and our one inline script by its nonce."""
    parts = ["default-src 'none'", "style-src 'unsafe-inline'", "base-uri 'none'"]
    if script_nonce is not None:
        parts.append(f"script-src 'nonce-{script_nonce}'")
    parts.append("form-action 'self'" if form_action else "form-action 'none'")
    return "; ".join(parts)


@dataclass
class ReceiverContext:
    """What the handlers share: the workspace, the tool's public URL, the JWKS cache.

    ``public_url`` is called per request: the Jupyter extension may only know its URL once
    the server listens. It comes from configuration, never from request headers.
    """

    workspace: Workspace
    public_url: Callable[[], str]
    jwks: JwksCache

    @classmethod
    def create(cls, workspace: Workspace, public_url: str | Callable[[], str]) -> ReceiverContext:
        async def fetch(url: str) -> Any:
            # Plain http to a non-loopback key set only for a platform registered with
            # allow_insecure_http (a trusted test LMS), like every other request to it.
            insecure = any(
                p.allow_insecure_http and p.key_set_url == url
                for p in workspace.store.list_platforms()
            )
            return await get_json_cached(url, allow_insecure_http=insecure)

        if callable(public_url):
            resolve = public_url
        else:
            fixed = ToolUrls(public_url).public_url  # fail early on a malformed URL

            def resolve() -> str:
                return fixed

        return cls(workspace=workspace, public_url=resolve, jwks=JwksCache(fetch=fetch))

    @property
    def tool(self) -> ToolUrls:
        return ToolUrls(self.public_url())


@tornado.web.stream_request_body
class _Base(tornado.web.RequestHandler):
    """The body is read by us, in chunks, and kept only up to ``MAX_FORM_BYTES``: a server's
    own limit may be far larger (Jupyter's is 512 MB), and these endpoints need no login."""

    ctx: ReceiverContext
    ALLOW: str | None = None  # the methods that do something, when GET only answers a 405 page

    def initialize(self, ctx: ReceiverContext) -> None:
        self.ctx = ctx
        self._body = bytearray()
        self._body_bytes = 0

    def set_default_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.set_header("Content-Security-Policy", content_security_policy())

    def check_xsrf_cookie(self) -> None:
        # LMS form posts are cross-site and carry no cookie; single-use state protects them.
        return

    def prepare(self) -> None:
        # Never read more than this of any body, whatever the server would allow.
        self.request.connection.set_max_body_size(MAX_READ_BYTES)  # type: ignore[union-attr]
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
            self._too_large(int(declared))  # answered before the body is read

    def data_received(self, chunk: bytes) -> None:
        self._body_bytes += len(chunk)
        if self._body_bytes <= MAX_FORM_BYTES:
            self._body.extend(chunk)

    def _too_large(self, size: int) -> None:
        self.fail(
            413,
            None,
            f"The request body is {size} bytes; this endpoint accepts at most {MAX_FORM_BYTES}.",
            "Launch again from the LMS; an LTI form post is never this large.",
        )

    def read_form(self) -> bool:
        """Parse the body read so far into the request's arguments; False (and a 413 page)
        when it was too large."""
        if self._body_bytes > MAX_FORM_BYTES:
            self._too_large(self._body_bytes)
            return False
        request = self.request
        request.body = bytes(self._body)
        tornado.httputil.parse_body_arguments(
            request.headers.get("Content-Type", ""),
            request.body,
            request.body_arguments,
            request.files,
            request.headers,
        )
        for name, values in request.body_arguments.items():
            request.arguments.setdefault(name, []).extend(values)
        return True

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = self._reason or "error"
        self.set_header("Content-Type", "text/html; charset=utf-8")
        if status_code == 405:  # a method this endpoint does not answer (PUT, DELETE, ...)
            allowed = self.ALLOW or ", ".join(self.SUPPORTED_METHODS)
            self.set_header("Allow", allowed)
            self.finish(
                error_page(
                    None,
                    f"HTTP 405: this URL answers {allowed} only, not {self.request.method}.",
                    "Use the URLs the setup page lists, as the LMS registration does.",
                )
            )
            return
        self.finish(error_page(None, f"HTTP {status_code}: {reason}", ""))

    def fail(
        self, status: int, exc: LaunchError | None, message: str, remedy: str | None = None
    ) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(error_page(exc, message, remedy))

    def send_page(self, html: str, *, script_nonce: str | None = None, form: bool = False) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        csp = content_security_policy(script_nonce, form_action=form)
        self.set_header("Content-Security-Policy", csp)
        self.finish(html)

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in self.request.arguments:
            value = self.get_argument(name, default=None, strip=False)
            if value is not None:
                out[name] = value
        return out

    def tool_or_fail(self) -> ToolUrls | None:
        try:
            return self.ctx.tool
        except ConfigError as exc:
            self.fail(
                500,
                None,
                f"This receiver has no usable public URL: {exc}",
                "Configure it (NrpsNbApp.public_url or NRPS_NB_PUBLIC_URL for Jupyter, "
                "--public-url for nrps-nb serve).",
            )
            return None

    def method_not_allowed(self, allowed: str, message: str, remedy: str) -> None:
        self.set_header("Allow", allowed)
        self.fail(405, None, message, remedy)

    async def run_guarded(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step``; turn every nrps_nb error into a page with the right status."""
        try:
            await step()
        except LaunchError as exc:
            log.info("refused (%s): %s", exc.check, exc)
            self.fail(exc.http_status, exc, str(exc))
        except StoreFull as exc:
            self.fail(503, None, str(exc), "Try again in a few minutes.")
        except (ConfigError, StoreError) as exc:
            self.fail(500, None, str(exc), "Check the workspace and the platform registration.")
        except NrpsNbError as exc:
            self.fail(502, None, str(exc), "Try the launch again.")


class LoginHandler(_Base):
    """OIDC third-party initiated login (GET or POST): on to the platform's auth endpoint.

    Without ``lti_storage_target`` the answer is a 302. With it, an HTML page first stores
    state and nonce in the platform's frame by postMessage, then continues (DESIGN §1).
    """

    SUPPORTED_METHODS = ("GET", "POST")

    async def _login(self) -> None:
        tool = self.tool_or_fail()
        if tool is None:
            return
        params = self.params()

        async def step() -> None:
            login = prepare_login(self.ctx.workspace.store, params, tool)
            if login.storage_target is None:
                self.redirect(login.url, status=302)
                return
            unbound = {k: v for k, v in params.items() if k != "lti_storage_target"}
            nonce = secrets.token_urlsafe(16)
            data = {
                "state": login.state,
                "nonce": login.nonce,
                "target": login.storage_target,
                "origin": login.platform_origin,
                "auth": login.url,
                "fallback": "login?" + urlencode(unbound),
            }
            self.send_page(login_storage_page(nonce, data), script_nonce=nonce)

        await self.run_guarded(step)

    @public_endpoint
    async def get(self) -> None:
        await self._login()

    @public_endpoint
    async def post(self) -> None:
        if self.read_form():
            await self._login()


class LaunchHandler(_Base):
    """The redirect_uri: the platform form-posts id_token and state here."""

    SUPPORTED_METHODS = ("GET", "POST")
    ALLOW = "POST"

    @public_endpoint
    def get(self) -> None:
        self.method_not_allowed(
            "POST",
            "This is the tool's launch URL (its redirect URI): the LMS form-posts the launch "
            "here. Opening it directly does nothing.",
            "Click the nrps_nb link in a course of the LMS instead.",
        )

    @public_endpoint
    async def post(self) -> None:
        if not self.read_form():
            return
        error = self.get_body_argument("error", default=None)
        if error is not None:
            description = self.get_body_argument("error_description", default="") or ""
            self.fail(
                400,
                None,
                f"The platform answered the login with an error: {error} {description}".strip(),
                "Check the tool's registration in the LMS (redirect URI, client id) and that "
                "you are logged in to the LMS.",
            )
            return
        tool = self.tool_or_fail()
        if tool is None:
            return
        id_token = self.get_body_argument("id_token", default=None)
        state = self.get_body_argument("state", default=None)
        store = self.ctx.workspace.store

        async def step() -> None:
            validated = await validate_launch(store, id_token, state, tool, self.ctx.jwks)
            if validated.storage_target is None:
                launch = store_launch(store, validated)
                log.info("launch %s stored for platform %s", launch.id, launch.platform)
                self.send_page(launch_page(launch))
                return
            launch, token = store_pending_launch(store, validated)
            log.info("launch %s pending its browser's storage confirmation", launch.id)
            nonce = secrets.token_urlsafe(16)
            data = {
                "launch": launch.id,
                "token": token,
                "state": validated.state,
                "nonce": validated.nonce,
                "target": validated.storage_target,
                "origin": origin_of(validated.platform.auth_login_url),
            }
            self.send_page(pending_launch_page(launch, nonce, data), script_nonce=nonce, form=True)

        await self.run_guarded(step)


class ConfirmHandler(_Base):
    """The launch page's second request: state and nonce read back from platform storage."""

    SUPPORTED_METHODS = ("GET", "POST")
    ALLOW = "POST"

    @public_endpoint
    def get(self) -> None:
        self.method_not_allowed(
            "POST",
            "This URL confirms a launch from the launch page's script; opening it directly "
            "does nothing.",
            "Click the nrps_nb link in a course of the LMS instead.",
        )

    @public_endpoint
    async def post(self) -> None:
        if not self.read_form():
            return
        store = self.ctx.workspace.store
        args = {
            name: self.get_body_argument(name, default=None)
            for name in ("launch", "token", "state_value", "nonce_value")
        }

        async def step() -> None:
            launch = confirm_launch(
                store, args["launch"], args["token"], args["state_value"], args["nonce_value"]
            )
            log.info("launch %s confirmed by platform storage", launch.id)
            self.send_page(launch_page(launch))

        await self.run_guarded(step)


class JwksHandler(_Base):
    """The tool's public key set (the LMS fetches it to check client assertions)."""

    SUPPORTED_METHODS = ("GET",)

    @public_endpoint
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "max-age=300")
        self.finish(json.dumps(self.ctx.workspace.tool_jwks()))


def routes(prefix: str, ctx: ReceiverContext) -> list[tuple[str, type[_Base], dict[str, Any]]]:
    """The URL patterns under ``prefix`` (``""`` for the standalone app)."""
    prefix = prefix.rstrip("/")
    return [
        (prefix + "/login", LoginHandler, {"ctx": ctx}),
        (prefix + "/launch", LaunchHandler, {"ctx": ctx}),
        (prefix + "/launch/confirm", ConfirmHandler, {"ctx": ctx}),
        (prefix + "/jwks.json", JwksHandler, {"ctx": ctx}),
    ]
