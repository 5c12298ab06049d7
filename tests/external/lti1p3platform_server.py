"""HTTP glue that stands up the third-party PyPI package ``lti1p3platform`` (0.1.8) as a platform.

The package is framework-agnostic: it ships abstract classes and Django/FastAPI adapters, no
server. This module is the tornado adapter plus the data a platform needs (a course, its members),
so that our client can run a launch and a roster fetch against an LTI 1.3 platform nobody here
wrote. It lives in ``tests/`` and must not import ``nrps_nb``.

What is the package's and what is ours:

* ``lti1p3platform.registration.Registration`` holds the registration and does the signing: the
  platform JWKS (``get_jwks``/``get_jwk``, kid = RFC 7638 thumbprint via jwcrypto) and the RS256
  signing of id_tokens and access tokens (``platform_encode_and_sign``/``encode_and_sign``).
* ``lti1p3platform.ltiplatform.LTI1P3PlatformConfAbstract`` (subclassed here as ``_PlatformConf``)
  serves the JWKS, looks up the tool key set (static, or fetched from the tool's JWKS URL with
  ``requests``), validates the client assertion and issues the access token (``get_access_token``)
  and validates bearer tokens (``validate_token``).
* ``lti1p3platform.oidc_login.OIDCLoginAbstract`` (``_OIDCLogin``) builds the redirect to the
  tool's OIDC login initiation URL (``prepare_preflight_url``/``initiate_login``).
* ``lti1p3platform.message_launch.LTIAdvantageMessageLaunchAbstract`` (``_MessageLaunch``)
  validates the auth request (``validate_preflight_response``: nonce, state, redirect_uri,
  client_id), builds the launch message (``set_user_data``, ``set_resource_link_claim``,
  ``set_launch_context_claim``, ``set_nrps``...) and signs the id_token; the auto-submit form is
  the package's Jinja template ``lti1p3platform/framework/templates/launch.html`` (loaded with the
  package's loader settings, see ``PACKAGE_TEMPLATES``).
* ``lti1p3platform.service_connector.NamesRoleProvisioningService`` (``_Nrps``) answers the
  memberships request: bearer check (``authenticate`` decorator -> ``validate_token``), the
  container (``membership.ContextMembership``), member cleaning, the ``next`` page URL;
  ``lti1p3platform.response.generate_next_link`` makes the ``Link`` header (as in the package's
  Django ``wrap_json_resp``, which also leaves the ``next`` URL in the JSON body).

Ours (the glue): the tornado routes, server thread and request adapter (``TornadoRequest``), the
course and its members, the single-use ``lti_message_hint``, and the checks the package skips (each
one is marked ``GLUE:`` below and explained in the module's tests):

* auth request: ``scope`` contains ``openid``, ``response_type=id_token``,
  ``response_mode=form_post``, ``prompt=none``, ``redirect_uri`` equal to the registered launch URL
  (the package posts the id_token to whatever ``redirect_uri`` the request names), ``login_hint``
  equal to the user the launch was started for, ``lti_message_hint`` known and unused;
* the launch form's values are HTML-escaped before they reach the package's template (its Jinja
  environment has autoescape off, and ``state`` comes from the tool);
* token request: ``client_assertion_type`` value, RFC 7523 claims the package never checks (``iss``
  = ``sub`` = client_id, ``aud`` contains the token URL, ``exp``/``iat``/``jti`` present, lifetime
  at most 5 minutes, ``jti`` not replayed), ``invalid_scope`` when no requested scope is granted,
  RFC 6749 error bodies and ``Cache-Control: no-store``;
* NRPS: ``page``/``limit`` handed to the package as ints (its paging does ``page + 1`` on the query
  string value: a request for page 2 that has a page after it raises TypeError), a server-side
  default page size (the package only pages when the client sends ``limit``), 401 instead of an
  unhandled exception for a malformed or expired bearer token (``validate_token`` raises instead
  of returning False), ``role`` filtering.
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import secrets
import threading
import time
import typing as t
from urllib.parse import urlencode

import jinja2
import jwt
import tornado.httpserver
import tornado.netutil
import tornado.web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.exceptions import (
    InvalidKeySetUrl,
    LtiException,
    MissingRequiredClaim,
    PreflightRequestValidationException,
    UnsupportedGrantType,
)
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest
from lti1p3platform.response import Response, generate_next_link
from lti1p3platform.service_connector import NamesRoleProvisioningService, TPage

LIS = "http://purl.imsglobal.org/vocab/lis/v2/membership"
ROLE_INSTRUCTOR = f"{LIS}#Instructor"
ROLE_TA = f"{LIS}/Instructor#TeachingAssistant"
ROLE_LEARNER = f"{LIS}#Learner"
COURSE_OFFERING = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
NRPS_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# The package's auto-submit form, lti1p3platform/framework/templates/launch.html, loaded the way
# the package's own lti1p3platform/framework/templates/__init__.py loads it (same loader, same
# default settings: autoescape off) but without importing that module, which imports
# pkg_resources, a setuptools module the package does not declare (absent from venvs made by uv,
# removed from recent setuptools).
PACKAGE_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("lti1p3platform.framework", package_path="templates"),
    autoescape=False,  # noqa: S701 - as the package does; the glue escapes the values itself
)
LAUNCH_TEMPLATE = PACKAGE_TEMPLATES.get_template("launch.html")

LEEWAY = 60  # seconds of clock skew accepted in the glue's own checks
MAX_ASSERTION_LIFETIME = 300  # DESIGN §1: the client assertion lives at most 5 minutes


def make_members() -> list[dict[str, t.Any]]:
    """The course: 1 instructor, 1 TA (Canvas style: Instructor + the TA sub-role), 23 learners."""
    members: list[dict[str, t.Any]] = [
        {
            "status": "Active",
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.edu",
            "user_id": "ext-instructor-1",
            "roles": [ROLE_INSTRUCTOR],
        },
        {
            "status": "Active",
            "name": "Zoë Ångström",
            "given_name": "Zoë",
            "family_name": "Ångström",
            "email": "zoe@example.edu",
            "user_id": "ext-ta-1",
            "roles": [ROLE_INSTRUCTOR, ROLE_TA],
        },
    ]
    for i in range(1, 24):
        member: dict[str, t.Any] = {
            "status": "Inactive" if i == 23 else "Active",
            "name": f"Learner {i:02d}",
            "given_name": "Learner",
            "family_name": f"{i:02d}",
            "user_id": f"ext-learner-{i:02d}",
            "roles": [ROLE_LEARNER],
        }
        if i != 7:  # one member without an email address
            member["email"] = f"learner{i:02d}@example.edu"
        members.append(member)
    return members


# --------------------------------------------------------------------------------------------
# Adapters for the package's abstract classes
# --------------------------------------------------------------------------------------------


class GlueRejection(Exception):
    """A check the glue adds on top of the package failed."""


class TornadoRequest(Request):
    """``lti1p3platform.request.Request`` for a tornado ``HTTPServerRequest``."""

    def build_metadata(self, request: t.Any) -> TRequest:
        content_type = request.headers.get("Content-Type")
        json_data = None
        if content_type and "json" in content_type and request.body:
            json_data = json.loads(request.body)
        return {
            "method": request.method,
            "form_data": _single_values(request.body_arguments),
            "get_data": _single_values(request.query_arguments),
            "headers": request.headers,
            "content_type": content_type,
            "path": request.path,
            "json": json_data,
        }


def _single_values(arguments: dict[str, list[bytes]]) -> dict[str, t.Any]:
    out = {}
    for name, values in arguments.items():
        if len(values) != 1:  # GLUE: OAuth/OIDC parameters must not repeat
            raise GlueRejection(f"parameter {name!r} is repeated")
        out[name] = values[0].decode("utf-8")
    return out


class _PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: t.Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: t.Any) -> Registration:
        assert self._registration is not None
        return self._registration


class _OIDCLogin(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: t.Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url  # the tornado handler sends the 302


class _MessageLaunch(LTIAdvantageMessageLaunchAbstract):
    def __init__(
        self, request: Request, platform_config: _PlatformConf, glue: Lti1p3PlatformServer
    ) -> None:
        super().__init__(request, platform_config)
        self._glue = glue

    def prepare_launch(self, preflight_response: dict[str, t.Any]) -> None:
        glue = self._glue
        # GLUE: the package checks only nonce/state/redirect_uri presence and client_id.
        expected = {
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "redirect_uri": glue.tool_launch_url,
        }
        for name, value in expected.items():
            got = preflight_response.get(name)
            if got != value:
                raise GlueRejection(f"{name}: expected {value!r}, got {got!r}")
        if "openid" not in str(preflight_response.get("scope", "")).split():
            raise GlueRejection(
                f"scope must contain openid, got {preflight_response.get('scope')!r}"
            )
        user_id = glue._consume_message_hint(preflight_response.get("lti_message_hint"))
        if user_id is None:
            raise GlueRejection("lti_message_hint unknown or already used")
        if preflight_response.get("login_hint") != user_id:
            raise GlueRejection(
                f"login_hint: expected {user_id!r}, got {preflight_response.get('login_hint')!r}"
            )
        member = glue._member(user_id)
        assert member is not None

        # The package's claim builders.
        self.set_user_data(
            user_id,
            list(member["roles"]),
            full_name=member.get("name"),
            email_address=member.get("email"),
        )
        self.set_resource_link_claim(glue.resource_link_id, title="Roster notebook")
        self.set_launch_context_claim(
            glue.context_id,
            context_types=[COURSE_OFFERING],
            context_title=glue.context_title,
            context_label=glue.context_label,
        )
        self.set_launch_presentation_claim(document_target="window")
        self.set_nrps(glue.memberships_url)
        self.set_extra_claims(
            {
                "https://purl.imsglobal.org/spec/lti/claim/tool_platform": {
                    "guid": "lti1p3platform-glue",
                    "name": "lti1p3platform (PyPI) behind tests/external glue",
                    "product_family_code": "lti1p3platform",
                    "version": "0.1.8",
                }
            }
        )

    def render_launch_form(self, launch_data: dict[str, t.Any], **kwargs: t.Any) -> str:
        # GLUE: the package's Jinja environment has autoescape off; escape what goes in.
        escaped = {k: html.escape(str(v), quote=True) for k, v in launch_data.items()}
        return LAUNCH_TEMPLATE.render(escaped)


class _Nrps(NamesRoleProvisioningService):
    def __init__(
        self,
        request: Request,
        platform_config: _PlatformConf,
        glue: Lti1p3PlatformServer,
    ) -> None:
        super().__init__(request, platform_config, glue.memberships_url)
        self._glue = glue

    def get_member_data_page(  # type: ignore[override]
        self,
        page: int = 1,
        limit: int | None = None,
        role: str | None = None,
        since: str | None = None,
        **kwargs: t.Any,  # the package passes every query parameter (rlid too)
    ) -> TPage:
        members = copy.deepcopy(self._glue.members)
        if role:
            wanted = role if ":" in role else f"{LIS}#{role}"
            members = [m for m in members if wanted in m["roles"]]
        if limit is None:
            return {"content": members, "has_next": False}
        start = (page - 1) * limit
        return {"content": members[start : start + limit], "has_next": start + limit < len(members)}

    def get_context_by_id(self) -> Context:
        glue = self._glue
        return Context(id=glue.context_id, label=glue.context_label, title=glue.context_title)

    def is_resource_link_valid(self, context_id: str, resource_link_id: str) -> bool:
        return context_id == self._glue.context_id and resource_link_id == (
            self._glue.resource_link_id
        )


# --------------------------------------------------------------------------------------------
# Tornado handlers
# --------------------------------------------------------------------------------------------


class _Handler(tornado.web.RequestHandler):
    glue: Lti1p3PlatformServer

    def initialize(self, glue: Lti1p3PlatformServer) -> None:
        self.glue = glue

    def check_xsrf_cookie(self) -> None:
        pass

    def _json(self, status: int, body: t.Any, content_type: str = "application/json") -> None:
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.finish(json.dumps(body))

    def _text(self, status: int, text: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(text)


class StartLaunchHandler(_Handler):
    """The platform user clicks the link: redirect to the tool's OIDC login initiation URL."""

    def get(self) -> None:
        glue = self.glue
        user_id = self.get_query_argument("user_id", "")
        if glue._member(user_id) is None:
            self._text(404, f"no member {user_id!r} in this course")
            return
        try:
            request = TornadoRequest(self.request)
        except GlueRejection as exc:
            self._text(400, str(exc))
            return
        login = _OIDCLogin(request, glue._conf())
        login.set_lti_message_hint(hint=glue._new_message_hint(user_id))
        self.redirect(login.initiate_login(user_id))


