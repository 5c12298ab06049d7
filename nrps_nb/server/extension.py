"""The Jupyter server extension: launch capture where researchers work.

Installed with nrps_nb and enabled by ``etc/jupyter/jupyter_server_config.d/nrps_nb.json``
(turn it off with ``jupyter server extension disable nrps_nb``). Under ``{base_url}nrps_nb/``:

* ``login`` (GET, POST), ``launch`` (POST), ``launch/confirm`` (POST), ``jwks.json`` (GET):
  the LMS-facing endpoints, the same handler classes as ``nrps-nb serve``, with no Jupyter
  login and no XSRF cookie (single-use server-side state and nonce protect them);
* ``{base_url}nrps_nb/`` itself: the setup page, behind Jupyter's login: the values to paste
  into an LMS and the captured launches.

Configuration (``jupyter_server_config.py`` or the command line)::

    c.NrpsNbApp.public_url = "https://hub.example.edu/user/alice/"

The public URL is this Jupyter server's address as browsers reach it, base_url included; the
tool's URLs are under it at ``nrps_nb/``. It comes from ``NrpsNbApp.public_url``, else the
``NRPS_NB_PUBLIC_URL`` environment variable, else (on JupyterHub) ``JUPYTERHUB_PUBLIC_URL``'s
origin + ``JUPYTERHUB_SERVICE_PREFIX``, else the server's own configured address. Never from
request headers: behind proxies they give the wrong scheme and host.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.extension.handler import ExtensionHandlerMixin
from traitlets import Unicode, default

from ..errors import ConfigError, NrpsNbError
from ..http import close_client
from ..launch import ToolUrls
from ..workspace import ENV_HOME, Workspace
from .handlers import SECURITY_HEADERS, ReceiverContext, content_security_policy, routes
from .pages import setup_page

__all__ = ["ENV_PUBLIC_URL", "PREFIX", "NrpsNbApp", "SetupHandler"]

ENV_PUBLIC_URL = "NRPS_NB_PUBLIC_URL"
PREFIX = "nrps_nb"


def jupyterhub_public_url() -> str | None:
    """On JupyterHub: ``JUPYTERHUB_PUBLIC_URL``'s origin + ``JUPYTERHUB_SERVICE_PREFIX`` (the
    public URL may name the hub or already the user's server; its origin is what counts).
    None elsewhere. The extension and the notebook forms both use this.

    >>> os.environ.update(JUPYTERHUB_PUBLIC_URL="https://hub.example.edu/user/alice/",
    ...                   JUPYTERHUB_SERVICE_PREFIX="/user/alice/")   # doctest: +SKIP
    >>> jupyterhub_public_url()                                        # doctest: +SKIP
    'https://hub.example.edu/user/alice/'
    """
    parts = urlsplit(os.environ.get("JUPYTERHUB_PUBLIC_URL", ""))
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "")
    if parts.scheme and parts.netloc and prefix:
        return f"{parts.scheme}://{parts.netloc}/" + prefix.lstrip("/")
    return None


def tool_base(server_url: str) -> str:
    """The tool's base URL under a Jupyter server's public URL (``…/nrps_nb``).

    A URL that already ends in ``/nrps_nb`` is taken as the tool's base itself.
    """
    base = server_url.rstrip("/")
    if base.endswith("/" + PREFIX):
        return base
    return f"{base}/{PREFIX}"


class SetupHandler(ExtensionHandlerMixin, JupyterHandler):
    """``{base_url}nrps_nb/``: what to paste into an LMS, and the captured launches."""

    ctx: ReceiverContext

    def initialize(self, name: str, ctx: ReceiverContext) -> None:
        super().initialize(name)
        self.ctx = ctx

    @property
    def content_security_policy(self) -> str:
        return content_security_policy() + "; frame-ancestors 'self'"

    def set_default_headers(self) -> None:
        super().set_default_headers()
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)

    @tornado.web.authenticated
    def get(self) -> None:
        app = self.extensionapp
        assert isinstance(app, NrpsNbApp)
        url, source = app.resolve_public_url()
        tool: ToolUrls | None = None
        problem = None
        try:
            tool = ToolUrls(tool_base(url))
        except ConfigError as exc:
            problem = str(exc)
        ws = self.ctx.workspace
        html = setup_page(
            tool,
            url_source=source,
            jwk=ws.tool_jwks()["keys"][0],
            pem=ws.tool_public_pem(),
            launches=ws.store.list_launches(),
            problem=problem,
        )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(html)


class NrpsNbApp(ExtensionApp):
    """nrps_nb's Jupyter server extension (configure as ``c.NrpsNbApp.…``)."""

    name = "nrps_nb"
    load_other_extensions = True
    extension_url = "/nrps_nb/"

    public_url = Unicode(
        help=(
            "The public URL of this Jupyter server as browsers reach it, base_url included "
            "(e.g. https://hub.example.edu/user/alice/). The LTI endpoints are under it at "
            "nrps_nb/. Default: $NRPS_NB_PUBLIC_URL, else JupyterHub's public URL and service "
            "prefix, else the server's own address."
        )
    ).tag(config=True)

    home = Unicode(
        help=(
            "The nrps_nb workspace directory. Default: $NRPS_NB_HOME, else the user data "
            "directory. When set, kernels started by this server get it as NRPS_NB_HOME."
        )
    ).tag(config=True)

    @default("public_url")
    def _default_public_url(self) -> str:
        return os.environ.get(ENV_PUBLIC_URL, "")

    def resolve_public_url(self) -> tuple[str, str]:
        """This server's public URL and where it came from (for the setup page and logs)."""
        if self.public_url:
            explicit = "NrpsNbApp.public_url"
            if os.environ.get(ENV_PUBLIC_URL) == self.public_url:
                explicit = f"${ENV_PUBLIC_URL}"
            return self.public_url, explicit
        hub = jupyterhub_public_url()
        if hub is not None:
            return hub, "$JUPYTERHUB_PUBLIC_URL + $JUPYTERHUB_SERVICE_PREFIX"
        serverapp = self.serverapp
        assert serverapp is not None
        return str(serverapp.connection_url), (
            "this server's own address (not configured: set NrpsNbApp.public_url or "
            f"${ENV_PUBLIC_URL}; it changes when the port does)"
        )

    def _tool_base(self) -> str:
        return tool_base(self.resolve_public_url()[0])

    def initialize_settings(self) -> None:
        if self.home:
            os.environ[ENV_HOME] = self.home  # kernels started by this server inherit it
        self._context: ReceiverContext | None = None
        try:
            ws = Workspace(self.home or None)
            ws.init()
        except NrpsNbError as exc:
            self.log.error("nrps_nb: launch capture is off: %s", exc)
            return
        self._context = ReceiverContext.create(ws, self._tool_base)
        url, source = self.resolve_public_url()
        self.log.info(
            "nrps_nb: launch capture at %s (public URL from %s); workspace %s",
            tool_base(url),
            source,
            ws.home,
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        if getattr(self, "_context", None) is None:
            return
        url, source = self.resolve_public_url()
        try:
            tool = ToolUrls(tool_base(url))
        except ConfigError as exc:
            self.log.warning("nrps_nb: no usable public URL (%s): %s", source, exc)
            return
        self.log.info(
            "nrps_nb: LMS login URL %s, redirect URI %s, JWKS %s (public URL from %s)",
            tool.login_url,
            tool.launch_url,
            tool.jwks_url,
            source,
        )

    async def stop_extension(self) -> None:
        """Close the HTTP client this server's loop used for platform key sets."""
        await close_client()

    def initialize_handlers(self) -> None:
        ctx = getattr(self, "_context", None)
        if ctx is None:
            return
        self.handlers.extend(
            [
                (rf"/{PREFIX}/?", SetupHandler, {"ctx": ctx}),
                *routes(f"/{PREFIX}", ctx),
            ]
        )
