"""Tornado handlers for the LMS-facing endpoints: login, launch, jwks.json.

One code path for both receivers: the standalone ``nrps-nb serve`` app and (later) the
Jupyter server extension mount these same classes. The protocol work is in
``nrps_nb.launch``; these classes only translate HTTP to it and back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import tornado.web

from ..errors import ConfigError, LaunchError, NrpsNbError, StoreError
from ..http import get_json
from ..jose import JwksCache
from ..launch import ToolUrls, begin_login, store_launch, validate_launch
from ..workspace import Workspace
from .pages import error_page, launch_page

__all__ = ["JwksHandler", "LaunchHandler", "LoginHandler", "ReceiverContext", "routes"]

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
    ),
}


@dataclass
class ReceiverContext:
    """What the handlers share: the workspace, the tool's public URLs, the JWKS cache."""

    workspace: Workspace
    tool: ToolUrls
    jwks: JwksCache

    @classmethod
    def create(cls, workspace: Workspace, public_url: str) -> ReceiverContext:
        async def fetch(url: str) -> Any:
            return await get_json(url)

        return cls(workspace=workspace, tool=ToolUrls(public_url), jwks=JwksCache(fetch=fetch))


class _Base(tornado.web.RequestHandler):
    ctx: ReceiverContext

    def initialize(self, ctx: ReceiverContext) -> None:
        self.ctx = ctx

    def set_default_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)

    def check_xsrf_cookie(self) -> None:
        # LMS form posts are cross-site and carry no cookie; single-use state protects them.
        return

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = self._reason or "error"
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(error_page(None, f"HTTP {status_code}: {reason}", ""))

    def fail(
        self, status: int, exc: LaunchError | None, message: str, remedy: str | None = None
    ) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(error_page(exc, message, remedy))

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in self.request.arguments:
            value = self.get_argument(name, default=None, strip=False)
            if value is not None:
                out[name] = value
        return out


class LoginHandler(_Base):
    """OIDC third-party initiated login (GET or POST): redirect to the platform's auth URL."""

    SUPPORTED_METHODS = ("GET", "POST")

    def _login(self) -> None:
        try:
            redirect = begin_login(self.ctx.workspace.store, self.params(), self.ctx.tool)
        except LaunchError as exc:
            log.info("login refused: %s", exc)
            self.fail(400, exc, str(exc))
            return
        except StoreError as exc:
            self.fail(503, None, str(exc), "Try again in a few minutes.")
            return
        self.redirect(redirect, status=302)

    def get(self) -> None:
        self._login()

    def post(self) -> None:
        self._login()


class LaunchHandler(_Base):
    """The redirect_uri: the platform form-posts id_token and state here."""

    SUPPORTED_METHODS = ("POST",)

    async def post(self) -> None:
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
        id_token = self.get_body_argument("id_token", default=None)
        state = self.get_body_argument("state", default=None)
        store = self.ctx.workspace.store
        try:
            validated = await validate_launch(store, id_token, state, self.ctx.tool, self.ctx.jwks)
            launch = store_launch(store, validated)
        except LaunchError as exc:
            log.info("launch refused (%s): %s", exc.check, exc)
            self.fail(exc.http_status, exc, str(exc))
            return
        except (ConfigError, StoreError) as exc:
            self.fail(500, None, str(exc), "Check the workspace and the platform registration.")
            return
        except NrpsNbError as exc:
            self.fail(502, None, str(exc), "Try the launch again.")
            return
        log.info("launch %s stored for platform %s", launch.id, launch.platform)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(launch_page(launch))


class JwksHandler(_Base):
    """The tool's public key set (the LMS fetches it to check client assertions)."""

    SUPPORTED_METHODS = ("GET",)

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
        (prefix + "/jwks.json", JwksHandler, {"ctx": ctx}),
    ]
