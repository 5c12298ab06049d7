"""Fixtures for the sandbox LMS tests: real servers on loopback, a tiny tool JWKS server, and
client assertions signed with PyJWT directly (the platform is under test, not the client)."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

if importlib.util.find_spec("nrps_nb") is None:  # not installed: run from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nrps_nb.sandbox import CourseSpec, SandboxConfig, SandboxServer

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
NRPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ID = "nrps-nb-sandbox-tool"


@dataclass
class ToolKey:
    kid: str
    private: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(
            jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key())
        )
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}


def new_tool_key(kid: str) -> ToolKey:
    return ToolKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


@dataclass
class ToolJwksServer:
    """A stand-in for the tool's ``/jwks.json`` on loopback; ``keys`` can change (rotation)."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0
    httpd: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> ToolJwksServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                outer.hits += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        assert self.httpd is not None and self.thread is not None
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="session")
def tool_key() -> ToolKey:
    return new_tool_key("tool-key-1")


@pytest.fixture(scope="session")
def other_key() -> ToolKey:
    return new_tool_key("tool-key-2")


@pytest.fixture(scope="session")
def tool_jwks(tool_key: ToolKey) -> Iterator[ToolJwksServer]:
    server = ToolJwksServer(keys=[tool_key.public_jwk()]).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sandbox(tool_jwks: ToolJwksServer) -> Iterator[SandboxServer]:
    """The default courses; the tool key comes from the tool's JWKS URL."""
    with SandboxServer(SandboxConfig(tool_url=tool_jwks.url)) as srv:
        yield srv


SMALL_COURSES = (CourseSpec("tiny", 'Tiny <Course> & "Co"', "TINY 1", 12),)


@pytest.fixture(scope="session")
def static_sandbox(tool_key: ToolKey) -> Iterator[SandboxServer]:
    """The tool key is a static JWK; the tool URL points nowhere (nothing may be fetched)."""
    config = SandboxConfig(
        tool_url="http://127.0.0.1:9", tool_jwk=tool_key.public_jwk(), courses=SMALL_COURSES
    )
    with SandboxServer(config) as srv:
        yield srv


@pytest.fixture(scope="session")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=10.0) as c:
        yield c


# client assertions ------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_assertion(
    srv: SandboxServer,
    key: ToolKey,
    *,
    alg: str = "RS256",
    kid: str | None = "",
    claims: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    """A client assertion for ``srv``; ``claims`` override, ``drop`` removes claims."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": srv.info()["auth_token_url"],
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    payload.update(claims or {})
    for name in drop:
        payload.pop(name, None)
    headers = {} if kid is None else {"kid": kid or key.kid}
    return jwt.encode(payload, key.private, algorithm=alg, headers=headers)


def token_form(assertion: str, scope: str = NRPS_SCOPE, **extra: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": scope,
    }
    form.update(extra)
    return form


# launch helpers ---------------------------------------------------------------------------


class FormParser(HTMLParser):
    """Collects forms and their inputs, as a non-JS client would."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"), "inputs": {}})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"][a.get("name")] = a.get("value")
        elif tag == "script":
            self.scripts += 1


def parse_forms(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    parser.close()
    return parser


def login_initiation(client: httpx.Client, url: str) -> dict[str, str]:
    """Follow a sandbox launch link one step: the query sent to the tool's login URL."""
    response = client.get(url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def auth_request(login: dict[str, str], tool_url: str, **overrides: str | None) -> dict[str, str]:
    """The tool's authentication request built from a login initiation, with overrides."""
    params: dict[str, str | None] = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": login["client_id"],
        "redirect_uri": f"{tool_url}/launch",
        "login_hint": login["login_hint"],
        "lti_message_hint": login["lti_message_hint"],
        "state": "state-" + uuid.uuid4().hex,
        "nonce": "nonce-" + uuid.uuid4().hex,
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


class Kit:
    """Helpers handed to tests as a fixture (importing conftest is fragile across import modes)."""

    NRPS_SCOPE = NRPS_SCOPE
    NRPS_TYPE = NRPS_TYPE
    ASSERTION_TYPE = ASSERTION_TYPE
    CLIENT_ID = CLIENT_ID
    AGS_SCOPES = (
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    )

    def __init__(self, client: httpx.Client, tool_key: ToolKey, other_key: ToolKey) -> None:
        self.client = client
        self.tool_key = tool_key
        self.other_key = other_key
        self.b64url = b64url
        self.token_form = token_form
        self.parse_forms = parse_forms
        self.auth_request = auth_request
        self.new_tool_key = new_tool_key

    def assertion(self, srv: SandboxServer, key: ToolKey | None = None, **kw: Any) -> str:
        return make_assertion(srv, key or self.tool_key, **kw)

    def post_token(self, srv: SandboxServer, form: dict[str, str]) -> httpx.Response:
        return self.client.post(srv.info()["auth_token_url"], data=form)

    def token(self, srv: SandboxServer, scope: str = NRPS_SCOPE) -> str:
        response = self.post_token(srv, token_form(self.assertion(srv), scope))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def start_jwks_server(self, keys: list[dict[str, Any]]) -> ToolJwksServer:
        """A tool JWKS server the caller stops."""
        return ToolJwksServer(keys=keys).start()

    def login(self, url: str) -> dict[str, str]:
        return login_initiation(self.client, url)

    def nrps(
        self, url: str, token: str | None, accept: str | None = NRPS_TYPE, **params: Any
    ) -> httpx.Response:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if accept is not None:
            headers["Accept"] = accept
        return self.client.get(url, headers=headers, params=params or None)


@pytest.fixture(scope="session")
def kit(client: httpx.Client, tool_key: ToolKey, other_key: ToolKey) -> Kit:
    return Kit(client, tool_key, other_key)