class AuthHandler(_Handler):
    """OIDC auth endpoint: validate the auth request, answer the auto-submit id_token form."""

    def get(self) -> None:
        self._auth()

    def post(self) -> None:
        self._auth()

    def _auth(self) -> None:
        glue = self.glue
        try:
            launch = _MessageLaunch(TornadoRequest(self.request), glue._conf(), glue)
            page = launch.lti_launch()
        except PreflightRequestValidationException:
            self._text(
                400,
                "invalid auth request (lti1p3platform validate_preflight_response: "
                "nonce, state and redirect_uri required, client_id must match)",
            )
            return
        except GlueRejection as exc:
            self._text(400, f"invalid auth request: {exc}")
            return
        glue.launches_issued += 1
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(page)


class JwksHandler(_Handler):
    def get(self) -> None:
        self._json(200, self.glue._conf().get_jwks())


class TokenHandler(_Handler):
    def post(self) -> None:
        glue = self.glue
        self.set_header("Cache-Control", "no-store")
        self.set_header("Pragma", "no-cache")
        try:
            form = TornadoRequest(self.request).form_data
        except GlueRejection as exc:
            self._oauth_error(400, "invalid_request", str(exc))
            return
        cat = form.get("client_assertion_type")
        if cat is not None and cat != JWT_BEARER:  # GLUE: the package checks presence only
            self._oauth_error(400, "invalid_request", f"client_assertion_type {cat!r}")
            return
        try:
            token = glue._conf().get_access_token(form)
        except MissingRequiredClaim as exc:
            self._oauth_error(400, "invalid_request", str(exc))
            return
        except UnsupportedGrantType:
            self._oauth_error(400, "unsupported_grant_type", "only client_credentials")
            return
        except (LtiException, InvalidKeySetUrl, jwt.InvalidTokenError) as exc:
            self._oauth_error(401, "invalid_client", f"client assertion rejected: {exc}")
            return
        try:
            glue._check_assertion_claims(form["client_assertion"])
        except GlueRejection as exc:
            self._oauth_error(401, "invalid_client", f"client assertion rejected: {exc}")
            return
        if not token["scope"]:  # GLUE: the package would issue a token with no scope at all
            self._oauth_error(400, "invalid_scope", f"none of {form['scope']!r} is offered")
            return
        glue.token_requests += 1
        self._json(200, dict(token))

    def _oauth_error(self, status: int, error: str, description: str) -> None:
        self.glue.token_rejections.append(error)
        self._json(status, {"error": error, "error_description": description})


