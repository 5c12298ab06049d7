"""A platform nobody here wrote: the PyPI package ``lti1p3platform`` as the LMS.

``lti1p3platform_server.py`` (next to this file) is the HTTP glue; its docstring says which parts
are the package's and which are ours. The glue-only tests check the glue with plain httpx and
PyJWT, without nrps_nb; ``test_launch_and_roster_against_lti1p3platform`` runs our client
against it. The ``test_package_*`` tests pin down the package's gaps that the glue covers, so an
upgrade of the package that fixes (or changes) them is noticed.
"""

from __future__ import annotations

import html.parser
import http.server
import importlib
import json
import os
import threading
import time
import typing as t
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

pytestmark = pytest.mark.external

try:
    import lti1p3platform  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI") == "true":
        pytest.fail("lti1p3platform is not installed and CI=true forbids skipping", pytrace=False)
    pytest.skip("lti1p3platform is not installed", allow_module_level=True)

if __package__:  # tests/external imported as a package
    from .lti1p3platform_server import (
        JWT_BEARER,
        LAUNCH_TEMPLATE,
        NRPS_MEDIA_TYPE,
        NRPS_SCOPE,
        ROLE_INSTRUCTOR,
        ROLE_LEARNER,
        ROLE_TA,
        Lti1p3PlatformServer,
    )
else:  # pytest's default rootdir mode: tests/external is on sys.path
    from lti1p3platform_server import (  # type: ignore[no-redef]
        JWT_BEARER,
        LAUNCH_TEMPLATE,
        NRPS_MEDIA_TYPE,
        NRPS_SCOPE,
        ROLE_INSTRUCTOR,
        ROLE_LEARNER,
        ROLE_TA,
        Lti1p3PlatformServer,
    )

CLIENT_ID = "nrps-nb-ext-client"
FAKE_TOOL = "http://127.0.0.1:9/tool"  # never contacted when the tool key set is static
AGS_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


class ToolKey:
    """A tool RSA key, as our client would hold it."""

    def __init__(self, kid: str | None = None) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid or uuid.uuid4().hex
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        self.jwks = {"keys": [jwk]}

    def assertion(
        self, aud: str, *, kid: str | None = None, drop: tuple[str, ...] = (), **claims: t.Any
    ) -> str:
        now = int(time.time())
        payload: dict[str, t.Any] = {
            "iss": CLIENT_ID,
            "sub": CLIENT_ID,
            "aud": aud,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        payload.update(claims)
        for name in drop:
            payload.pop(name)
        return jwt.encode(payload, self.private, "RS256", headers={"kid": kid or self.kid})


def token_form(assertion: str, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        "scope": NRPS_SCOPE,
    }
    form.update(overrides)
    return form


class FormParser(html.parser.HTMLParser):
    """The auto-submit form: action and hidden inputs (attribute values come back unescaped)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action, self.method = a.get("action"), (a.get("method") or "").upper()
        elif tag == "input" and a.get("name"):
            self.fields[str(a["name"])] = a.get("value") or ""


def start_login(client: httpx.Client, glue: Lti1p3PlatformServer, user_id: str) -> dict[str, str]:
    """Click the platform's launch link; return the login initiation parameters."""
    r = client.get(glue.launch_start_url(user_id))
    assert r.status_code == 302, r.text
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{glue.tool_url}/login"
    query = parse_qs(location.query)
    assert all(len(v) == 1 for v in query.values())
    return {k: v[0] for k, v in query.items()}


def auth_params(login: dict[str, str], glue: Lti1p3PlatformServer) -> dict[str, str]:
    """What a correct tool sends to the platform's auth endpoint after that login."""
    return {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": login["client_id"],
        "redirect_uri": f"{glue.tool_url}/launch",
        "login_hint": login["login_hint"],
        "lti_message_hint": login["lti_message_hint"],
        "state": "state-" + uuid.uuid4().hex,
        "nonce": "nonce-" + uuid.uuid4().hex,
    }


def platform_key(client: httpx.Client, glue: Lti1p3PlatformServer, kid: str) -> jwt.PyJWK:
    keys = client.get(glue.key_set_url).json()["keys"]
    return jwt.PyJWK(next(k for k in keys if k["kid"] == kid))


def get_token(client: httpx.Client, glue: Lti1p3PlatformServer, key: ToolKey) -> str:
    r = client.post(glue.auth_token_url, data=token_form(key.assertion(glue.auth_token_url)))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


class JwksFileServer:
    """A tool that only serves ``/jwks.json`` (for the package's fetch-by-URL path)."""

    def __init__(self, jwks: dict[str, t.Any]) -> None:
        body = json.dumps(jwks).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: t.Any) -> None:
                pass

        self.fetches = 0
        outer = self

        class CountingServer(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request: t.Any, client_address: t.Any) -> None:
                outer.fetches += 1
                super().finish_request(request, client_address)

        self.httpd = CountingServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> JwksFileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def client() -> t.Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


