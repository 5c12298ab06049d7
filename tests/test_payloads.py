"""Every real-shaped payload of the corpus (tests/fixtures/payloads, a copy of
../shared/payloads), parsed by the code path that meets it in production, with the values
nrps_nb must make of it.

* NRPS bodies (+ their ``.headers.json``) are served over loopback HTTP and read with
  ``Workspace.fetch_roster``: the asserted DataFrame values are user ids, roles as full
  URIs, the principal role, status, names, custom columns, pages and provenance.
* id_token claims are signed by a test platform key and go through ``prepare_login`` (with
  the matching login-initiation payload) and ``validate_launch``/``store_launch``.
* Token responses and errors come back from a loopback token endpoint to
  ``get_access_token``; client assertions and the token form are compared with ours.
* OpenID configurations are compared with the presets for those platforms.

``NOT_PARSED`` lists the files for features nrps_nb does not have yet.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pandas as pd
import pytest

from nrps_nb import BadResponse, Launch, ResourceLinkRefused, TokenError, Workspace
from nrps_nb.http import get_json, run_sync
from nrps_nb.jose import JwksCache, sign_client_assertion
from nrps_nb.launch import (
    ToolUrls,
    prepare_login,
    store_launch,
    store_pending_launch,
    validate_launch,
)
from nrps_nb.oauth import NRPS_SCOPE, get_access_token
from nrps_nb.registry import preset_urls
from nrps_nb.server import ReceiverServer

from .helpers import PlatformKey, Scripted, ThreadedApp, respond, scripted_server

PAYLOADS = Path(__file__).resolve().parent / "fixtures" / "payloads"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "payloads"
LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
M = LIS + "membership#"
TA = LIS + "membership/Instructor#TeachingAssistant"
TEST_USER = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
NRPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
TOOL = ToolUrls("https://tool.example.org/lti")  # target_link_uri of every launch payload

NOT_PARSED = {
    # LTI Dynamic Registration: not built yet (DESIGN §2 lists it for later).
    "dynamic-registration-initiation-query.json": "dynamic registration",
    "dynamic-registration-request.json": "dynamic registration",
    "moodle-dynamic-registration-response.json": "dynamic registration",
    # Assignment and Grade Services: ags.py comes later (DESIGN §2).
    "ags-lineitem.json": "AGS",
    "ags-results.json": "AGS",
    "ags-score.json": "AGS",
    # Browser-side postMessages: exercised by the receiver's JavaScript in tests/browser.
    "lti-storage-postmessages.json": "client-side postMessage storage",
}


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def test_the_fixture_copy_is_the_shared_corpus() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/payloads is not next to this checkout (a clean clone)")
    shared = {p.name: p.read_bytes() for p in SHARED.iterdir() if p.is_file()}
    ours = {p.name: p.read_bytes() for p in PAYLOADS.iterdir() if p.is_file()}
    assert ours == shared


# -- NRPS membership containers ---------------------------------------------------------------


class Lms:
    """A loopback LMS that serves payload bodies with their headers, hosts rewritten."""

    def __init__(self, ws: Workspace, script: Scripted, server: ThreadedApp) -> None:
        self.ws, self.script, self.server = ws, script, server

    def here(self, text: str, origin: str) -> str:
        return text.replace(origin, self.server.base_url)

    def serve(self, stem: str, *, origin: str, then: dict[str, Any] | None = None) -> str:
        """Serve ``stem``.json (and its headers) at its own path; return that URL."""
        body = load(f"{stem}.json")
        headers: dict[str, str] = {}
        if (PAYLOADS / f"{stem}.headers.json").exists():
            headers = {k: self.here(v, origin) for k, v in load(f"{stem}.headers.json").items()}
        path = urlsplit(body["id"]).path
        responders = [respond(200, json.dumps(body).encode(), headers)]
        if then is not None:  # the page the Link header points to
            responders.append(respond(200, then))
        self.script.routes[path] = responders
        return self.server.base_url + path

    def requests(self, path: str) -> list[str]:
        return [uri for _m, uri, _h in self.script.requests if uri.startswith(path)]


@pytest.fixture
def lms(ws: Workspace) -> Iterator[Lms]:
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t", "token_type": "Bearer"}))
    with scripted_server(script) as server:
        ws.add_platform(
            "lms", issuer="https://lms.example.edu", client_id="c",
            auth_login_url=server.base_url + "/auth", auth_token_url=server.base_url + "/token",
            key_set_url=server.base_url + "/jwks",
        )  # fmt: skip
        yield Lms(ws, script, server)


def na(value: object) -> object:
    return None if pd.isna(value) else value  # type: ignore[call-overload]


def test_spec_membership_container_with_rlid(lms: Lms) -> None:
    url = lms.serve("spec-nrps-membership-container", origin="https://lms.example.com")
    df = lms.ws.fetch_roster(url, platform="lms", rlid="49566-rkk96")
    assert df["user_id"].tolist() == [
        "0ae836b9-7fc9-4060-006f-27b2066ac545", "2ae836b9-7fc9-4060-006f-27b2066ac546"]  # fmt: skip
    jane, inactive = df.iloc[0], df.iloc[1]
    assert jane["roles"] == [M + "Instructor", M + "Mentor"] and jane["role"] == "Instructor"
    assert (jane["name"], jane["given_name"], jane["family_name"], jane["middle_name"]) == (
        "Jane Q. Public", "Jane", "Doe", "Marie")  # fmt: skip
    assert jane["email"] == "jane@platform.example.edu"
    assert jane["picture"] == "https://platform.example.edu/jane.jpg"
    assert jane["lis_person_sourcedid"] == "59254-6782-12ab"
    assert (jane["custom_country"], jane["custom_user_mobile"]) == ("Canada", "123-456-7890")
    assert "lis_result_sourcedid" in jane["extras"]  # the basic outcome claim is kept
    assert inactive["status"] == "Inactive" and inactive["role"] == "Learner"
    assert na(inactive["name"]) is None and na(inactive["custom_country"]) is None
    assert set(df["context_id"]) == {"2923-abc"} and set(df["context_label"]) == {"CPS 435"}
    [uri] = lms.requests("/sections/2923/memberships")
    assert parse_qs(urlsplit(uri).query) == {"rlid": ["49566-rkk96"]}


def test_spec_differences_response(lms: Lms) -> None:
    url = lms.serve("spec-nrps-differences-response", origin="https://lms.example.com")
    df = lms.ws.fetch_roster(url, platform="lms")
    assert df["status"].tolist() == ["Deleted", "Active"]
    assert df["role"].tolist() == ["Learner", "Learner"]
    assert df["name"].tolist()[1] == "Sam Sample"


def test_canvas_public_two_pages(lms: Lms) -> None:
    url = lms.serve("canvas-nrps-response-public", origin="https://school.instructure.com",
                    then={"members": []})  # fmt: skip
    df = lms.ws.fetch_roster(url, platform="lms")
    assert df.attrs["pages"] == 2 and df.attrs["complete"] is True
    assert lms.requests("/api/lti/courses/319")[1] == (
        "/api/lti/courses/319/names_and_roles?page=2&per_page=50"  # rel="next", verbatim
    )
    by = df.set_index("name")
    assert by.loc["Avery Example", "roles"] == [M + "Instructor", M + "ContentDeveloper"]
    assert by.loc["Avery Example", "role"] == "Instructor"
    assert by.loc["Avery Example", "lis_person_sourcedid"] == "1238.8763.00"
    assert by.loc["Blake Sample", "role"] == "Learner"
    casey = by.loc["Casey Helper"]
    assert casey["roles"] == [TA, M + "Instructor"] and casey["role"] == "TeachingAssistant"
    assert bool(casey["is_teaching_assistant"]) and not bool(casey["is_instructor"])
    student = by.loc["Test Student"]
    assert bool(student["is_test_user"]) and student["role"] == "Learner"
    assert na(student["email"]) is None and na(student["picture"]) is None
    assert student["lti11_legacy_user_id"] == "1f2e3d4c5b6a79880716253443526170a1b2c3d4"
    assert set(df["status"]) == {"Active"}
    assert set(df["context_title"]) == {"Computer Science 101"}


def test_canvas_anonymous(lms: Lms) -> None:
    url = lms.serve("canvas-nrps-response-anonymous", origin="https://school.instructure.com")
    df = lms.ws.fetch_roster(url, platform="lms")
    assert df["role"].tolist() == ["Instructor", "Learner"]
    assert df[["name", "email", "given_name", "lis_person_sourcedid"]].isna().all(axis=None)
    assert df["lti11_legacy_user_id"].tolist()[0] == "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"


def test_canvas_rlid_message(lms: Lms) -> None:
    url = lms.serve("canvas-nrps-response-rlid", origin="https://school.instructure.com")
    url = url.removesuffix("?rlid=8aa641d1-b4d4-4fea-8a9b-e9fedfb62b1e")
    df = lms.ws.fetch_roster(url, platform="lms", rlid="8aa641d1-b4d4-4fea-8a9b-e9fedfb62b1e")
    row = df.iloc[0]
    assert row["user_id"] == "848b3a11-c7b6-4c05-9fb3-782a0c34ee43"
    assert (row["custom_message_locale"], row["custom_person_address_timezone"],
            row["custom_canvas_user_id"]) == ("en", "Europe/Berlin", "2")  # fmt: skip
    assert "canvas_user_login_id" in row["extras"]


def test_canvas_invalid_rlid_error(lms: Lms) -> None:
    body = load("canvas-nrps-error-invalid-rlid.json")
    lms.script.routes["/api/lti/courses/1/names_and_roles"] = [respond(400, body)]
    with pytest.raises(ResourceLinkRefused) as caught:
        lms.ws.fetch_roster(lms.server.base_url + "/api/lti/courses/1/names_and_roles",
                            platform="lms", rlid="gone")  # fmt: skip
    assert body["errors"]["message"] in str(caught.value)
    assert caught.value.status == 400


def test_moodle_bare_link_and_empty_sourcedid(lms: Lms) -> None:
    url = lms.serve("moodle-nrps-response", origin="https://moodle.example.edu",
                    then={"members": []})  # fmt: skip
    df = lms.ws.fetch_roster(url, platform="lms")
    assert df.attrs["pages"] == 2
    second = lms.requests("/mod/lti/services.php")[1]
    assert second.endswith("/memberships?limit=2&from=2")  # from "URL;rel=next"
    assert df["user_id"].tolist() == ["3", "4"]
    assert df["role"].tolist() == ["Instructor", "Learner"]
    assert df["lis_person_sourcedid"].isna().tolist() == [True, False]  # "" means none
    assert df["name"].tolist() == ["Terry Teacher", "Sasha Student"]
    assert set(df["context_label"]) == {"TC1"}


def test_moodle_rlid_message_without_custom_values(lms: Lms) -> None:
    url = lms.serve("moodle-nrps-response-rlid", origin="https://moodle.example.edu")
    df = lms.ws.fetch_roster(url, platform="lms", rlid="5")
    assert df["user_id"].tolist() == ["4"]
    assert not [c for c in df.columns if c.startswith("custom_")]
    assert "lti-bos/claim/basicoutcomesservice" in df.loc[0, "extras"]
    assert df.loc[0, "lis_person_sourcedid"] == "S1234567"


def test_openedx_context_id_only_and_page_links(lms: Lms) -> None:
    url = lms.serve("openedx-nrps-response", origin="https://courses.example.org",
                    then={"members": []})  # fmt: skip
    df = lms.ws.fetch_roster(url, platform="lms")
    assert lms.requests("/api/lti_consumer")[1].endswith("/memberships?limit=2&page=2")
    assert df["roles"].tolist()[0] == [M + "Administrator", M + "Instructor"]
    assert df["role"].tolist() == ["Instructor", "Learner"]
    assert df["email"].tolist() == ["olive.staff@example.org", "lee.learner@example.org"]
    assert df["given_name"].isna().all()
    assert set(df["context_id"]) == {"course-v1:ExampleX+DS101+2025_T1"}
    assert df["context_label"].isna().all() and df["context_title"].isna().all()


def test_blackboard_test_user_differences_and_echoed_rlid(lms: Lms) -> None:
    url = lms.serve("blackboard-nrps-response", origin="https://learn.example.edu",
                    then={"members": []})  # fmt: skip
    df = lms.ws.fetch_roster(url, platform="lms")
    second = lms.requests("/learn/api")[1]
    assert parse_qs(urlsplit(second).query)["rlid"] == ["_44_1"]  # followed verbatim
    assert df.attrs["differences_url"] == (
        lms.server.base_url
        + "/learn/api/v1/lti/external/namesandroles/_4_1?since=2025-01-01T00%3A00%3A00.000Z"
    )
    preview = df.set_index("name").loc["Ivy Instructor_PreviewUser"]
    assert preview["roles"] == [TEST_USER] and preview["role"] == "Other"
    assert bool(preview["is_test_user"])
    assert df["role"].tolist()[:2] == ["Instructor", "Learner"]


@pytest.mark.parametrize(
    ("stem", "origin", "ids", "roles"),
    [
        ("d2l-nrps-response", "https://school.brightspace.example",
         ["ca4d7f6b-e6bf-43ef-a263-6e76d66678ef_1826270",
          "ca4d7f6b-e6bf-43ef-a263-6e76d66678ef_1826301"], ["Instructor", "Learner"]),
        ("schoology-nrps-response", "https://lti-service.svc.schoology.com",
         ["123456789", "123456790"], ["Instructor", "Learner"]),
    ],
)  # fmt: skip
def test_d2l_and_schoology(
    lms: Lms, stem: str, origin: str, ids: list[str], roles: list[str]
) -> None:
    body = load(f"{stem}.json")
    df = lms.ws.fetch_roster(lms.serve(stem, origin=origin), platform="lms")
    assert df["user_id"].tolist() == ids and df["role"].tolist() == roles
    assert df["name"].tolist() == [m["name"] for m in body["members"]]
    assert [na(e) for e in df["email"]] == [m.get("email") for m in body["members"]]
    assert set(df["context_id"]) == {body["context"]["id"]}


# -- launches ---------------------------------------------------------------------------------


class Launcher:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.key = PlatformKey()
        self.jwks = JwksCache(fetch=get_json)

    def register(self, claims: dict[str, Any]) -> None:
        aud = claims["aud"]
        client_id = aud if isinstance(aud, str) else aud[0]
        self.ws.add_platform(
            claims["iss"].removeprefix("https://"), issuer=claims["iss"], client_id=client_id,
            auth_login_url=claims["iss"] + "/auth", auth_token_url=claims["iss"] + "/token",
            platform_key=self.key.jwks(), deployment_ids=[claims[CLAIM + "deployment_id"]],
        )  # fmt: skip

    def launch(self, claims_file: str, login: dict[str, Any] | None = None) -> tuple[Launch, Any]:
        claims = load(claims_file)
        self.register(claims)
        params = login or {
            "iss": claims["iss"],
            "login_hint": claims["sub"],
            "target_link_uri": claims[CLAIM + "target_link_uri"],
            "client_id": claims["aud"],
        }
        # The login and the claims files come from different launches: same deployment here.
        params = {**params, "lti_deployment_id": claims[CLAIM + "deployment_id"]}
        redirect = prepare_login(self.ws.store, params, TOOL)
        now = int(time.time())
        signed = {**claims, "nonce": redirect.nonce, "iat": now, "exp": now + 300}
        if "nbf" in claims:
            signed["nbf"] = now
        token = self.key.sign(signed)
        validated = run_sync(validate_launch(self.ws.store, token, redirect.state, TOOL, self.jwks))
        if validated.storage_target is not None:  # pending until the browser confirms
            launch, _confirmation = store_pending_launch(self.ws.store, validated)
            return launch, redirect
        return store_launch(self.ws.store, validated), redirect


@pytest.fixture
def launcher(ws: Workspace) -> Launcher:
    return Launcher(ws)


def test_canvas_cloud_launch(launcher: Launcher) -> None:
    login = load("canvas-cloud-login-initiation.json")
    launch, redirect = launcher.launch("canvas-cloud-id-token-claims-student.json", login)
    assert redirect.storage_target == "post_message_forwarding"
    assert launch.issuer == "https://canvas.instructure.com"
    assert launch.deployment_id == "189:7f956bcc8f67cd076ae464862ce83596a1bb3293"
    assert launch.sub == "848b3a11-c7b6-4c05-9fb3-782a0c34ee43"
    assert launch.context_memberships_url == (
        "https://school.instructure.com/api/lti/courses/3/names_and_roles"
    )
    assert launch.context_id == "d3a2504bba5184799a38f141e8df2335cfa8206d"
    assert launch.resource_link_id == "8aa641d1-b4d4-4fea-8a9b-e9fedfb62b1e"
    assert M + "Learner" in launch.roles and launch.user_name == "StudentFirst StudentLast"
    query = parse_qs(urlsplit(redirect.url).query)
    assert query["login_hint"] == [login["login_hint"]]
    assert query["lti_message_hint"] == [login["lti_message_hint"]]  # unchanged


def test_auth_request_has_the_spec_parameters(launcher: Launcher) -> None:
    expected = load("auth-request-params.json")
    login = load("canvas-selfhosted-login-initiation.json")
    _, redirect = launcher.launch("canvas-selfhosted-id-token-claims-student.json", login)
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirect.url).query).items()}
    assert set(query) == set(expected)
    for name in ("scope", "response_type", "response_mode", "prompt", "client_id",
                 "redirect_uri", "login_hint"):  # fmt: skip
        assert query[name] == expected[name], name


def test_canvas_selfhosted_admin_not_enrolled(launcher: Launcher) -> None:
    launch, _ = launcher.launch(
        "canvas-selfhosted-id-token-claims-admin-not-enrolled.json",
        load("canvas-selfhosted-login-initiation.json"),
    )
    assert launch.issuer == "https://canvas.example.edu"
    assert not [r for r in launch.roles if "/membership" in r]  # no course role at all
    assert launch.context_memberships_url == (
        "https://canvas.example.edu/api/lti/courses/3/names_and_roles"
    )
    assert launch.user_name == "admin1@example.edu"


def test_canvas_selfhosted_without_advantage_scopes(launcher: Launcher) -> None:
    launch, _ = launcher.launch("canvas-selfhosted-id-token-claims-no-advantage-scopes.json")
    assert launch.course is None and launch.context_memberships_url is None
    assert any("no Names and Roles claim" in w for w in launch.warnings)


def test_blackboard_launch(launcher: Launcher) -> None:
    login = load("blackboard-login-initiation.json")
    launch, redirect = launcher.launch("blackboard-id-token-claims.json", login)
    assert redirect.storage_target == "_parent"
    assert launch.context_memberships_url == (
        "https://learn.example.edu/learn/api/v1/lti/external/namesandroles/_4_1"
    )
    assert launch.resource_link_id == "_44_1" and launch.context_label == "course-link"
    assert launch.sub == "561ac4762b5142a0b1d3ed1aa40789c1"


def test_d2l_launch_with_nbf(launcher: Launcher) -> None:
    launch, _ = launcher.launch("d2l-id-token-claims.json")
    assert launch.sub == "ca4d7f6b-e6bf-43ef-a263-6e76d66678ef_1826270"
    assert launch.context_id == "2273803" and launch.context_label == "BIO-101"
    assert launch.context_memberships_url is not None
    assert launch.context_memberships_url.endswith("/orgunit/2273803/memberships")


def test_moodle_launch(launcher: Launcher) -> None:
    launch, _ = launcher.launch("moodle-id-token-claims.json")
    assert launch.sub == "2" and launch.deployment_id == "3"
    assert launch.context_memberships_url == (
        "https://moodle.example.edu/mod/lti/services.php/CourseSection/2/bindings/3/memberships"
    )
    assert launch.resource_link_id == "2"
    assert launch.claims[CLAIM + "custom"]["context_memberships_url"] == (
        launch.context_memberships_url
    )


def test_canvas_form_post_extras_are_ignored(ws: Workspace) -> None:
    form = load("canvas-auth-response-form.json")
    launcher = Launcher(ws)
    claims = load("canvas-selfhosted-id-token-claims-student.json")
    launcher.register(claims)
    login = {k: v for k, v in load("canvas-selfhosted-login-initiation.json").items()
             if k != "lti_storage_target"}  # fmt: skip
    login["lti_deployment_id"] = claims[CLAIM + "deployment_id"]
    redirect = prepare_login(ws.store, login, TOOL)
    now = int(time.time())
    token = launcher.key.sign({**claims, "nonce": redirect.nonce, "iat": now, "exp": now + 300})
    with ReceiverServer(ws, public_url=TOOL.public_url) as receiver:
        posted = {**form, "id_token": token, "state": redirect.state}
        response = httpx.post(f"http://127.0.0.1:{receiver.port}/launch", data=posted)
    assert response.status_code == 200, response.text
    assert ws.launches()["status"].tolist() == ["valid"]


# -- tokens and client assertions ---------------------------------------------------------------


@pytest.fixture
def token_endpoint(ws: Workspace) -> Iterator[tuple[Scripted, Any]]:
    script = Scripted()
    with scripted_server(script) as server:
        platform = ws.add_platform(
            "lms", issuer="https://lms.example.edu", client_id="c",
            auth_login_url=server.base_url + "/auth", auth_token_url=server.base_url + "/token",
            key_set_url=server.base_url + "/jwks",
        )  # fmt: skip
        yield script, platform


@pytest.mark.parametrize(
    "name",
    ["canvas-token-response.json", "blackboard-token-response.json",
     "moodle-token-response.json", "openedx-token-response.json"],
)  # fmt: skip
def test_token_responses(ws: Workspace, token_endpoint: tuple[Scripted, Any], name: str) -> None:
    script, platform = token_endpoint
    body = load(name)
    script.add("/token", respond(200, body))
    token = run_sync(get_access_token(platform, ws.key, [NRPS_SCOPE]))
    assert token.value == body["access_token"]  # "bearer" in any case is a Bearer token
    assert token.scope == body["scope"]
    assert 3500 < token.expires_at - time.time() <= 3600
    assert body["access_token"] not in repr(token)


@pytest.mark.parametrize(
    ("name", "status", "hint"),
    [
        ("canvas-token-error-invalid-assertion.json", 400, "check the platform registration"),
        ("moodle-token-error.json", 400, "lacks the Names and Role Provisioning scope"),
    ],
)
def test_token_errors(
    ws: Workspace, token_endpoint: tuple[Scripted, Any], name: str, status: int, hint: str
) -> None:
    script, platform = token_endpoint
    body = load(name)
    script.add("/token", respond(status, body))
    with pytest.raises(TokenError) as caught:
        run_sync(get_access_token(platform, ws.key, [NRPS_SCOPE]))
    assert caught.value.error == body["error"]
    assert caught.value.error_description == body.get("error_description")
    assert hint in str(caught.value)


def test_token_request_form(ws: Workspace, token_endpoint: tuple[Scripted, Any]) -> None:
    script, platform = token_endpoint
    expected = load("token-request-form.json")
    forms: list[dict[str, list[str]]] = []

    def capture(handler: Any) -> tuple[int, dict[str, str], bytes]:
        forms.append(parse_qs(handler.request.body.decode()))
        return 200, {"Content-Type": "application/json"}, b'{"access_token": "a"}'

    script.add("/token", capture)
    run_sync(get_access_token(platform, ws.key, [NRPS_SCOPE]))
    [form] = forms
    assert set(form) == set(expected)
    for name in ("grant_type", "client_assertion_type", "scope"):
        assert form[name] == [expected[name]]


@pytest.mark.parametrize(
    ("name", "preset", "base"),
    [
        ("client-assertion-canvas-cloud.json", "canvas-cloud", None),
        ("client-assertion-d2l.json", "d2l", "https://school.brightspace.example"),
        ("client-assertion-blackboard.json", "blackboard", None),
    ],
)
def test_client_assertions_match_the_platforms(
    ws: Workspace, name: str, preset: str, base: str | None
) -> None:
    sample = load(name)
    client_id = sample["payload"]["sub"]
    platform = ws.add_platform(preset, preset=preset, base_url=base, client_id=client_id)
    ours = sign_client_assertion(ws.key, client_id=client_id, audience=platform.audience)
    header = jwt.get_unverified_header(ours)
    claims = jwt.decode(ours, options={"verify_signature": False})
    assert header["alg"] == sample["header"]["alg"] and header["kid"] == ws.key.kid
    assert set(claims) == set(sample["payload"])
    aud = sample["payload"]["aud"]
    assert claims["aud"] in (aud if isinstance(aud, list) else [aud])  # D2L's own audience
    assert claims["sub"] == client_id and claims["iss"] == client_id
    assert claims["exp"] - claims["iat"] == sample["payload"]["exp"] - sample["payload"]["iat"]


# -- platform configurations versus the presets ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "preset", "base"),
    [
        ("canvas-openid-configuration.json", "canvas-cloud", None),
        ("moodle-openid-configuration.json", "moodle", "https://moodle.example.edu"),
        ("sakai-openid-configuration.json", "sakai", "https://sakai.example.edu"),
    ],
)
def test_presets_agree_with_the_platforms_own_configuration(
    name: str, preset: str, base: str | None
) -> None:
    config = load(name)
    fields = preset_urls(preset, base)
    assert fields["issuer"] == config["issuer"]
    assert fields["auth_login_url"] == config["authorization_endpoint"]
    if fields["auth_token_url"] is None:  # Sakai: the token URL ends with the tool id
        assert config["token_endpoint"].startswith(f"{base}/imsblis/lti13/token/")
    else:
        assert fields["auth_token_url"] == config["token_endpoint"]
    # Sakai's per-tool keyset URL (…/keyset/43) is the legacy form of the site keyset.
    assert config["jwks_uri"].startswith(fields["key_set_url"])


def test_a_broken_payload_is_a_clear_error(lms: Lms) -> None:
    lms.script.routes["/x"] = [respond(200, b'{"members": ', {"Content-Type": NRPS_TYPE})]
    with pytest.raises(BadResponse, match="not JSON"):
        lms.ws.fetch_roster(lms.server.base_url + "/x", platform="lms")


def test_every_payload_file_has_a_test() -> None:
    # Each file's stem must be named by a test in this module (a headers file goes with its
    # body), outside NOT_PARSED: a payload added to the corpus without a test fails here.
    source = Path(__file__).read_text(encoding="utf-8")
    start = source.index("NOT_PARSED = {")
    source = source[:start] + source[source.index("\n}\n", start) :]
    untested = [
        path.name
        for path in sorted(PAYLOADS.glob("*.json"))
        if path.name not in NOT_PARSED
        and f'"{path.name.removesuffix(".json").removesuffix(".headers")}' not in source
    ]
    assert untested == []
    assert set(NOT_PARSED) <= {p.name for p in PAYLOADS.glob("*.json")}