class MembershipsHandler(_Handler):
    def get(self, context_id: str) -> None:
        glue = self.glue
        if context_id != glue.context_id:
            self._json(404, {"error": "unknown context"})
            return
        try:
            request = TornadoRequest(self.request)
            query = request.get_data
            # GLUE: the package does `page + 1` on the raw value and needs ints.
            for name in ("page", "limit"):
                if name in query:
                    try:
                        query[name] = int(query[name])
                    except ValueError as exc:
                        raise GlueRejection(f"{name} must be an integer") from exc
                    if query[name] < 1:
                        raise GlueRejection(f"{name} must be positive")
            # GLUE: a platform page size; the package only pages when `limit` is sent.
            if "limit" not in query and glue.page_size:
                query["limit"] = glue.page_size
        except GlueRejection as exc:
            self._json(400, {"error": str(exc)})
            return
        service = _Nrps(request, glue._conf(), glue)
        try:
            resp: Response = service.handle_resp(service.handle_get_members)
        except (jwt.InvalidTokenError, LtiException):
            # GLUE: validate_token raises for a malformed/expired/foreign token instead of
            # returning False; the authenticate decorator lets it escape.
            resp = Response(result=None, code=401, message="Invalid LTI 1.3 authentication token")
        glue.nrps_requests.append((self.request.uri or "", resp.code))
        # As the package's lti1p3platform/framework/django/response.py wrap_json_resp.
        if 200 <= resp.code < 300:
            result = resp.result
            data = result["content"] if result and "content" in result else result
            if result and result.get("next"):
                self.set_header("Link", generate_next_link(result["next"]))
            self._json(resp.code, data, resp.media_type)
        else:
            if resp.code == 401:
                self.set_header("WWW-Authenticate", 'Bearer error="invalid_token"')
            self._json(resp.code, {"error": resp.message}, resp.media_type)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class Lti1p3PlatformServer:
    """``lti1p3platform`` as an LTI 1.3 platform on 127.0.0.1 (ephemeral port, own thread).

    ``tool_jwks``: the tool's public JWKS as a static key set; ``None`` makes the package fetch
    ``TOOL/jwks.json`` itself (``LTI1P3PlatformConfAbstract.fetch_public_key``, with requests).
    """

    context_id = "ext-course-101"
    context_label = "EXT 101"
    context_title = "Third-party platform course (lti1p3platform)"
    resource_link_id = "ext-rl-1"

    def __init__(
        self,
        tool_url: str,
        tool_jwks: dict[str, t.Any] | None,
        client_id: str = "nrps-nb-lti1p3platform",
        deployment_id: str = "1",
        *,
        page_size: int | None = 10,
    ) -> None:
        self.tool_url = tool_url.rstrip("/")
        self.tool_jwks = tool_jwks
        self._client_id = client_id
        self._deployment_id = deployment_id
        self.page_size = page_size
        self._members = make_members()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        self._registration: Registration | None = None
        self._hints: dict[str, str] = {}
        self._seen_jti: dict[str, float] = {}
        self._lock = threading.Lock()
        # Observations for tests.
        self.token_requests = 0
        self.token_rejections: list[str] = []
        self.launches_issued = 0
        self.nrps_requests: list[tuple[str, int]] = []
        # Server state.
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._port: int | None = None

    # ---- URLs and data -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def deployment_id(self) -> str:
        return self._deployment_id

    @property
    def auth_login_url(self) -> str:
        return f"{self.base_url}/auth"

    @property
    def auth_token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def key_set_url(self) -> str:
        return f"{self.base_url}/jwks"

    @property
    def memberships_url(self) -> str:
        return f"{self.base_url}/nrps/{self.context_id}/memberships"

    @property
    def tool_login_url(self) -> str:
        return f"{self.tool_url}/login"

    @property
    def tool_launch_url(self) -> str:
        return f"{self.tool_url}/launch"

    @property
    def tool_jwks_url(self) -> str:
        return f"{self.tool_url}/jwks.json"

    def launch_start_url(self, user_id: str) -> str:
        return f"{self.base_url}/start?{urlencode({'user_id': user_id})}"

    @property
    def members(self) -> list[dict[str, t.Any]]:
        """The members served, in serving order (a copy)."""
        return copy.deepcopy(self._members)

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> Lti1p3PlatformServer:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="lti1p3platform-glue", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("lti1p3platform glue server did not start")
        if self._error is not None:
            raise RuntimeError("lti1p3platform glue server failed to start") from self._error
        return self

    def stop(self) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> Lti1p3PlatformServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            asyncio.set_event_loop(None)
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._port = sockets[0].getsockname()[1]
        self._registration = self._make_registration()
        kw = {"glue": self}
        app = tornado.web.Application(
            [
                (r"/start", StartLaunchHandler, kw),
                (r"/auth", AuthHandler, kw),
                (r"/jwks", JwksHandler, kw),
                (r"/token", TokenHandler, kw),
                (r"/nrps/([^/]+)/memberships", MembershipsHandler, kw),
            ]
        )
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.stop()
            await server.close_all_connections()

    # ---- package objects and glue state --------------------------------------------------

    def _make_registration(self) -> Registration:
        registration = (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self._client_id)
            .set_deployment_id(self._deployment_id)
            .set_launch_url(self.tool_launch_url)
            .set_oidc_login_url(self.tool_login_url)
            .set_platform_public_key(self._public_pem)
            .set_platform_private_key(self._private_pem)
        )
        if self.tool_jwks is not None:
            registration.set_tool_key_set(t.cast(t.Any, self.tool_jwks))
        else:
            registration.set_tool_key_set_url(self.tool_jwks_url)
        return registration

    def _conf(self) -> _PlatformConf:
        # A fresh config per request: the package keeps the JWT being validated on the instance.
        return _PlatformConf(registration=self._registration)

    def _member(self, user_id: str) -> dict[str, t.Any] | None:
        return next((m for m in self._members if m["user_id"] == user_id), None)

    def _new_message_hint(self, user_id: str) -> str:
        hint = secrets.token_urlsafe(16)
        with self._lock:
            self._hints[hint] = user_id
        return hint

    def _consume_message_hint(self, hint: t.Any) -> str | None:
        with self._lock:
            return self._hints.pop(hint, None) if isinstance(hint, str) else None

    def _check_assertion_claims(self, assertion: str) -> None:
        """GLUE: RFC 7523 §3 checks ``get_access_token`` skips (its signature check passed)."""
        claims = jwt.decode(assertion, options={"verify_signature": False})
        now = time.time()
        for name in ("iss", "sub"):
            if claims.get(name) != self._client_id:
                raise GlueRejection(
                    f"{name}: expected {self._client_id!r}, got {claims.get(name)!r}"
                )
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if self.auth_token_url not in auds:
            raise GlueRejection(f"aud: expected {self.auth_token_url!r}, got {aud!r}")
        for name in ("exp", "iat", "jti"):
            if name not in claims:
                raise GlueRejection(f"{name} missing")
        exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise GlueRejection("jti must be a non-empty string")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise GlueRejection("exp and iat must be numbers")
        if exp <= now - LEEWAY:
            raise GlueRejection("expired")
        if iat > now + LEEWAY:
            raise GlueRejection("iat in the future")
        if exp - max(iat, now) > MAX_ASSERTION_LIFETIME + LEEWAY:
            raise GlueRejection(f"lifetime above {MAX_ASSERTION_LIFETIME} s")
        with self._lock:
            self._seen_jti = {j: e for j, e in self._seen_jti.items() if e > now - LEEWAY}
            if jti in self._seen_jti:
                raise GlueRejection("jti replayed")
            self._seen_jti[jti] = float(exp)