@pytest.fixture
def tool_key() -> ToolKey:
    return ToolKey()


@pytest.fixture
def glue(tool_key: ToolKey) -> t.Iterator[Lti1p3PlatformServer]:
    with Lti1p3PlatformServer(FAKE_TOOL, tool_key.jwks, client_id=CLIENT_ID) as server:
        yield server


def expected_role(roles: list[str]) -> str:
    if ROLE_TA in roles:
        return "TeachingAssistant"
    if ROLE_INSTRUCTOR in roles:
        return "Instructor"
    if ROLE_LEARNER in roles:
        return "Learner"
    raise AssertionError(roles)


# --------------------------------------------------------------------------------------------
# the glue itself (plain httpx + PyJWT, no nrps_nb)
# --------------------------------------------------------------------------------------------


def test_glue_jwks_and_login_initiation(glue: Lti1p3PlatformServer, client: httpx.Client) -> None:
    jwks = client.get(glue.key_set_url).json()
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert "d" not in key and "p" not in key  # public only

    login = start_login(client, glue, "ext-instructor-1")
    assert login["iss"] == glue.issuer
    assert login["login_hint"] == "ext-instructor-1"
    assert login["target_link_uri"] == f"{glue.tool_url}/launch"
    assert login["client_id"] == CLIENT_ID
    assert login["lti_deployment_id"] == "1"
    assert login["lti_message_hint"]

    assert client.get(glue.launch_start_url("nobody")).status_code == 404


def test_glue_launch_produces_signed_id_token(
    glue: Lti1p3PlatformServer, client: httpx.Client
) -> None:
    login = start_login(client, glue, "ext-ta-1")
    params = auth_params(login, glue)
    r = client.get(glue.auth_login_url, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    form = FormParser()
    form.feed(r.text)
    assert form.method == "POST"
    assert form.action == f"{glue.tool_url}/launch"
    assert form.fields["state"] == params["state"]

    id_token = form.fields["id_token"]
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == "RS256" and header["kid"]
    claims = jwt.decode(
        id_token,
        platform_key(client, glue, header["kid"]),
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=glue.issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]},
    )
    lti = "https://purl.imsglobal.org/spec/lti/claim/"
    assert claims["nonce"] == params["nonce"]
    assert claims["azp"] == CLIENT_ID
    assert claims["sub"] == "ext-ta-1"
    assert claims["name"] == "Zoë Ångström"
    assert claims["exp"] - claims["iat"] == 300
    assert claims[lti + "message_type"] == "LtiResourceLinkRequest"
    assert claims[lti + "version"] == "1.3.0"
    assert claims[lti + "deployment_id"] == "1"
    assert claims[lti + "target_link_uri"] == f"{glue.tool_url}/launch"
    assert claims[lti + "resource_link"]["id"] == glue.resource_link_id
    assert claims[lti + "roles"] == [ROLE_INSTRUCTOR, ROLE_TA]
    assert claims[lti + "context"] == {
        "id": glue.context_id,
        "label": glue.context_label,
        "title": glue.context_title,
        "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
    }
    assert claims["https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"] == {
        "context_memberships_url": glue.memberships_url,
        "service_versions": ["2.0"],
    }

    # The lti_message_hint is single use.
    again = dict(params, state="s2", nonce="n2")
    assert client.get(glue.auth_login_url, params=again).status_code == 400
    assert glue.launches_issued == 1


def test_glue_launch_form_escapes_state(glue: Lti1p3PlatformServer, client: httpx.Client) -> None:
    params = auth_params(start_login(client, glue, "ext-instructor-1"), glue)
    params["state"] = '"><script>alert(1)</script>'
    r = client.get(glue.auth_login_url, params=params)
    assert r.status_code == 200
    assert "<script>alert" not in r.text
    form = FormParser()
    form.feed(r.text)
    assert form.fields["state"] == params["state"]


@pytest.mark.parametrize(
    "change",
    [
        {"redirect_uri": "http://127.0.0.1:9/evil/launch"},  # glue: not the registered URI
        {"client_id": "someone-else"},  # package
        {"nonce": None},  # package
        {"state": None},  # package
        {"redirect_uri": None},  # package
        {"response_mode": "query"},  # glue
        {"response_type": "code"},  # glue
        {"prompt": None},  # glue
        {"scope": "profile"},  # glue
        {"login_hint": "ext-learner-01"},  # glue: not the user the launch was started for
        {"lti_message_hint": "forged"},  # glue
    ],
    ids=lambda change: ",".join(f"{k}={v}" for k, v in change.items()),
)
def test_glue_rejects_bad_auth_request(
    glue: Lti1p3PlatformServer, client: httpx.Client, change: dict[str, str | None]
) -> None:
    params: dict[str, str | None] = dict(
        auth_params(start_login(client, glue, "ext-instructor-1"), glue)
    )
    params.update(change)
    r = client.get(glue.auth_login_url, params={k: v for k, v in params.items() if v is not None})
    assert r.status_code == 400, r.text
    assert 'name="id_token"' not in r.text
    assert glue.launches_issued == 0


def test_glue_token_endpoint(
    glue: Lti1p3PlatformServer, client: httpx.Client, tool_key: ToolKey
) -> None:
    url = glue.auth_token_url
    other = ToolKey(kid=tool_key.kid)  # same kid, wrong key
    now = int(time.time())
    bad: dict[str, tuple[dict[str, str], int, str]] = {
        "bad signature": (token_form(other.assertion(url)), 401, "invalid_client"),
        "unknown kid": (token_form(tool_key.assertion(url, kid="nope")), 401, "invalid_client"),
        "not a jwt": (token_form("abc.def"), 401, "invalid_client"),
        "expired": (
            token_form(tool_key.assertion(url, iat=now - 900, exp=now - 600)),
            401,
            "invalid_client",
        ),
        "wrong aud": (
            token_form(tool_key.assertion("https://elsewhere/token")),
            401,
            "invalid_client",
        ),
        "no exp": (token_form(tool_key.assertion(url, drop=("exp",))), 401, "invalid_client"),
        "no jti": (token_form(tool_key.assertion(url, drop=("jti",))), 401, "invalid_client"),
        "wrong iss": (token_form(tool_key.assertion(url, iss="x")), 401, "invalid_client"),
        "wrong sub": (token_form(tool_key.assertion(url, sub="x")), 401, "invalid_client"),
        "lifetime 1h": (
            token_form(tool_key.assertion(url, exp=now + 3600)),
            401,
            "invalid_client",
        ),
        "grant type": (
            token_form(tool_key.assertion(url), grant_type="password"),
            400,
            "unsupported_grant_type",
        ),
        "assertion type": (
            token_form(tool_key.assertion(url), client_assertion_type="urn:x"),
            400,
            "invalid_request",
        ),
        "no scope granted": (
            token_form(tool_key.assertion(url), scope="https://example.com/scope"),
            400,
            "invalid_scope",
        ),
    }
    for name, (form, status, error) in bad.items():
        r = client.post(url, data=form)
        assert (r.status_code, r.json().get("error")) == (status, error), (name, r.text)
    missing = token_form(tool_key.assertion(url))
    del missing["client_assertion"]
    r = client.post(url, data=missing)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    assert glue.token_requests == 0

    good = token_form(tool_key.assertion(url))
    r = client.post(url, data=good)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == NRPS_SCOPE
    assert body["access_token"]
    assert glue.token_requests == 1

    replay = client.post(url, data=good)
    assert (replay.status_code, replay.json()["error"]) == (401, "invalid_client")
    assert "jti" in replay.json()["error_description"]
    assert glue.token_requests == 1


def test_glue_fetches_tool_jwks_by_url(client: httpx.Client, tool_key: ToolKey) -> None:
    with (
        JwksFileServer(tool_key.jwks) as tool,
        Lti1p3PlatformServer(tool.base_url, None, client_id=CLIENT_ID) as glue,
    ):
        assert tool.fetches == 0
        get_token(client, glue, tool_key)
        get_token(client, glue, tool_key)
        assert tool.fetches == 1  # the package caches the key set on the Registration
        assert glue.token_requests == 2


def test_glue_nrps_requires_bearer_and_pages(
    glue: Lti1p3PlatformServer, client: httpx.Client, tool_key: ToolKey
) -> None:
    url = glue.memberships_url
    accept = {"Accept": NRPS_MEDIA_TYPE}
    r = client.get(url, headers=accept)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    for bearer in ("garbage", "a.b.c"):
        r = client.get(url, headers={**accept, "Authorization": f"Bearer {bearer}"})
        assert r.status_code == 401, (bearer, r.text)
    # A token signed by someone else, and an id_token-like JWT without the NRPS scope.
    forged = jwt.encode(
        {"iss": glue.issuer, "sub": CLIENT_ID, "scopes": NRPS_SCOPE, "exp": time.time() + 60},
        ToolKey().private,
        "RS256",
    )
    r = client.get(url, headers={**accept, "Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    ags = client.post(
        glue.auth_token_url,
        data=token_form(tool_key.assertion(glue.auth_token_url), scope=AGS_SCOPE),
    ).json()["access_token"]
    r = client.get(url, headers={**accept, "Authorization": f"Bearer {ags}"})
    assert r.status_code == 401

    auth = {**accept, "Authorization": f"Bearer {get_token(client, glue, tool_key)}"}
    assert client.get(glue.base_url + "/nrps/other/memberships", headers=auth).status_code == 404
    assert client.get(url, params={"limit": "x"}, headers=auth).status_code == 400

    # Paging with an explicit limit: 25 members in pages of 10, by Link rel=next.
    members: list[dict[str, t.Any]] = []
    next_url: str | None = f"{url}?limit=10"
    pages = 0
    while next_url:
        r = client.get(next_url, headers=auth)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == NRPS_MEDIA_TYPE
        body = r.json()
        assert body["id"] == url
        assert body["context"] == {
            "id": glue.context_id,
            "label": glue.context_label,
            "title": glue.context_title,
        }
        members += body["members"]
        pages += 1
        link = r.headers.get("link")
        if link is None:
            next_url = None
        else:
            target, rel = link.split(";", 1)
            assert rel.strip() == "rel=next"
            next_url = target.strip()[1:-1]
    assert pages == 3
    assert members == glue.members
    assert len(members) == 25

    # Without limit the glue's page size (10) applies; role filters use short or full names.
    r = client.get(url, headers=auth)
    assert len(r.json()["members"]) == 10 and "page=2" in r.headers["link"]
    r = client.get(url, params={"role": "Instructor", "limit": "50"}, headers=auth)
    assert [m["user_id"] for m in r.json()["members"]] == ["ext-instructor-1", "ext-ta-1"]
    assert "link" not in r.headers
    r = client.get(url, params={"rlid": "not-a-link"}, headers=auth)
    assert r.status_code == 403
    r = client.get(url, params={"rlid": glue.resource_link_id, "limit": "30"}, headers=auth)
    assert r.status_code == 200 and len(r.json()["members"]) == 25


# --------------------------------------------------------------------------------------------
# the package's gaps that the glue covers (pinned to lti1p3platform 0.1.8)
# --------------------------------------------------------------------------------------------


def test_package_gaps_the_glue_covers(
    glue: Lti1p3PlatformServer, client: httpx.Client, tool_key: ToolKey
) -> None:
    from lti1p3platform.membership import Context
    from lti1p3platform.service_connector import NamesRoleProvisioningService

    conf = glue._conf()
    now = int(time.time())
    # 1. get_access_token checks the signature only: wrong aud, foreign iss/sub, no exp/jti pass.
    sloppy = tool_key.assertion("https://elsewhere/token", iss="x", sub="y", drop=("exp", "jti"))
    assert conf.get_access_token(token_form(sloppy))["access_token"]
    # ... and the same assertion twice (no jti replay check), with any assertion type.
    assert conf.get_access_token(token_form(sloppy, client_assertion_type="urn:x"))
    # ... and a token with no scope at all when none of the requested scopes is known.
    fresh = tool_key.assertion(glue.auth_token_url, iat=now)
    assert conf.get_access_token(token_form(fresh, scope="nope"))["scope"] == ""

    # 2. validate_token raises (instead of returning False) for a malformed bearer token, so the
    #    `authenticate` decorator lets the exception out of handle_get_members (a 500).
    with pytest.raises(jwt.DecodeError):
        conf.validate_token("garbage", [NRPS_SCOPE])

    # 3. The launch template is rendered with autoescape off (the glue escapes the values).
    page = LAUNCH_TEMPLATE.render(launch_url="u", id_token="t", state='"><script>x</script>')
    assert "<script>x</script>" in page

    # 4. handle_get_members does `page + 1` on the query value: with string query parameters (as
    #    the package's own Django adapter gives them) page 2 of 3 crashes.
    token = get_token(client, glue, tool_key)

    class StrRequest:
        method = "GET"
        headers: t.ClassVar[dict[str, str]] = {"Authorization": f"Bearer {token}"}
        get_data: t.ClassVar[dict[str, str]] = {"limit": "10", "page": "2"}

    class Service(NamesRoleProvisioningService):
        def get_member_data_page(self, **kwargs: t.Any) -> t.Any:
            return {"content": [{"user_id": "u", "roles": []}], "has_next": True}

        def get_context_by_id(self) -> t.Any:
            return Context(id="c", label="l", title="t")

    service = Service(t.cast(t.Any, StrRequest()), conf, glue.memberships_url)
    with pytest.raises(TypeError):
        service.handle_get_members()
    # ... and without `limit` it never emits a next link, whatever has_next says.
    StrRequest.get_data = {}
    assert "next" not in service.handle_get_members().result


# --------------------------------------------------------------------------------------------
# our client against it
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool_keys", ["static-jwk", "jwks-url"])
def test_launch_and_roster_against_lti1p3platform(tmp_path: t.Any, tool_keys: str) -> None:
    import pandas as pd

    import nrps_nb
    from nrps_nb.server import ReceiverServer

    drive_launch = importlib.import_module("nrps_nb.demo").drive_launch  # browserless launch

    ws = nrps_nb.Workspace(home=tmp_path)
    rcv = ReceiverServer(ws, host="127.0.0.1", port=0)
    rcv.start()
    try:
        jwks = ws.tool_jwks() if tool_keys == "static-jwk" else None
        glue = Lti1p3PlatformServer(rcv.base_url, jwks, client_id=CLIENT_ID, deployment_id="1")
        glue.start()
        try:
            ws.add_platform(
                "ext",
                issuer=glue.issuer,
                client_id=glue.client_id,
                auth_login_url=glue.auth_login_url,
                auth_token_url=glue.auth_token_url,
                key_set_url=glue.key_set_url,
                deployment_ids=[glue.deployment_id],
            )

            # The launch, as the instructor, through login initiation, auth and form post.
            page = drive_launch(glue.launch_start_url("ext-instructor-1"))
            assert page.status_code == 200, page.text
            assert glue.launches_issued == 1

            launches = ws.launches()
            assert len(launches) == 1
            launch = launches.iloc[0]
            assert launch["platform"] == "ext"
            assert launch["context_id"] == glue.context_id
            assert launch["context_title"] == glue.context_title
            assert launch["memberships_url"] == glue.memberships_url
            courses = ws.courses()
            assert glue.memberships_url in set(courses["memberships_url"])

            # The roster, twice: one token, pages followed by Link rel=next.
            df = ws.fetch_roster(glue.memberships_url)
            pages_first = len(glue.nrps_requests)
            df2 = ws.fetch_roster(glue.memberships_url)
        finally:
            glue.stop()
    finally:
        rcv.stop()

    assert glue.token_requests == 1
    assert glue.token_rejections == []
    assert all(status == 200 for _, status in glue.nrps_requests)
    assert pages_first >= 2
    assert df.attrs["pages"] == pages_first
    assert df.attrs["complete"] is True
    assert df2.attrs["complete"] is True

    members = glue.members
    served = sorted(m["user_id"] for m in members)
    assert len(df) == len(df2) == len(members) == 25
    assert sorted(df["user_id"]) == sorted(df2["user_id"]) == served
    by_id = df.set_index("user_id")
    for m in members:
        row = by_id.loc[m["user_id"]]
        assert row["name"] == m["name"]
        assert row["status"] == m["status"]
        if "email" in m:
            assert row["email"] == m["email"]
        else:
            assert pd.isna(row["email"])
        assert sorted(row["roles"]) == sorted(m["roles"])
        role = expected_role(m["roles"])
        assert row["role"] == role
        assert bool(row["is_instructor"]) is (role == "Instructor")
        assert bool(row["is_learner"]) is (role == "Learner")
    assert (df["role"] == "TeachingAssistant").sum() == 1
    assert (df["role"] == "Learner").sum() == 23
