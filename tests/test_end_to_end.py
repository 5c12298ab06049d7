"""The main job over loopback HTTP: sandbox LMS -> launch receiver -> kernel -> DataFrame."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pandas as pd
import pytest

from nrps_nb import (
    BadResponse,
    ConfigError,
    IncompleteRoster,
    InsecureURLError,
    LaunchTimeout,
    NotAuthorized,
    Platform,
    ServiceUnavailable,
    TokenError,
    Workspace,
)
from nrps_nb.demo import drive_launch
from nrps_nb.frames import COLUMNS
from nrps_nb.oauth import clear_token_cache
from nrps_nb.sandbox import SandboxConfig, SandboxServer
from nrps_nb.server import ReceiverServer

from .helpers import Scripted, add_scripted_platform, respond, scripted_server


def test_launch_is_captured_and_roster_matches_the_platform(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    page = drive_launch(sandbox.launch_url("intro-stats"))
    assert page.status_code == 200
    assert "Introduction to Statistics" in page.text
    launch = ws.capture_launch(timeout=5)
    assert launch.platform == "sandbox"
    assert launch.context_title == "Introduction to Statistics"
    assert launch.course is not None
    assert launch.context_memberships_url == sandbox.memberships_url("intro-stats")

    df = ws.fetch_roster(launch)
    expected = sandbox.course_members("intro-stats")
    assert df["user_id"].tolist() == [m["user_id"] for m in expected]
    assert df.attrs["pages"] == 3  # 250 members at the sandbox's cap of 100 a page
    assert df.attrs["complete"] is True
    assert df.attrs["warnings"] == []  # a plain paged roster has nothing to warn about
    assert df.attrs["memberships_url"] == launch.context_memberships_url
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    by_id = df.set_index("user_id")
    for member in expected:
        row = by_id.loc[member["user_id"]]
        for field in ("name", "email", "given_name", "lis_person_sourcedid"):
            value = row[field]
            assert (None if pd.isna(value) else value) == (member.get(field) or None)
        assert list(row["roles"]) == member["roles"]
    assert (df["role"] == "TeachingAssistant").sum() >= 1
    assert df["is_test_user"].sum() == 1
    assert df.loc[df["is_test_user"], "role"].tolist() == ["Learner"]
    assert df["context_label"].unique().tolist() == ["STAT 101"]
    assert str(df["name"].dtype) == "string"
    assert str(df["is_learner"].dtype) == "boolean"
    assert str(df["fetched_at"].dtype).startswith("datetime64")


def test_capture_claims_each_launch_once(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    drive_launch(sandbox.launch_url("intro-stats"))
    drive_launch(sandbox.launch_url("seminar"))
    first = ws.capture_launch(timeout=5)
    second = ws.capture_launch(timeout=5)
    assert [first.context_title, second.context_title] == [
        "Introduction to Statistics",
        "Research Seminar",
    ]
    with pytest.raises(LaunchTimeout):
        ws.capture_launch(timeout=0.3)
    launches = ws.launches()
    assert launches["claimed"].tolist() == [True, True]
    assert set(ws.courses()["context_title"]) == {"Introduction to Statistics", "Research Seminar"}


def test_capture_waits_for_a_launch_that_arrives_later(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    async def scenario() -> str:
        waiter = asyncio.create_task(ws.acapture_launch(timeout=10))
        await asyncio.sleep(0.3)
        assert not waiter.done()
        await asyncio.to_thread(drive_launch, sandbox.launch_url("seminar"))
        launch = await waiter
        return launch.context_title or ""

    assert asyncio.run(scenario()) == "Research Seminar"


def test_replayed_form_post_is_rejected(
    ws: Workspace, receiver: ReceiverServer, sandbox: SandboxServer, platform: Platform
) -> None:
    with httpx.Client(follow_redirects=True) as client:
        form_page = client.get(sandbox.launch_url("seminar"))
        from nrps_nb.demo import _FormParser

        parser = _FormParser()
        parser.feed(form_page.text)
        action, _, fields = parser.forms[0]
        assert client.post(action, data=fields).status_code == 200
        replay = client.post(action, data=fields)
    assert replay.status_code == 400
    assert "state" in replay.text
    assert len(ws.launches()) == 1


def test_token_is_requested_once_for_several_fetches(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    for course in ("intro-stats", "seminar", "intro-stats"):
        ws.fetch_roster(sandbox.memberships_url(course), platform="sandbox")
    assert sandbox.stats["token_requests"] == 1


def test_role_filter_and_limit(ws: Workspace, sandbox: SandboxServer, platform: Platform) -> None:
    url = sandbox.memberships_url("intro-stats")
    learners = ws.fetch_roster(url, platform="sandbox", role="Learner", limit=40)
    expected = [
        m["user_id"]
        for m in sandbox.course_members("intro-stats")
        if "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner" in m["roles"]
    ]
    assert learners["user_id"].tolist() == expected
    assert learners.attrs["pages"] == -(-len(expected) // 40)
    assert set(learners["role"]) == {"Learner"}


@pytest.mark.parametrize("role", ["Teacher", "Student", "", "  "])
def test_a_role_that_is_no_lti_role_fails_before_any_request(
    ws: Workspace, sandbox: SandboxServer, platform: Platform, role: str
) -> None:
    """Not a filter that silently matches nobody: one ConfigError, nothing sent, nothing kept."""
    before = dict(sandbox.stats)
    urls = [sandbox.memberships_url(c) for c in ("intro-stats", "seminar")]
    with pytest.raises(ConfigError, match="role") as one:
        ws.fetch_roster(urls[0], platform="sandbox", role=role)
    with pytest.raises(ConfigError, match="role") as many:
        ws.fetch_rosters(urls, platform="sandbox", role=role)
    if role.strip():
        assert "is not an LTI role" in str(one.value) and "Learner" in str(many.value)
    assert sandbox.stats["nrps_requests"] == before["nrps_requests"]
    assert sandbox.stats["token_requests"] == before["token_requests"]
    assert ws.courses().empty  # the URLs were not kept as courses


def test_role_filters_accept_every_form_of_a_role(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    url = sandbox.memberships_url("intro-stats")
    forms = ["TA", "TeachingAssistant", "Instructor#TeachingAssistant",
             "urn:lti:role:ims/lis/TeachingAssistant",
             "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"]  # fmt: skip
    sizes = {form: len(ws.fetch_roster(url, platform="sandbox", role=form)) for form in forms}
    assert set(sizes.values()) == {3}, sizes


def test_memberships_url_with_its_own_query_is_merged(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    # A course added by URL alone (no launch), whose URL already carries a query.
    url = sandbox.memberships_url("seminar") + "?limit=3"
    df = ws.fetch_roster(url, platform="sandbox", limit=5)
    assert len(df) == 8
    assert df.attrs["pages"] == 2
    course = ws.courses()
    assert course["memberships_url"].tolist() == [url]
    assert course["context_title"].tolist() == ["Research Seminar"]  # learned from the response


def test_pseudonymized_roster_keeps_no_identifiers(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    url = sandbox.memberships_url("seminar")
    plain = ws.fetch_roster(url, platform="sandbox")
    pseudo = ws.fetch_roster(url, platform="sandbox", pseudonymize=True)
    again = ws.fetch_roster(url, platform="sandbox", pseudonymize=True)
    assert pseudo["user_id"].tolist() == again["user_id"].tolist()  # stable in a workspace
    text = pseudo.to_csv()
    for column in ("user_id", "name", "email", "lis_person_sourcedid", "lti11_legacy_user_id"):
        for value in plain[column].dropna():
            assert value not in text
    assert "name" not in pseudo.columns and "extras" not in pseudo.columns


def test_unknown_platform_and_bad_course(ws: Workspace, platform: Platform) -> None:
    with pytest.raises(ConfigError, match="unknown platform 'nope'"):
        ws.fetch_roster("https://lms.example.edu/x", platform="nope")
    with pytest.raises(ConfigError, match="context id"):
        ws.fetch_roster("no-such-course")
    with pytest.raises(InsecureURLError, match="http://"):
        ws.add_course("http://lms.example.edu/memberships", platform="sandbox")


def test_wrong_memberships_url_is_a_clear_error(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    with pytest.raises(BadResponse, match="404"):
        ws.fetch_roster(sandbox.base_url + "/api/lti/courses/nope/memberships", platform="sandbox")


def test_tool_key_unknown_to_the_platform(
    ws: Workspace, sandbox: SandboxServer, platform: Platform, tmp_path: object
) -> None:
    # Another workspace (another tool key) claiming the same client_id is refused, even after
    # the real one got a token (tokens are cached per tool key, not only per client_id).
    info = sandbox.info()
    ws.fetch_roster(info["memberships_url"], platform="sandbox")
    other = Workspace(str(tmp_path) + "/other")
    other.add_platform("sandbox", preset="sandbox", base_url=info["issuer"],
                       client_id=info["client_id"])  # fmt: skip
    with pytest.raises(TokenError) as exc:
        other.fetch_roster(info["memberships_url"], platform="sandbox")
    assert exc.value.error == "invalid_client"
    assert "public key" in str(exc.value)
    assert ws.fetch_roster(info["memberships_url"], platform="sandbox").shape[0] == 250


def test_platform_that_cannot_reach_the_tool_jwks(ws: Workspace, tmp_path: Path) -> None:
    """The LMS fetches the tool's keys from the registered JWKS URL; when nothing answers there
    the advice is to keep the receiver reachable (or register the key), not to re-paste it."""
    with SandboxServer(SandboxConfig(tool_url="http://127.0.0.1:9")) as lms:  # nothing listens
        info = lms.info()
        ws.add_platform("sandbox", preset="sandbox", base_url=info["issuer"],
                        client_id=info["client_id"])  # fmt: skip
        with pytest.raises(TokenError) as exc:
            ws.fetch_roster(info["memberships_url"], platform="sandbox")
    assert exc.value.error == "invalid_client"
    assert "could not get the tool's public keys" in str(exc.value)
    assert "/jwks.json" in str(exc.value) and "running and reachable" in str(exc.value)


def test_platform_answering_html(ws: Workspace) -> None:
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t0k", "token_type": "Bearer",
                                       "expires_in": 3600}))  # fmt: skip
    script.add("/members", respond(200, b"<html><body>Please log in</body></html>",
                                   {"Content-Type": "text/html"}))  # fmt: skip
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        with pytest.raises(BadResponse, match="HTML page"):
            ws.fetch_roster(server.base_url + "/members", platform="lms")
        script.routes["/token"] = [respond(400, {"error": "invalid_scope",
                                                 "error_description": "no NRPS"})]  # fmt: skip
        clear_token_cache()
        with pytest.raises(TokenError, match="Names and Role") as exc:
            ws.fetch_roster(server.base_url + "/members", platform="lms")
        assert exc.value.error == "invalid_scope"
        assert exc.value.error_description == "no NRPS"


def test_unreachable_platform(ws: Workspace) -> None:
    ws.add_platform("gone", issuer="https://gone.example.edu", client_id="c",
                    auth_login_url="http://127.0.0.1:9/auth", auth_token_url="http://127.0.0.1:9/token",
                    key_set_url="http://127.0.0.1:9/jwks")  # fmt: skip
    with pytest.raises(TokenError, match="cannot reach"):
        ws.fetch_roster("http://127.0.0.1:9/members", platform="gone")


def test_pages_after_a_failure_are_not_lost(ws: Workspace) -> None:
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t0k", "token_type": "bearer"}))
    member = {"user_id": "u1", "roles": ["Learner"]}
    script.add("/m", respond(200, {"members": [member]}, {"Link": '</m2>; rel="next"'}))
    script.add("/m2", respond(200, {"members": [{"user_id": 2, "roles": []}]},
                              {"Link": '</m3?x=A%2Fb>; rel="next"'}))  # fmt: skip
    script.add("/m3", respond(404, {"error": "gone"}))
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        with pytest.raises(IncompleteRoster) as exc:
            ws.fetch_roster(server.base_url + "/m", platform="lms")
        assert [m["user_id"] for m in exc.value.members] == ["u1", "2"]
        assert exc.value.resume_url == server.base_url + "/m3?x=A%2Fb"  # verbatim
        assert isinstance(exc.value.cause, BadResponse)
        script.routes["/m3"] = [respond(200, {"members": [{"user_id": "u3"}]})]
        df = ws.fetch_roster(server.base_url + "/m", platform="lms", resume=exc.value)
        assert df["user_id"].tolist() == ["u1", "2", "u3"]
        assert df.attrs["pages"] == 3
        fetched = [uri for method, uri, _ in script.requests if method == "GET"]
        assert fetched[-1] == "/m3?x=A%2Fb"


def test_401_refreshes_the_token_once(ws: Workspace) -> None:
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "first", "expires_in": 3600}),
               respond(200, {"access_token": "second", "expires_in": 3600}),
               respond(200, {"access_token": "third", "expires_in": 3600}))  # fmt: skip

    def members(handler: object) -> tuple[int, dict[str, str], bytes | str]:
        auth = handler.request.headers.get("Authorization")  # type: ignore[attr-defined]
        if auth == "Bearer second":
            return 200, {"Content-Type": "application/json"}, '{"members": [{"user_id": "a"}]}'
        return 401, {}, '{"error": "expired"}'

    script.add("/m", members)
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        df = ws.fetch_roster(server.base_url + "/m", platform="lms")
        assert df["user_id"].tolist() == ["a"]
        clear_token_cache()
        with pytest.raises(NotAuthorized, match="401"):
            ws.fetch_roster(server.base_url + "/m", platform="lms")  # third, then fourth fail
    token_posts = [uri for method, uri, _ in script.requests if method == "POST"]
    assert len(token_posts) == 4


def test_next_link_to_another_origin_is_not_followed(ws: Workspace) -> None:
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "secret-token"}))
    script.add("/m", respond(200, {"members": [{"user_id": "a"}]},
                             {"Link": '<http://localhost:9/steal>; rel="next"'}))  # fmt: skip
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        with pytest.raises(IncompleteRoster) as exc:
            ws.fetch_roster(server.base_url + "/m", platform="lms")
    assert "another origin" in str(exc.value)
    assert "secret-token" not in str(exc.value)


@pytest.mark.parametrize("loop_to", ["/m", "/m2", "/m?page=1"])
def test_a_next_link_that_repeats_a_page_ends_the_roster(ws: Workspace, loop_to: str) -> None:
    """Checklist §2.7: stop where a next URL repeats (a loop guard), keeping every member, with
    a warning; not an error that would discard a roster the platform served in full."""
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t"}))
    first = "/m?page=1" if loop_to == "/m?page=1" else "/m"
    script.add("/m", respond(200, {"members": [{"user_id": "a"}]}, {"Link": '</m2>; rel="next"'}))
    script.add("/m2", respond(200, {"members": [{"user_id": "b"}]},
                              {"Link": f'<{loop_to}>; rel="next"'}))  # fmt: skip
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        df = ws.fetch_roster(server.base_url + first, platform="lms")
    assert df["user_id"].tolist() == ["a", "b"] and df.attrs["complete"]
    assert df.attrs["pages"] == 2
    assert any("repeats a page already fetched" in w for w in df.attrs["warnings"])
    assert [r[1] for r in script.requests if r[1] != "/token"][:2] == [first, "/m2"]
    assert len([r for r in script.requests if r[1].startswith("/m")]) == 2


def test_a_runaway_platform_stops_at_the_page_cap(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Endless distinct next links: IncompleteRoster after MAX_PAGES, members kept."""
    from nrps_nb import nrps

    monkeypatch.setattr(nrps, "MAX_PAGES", 4)
    counter = iter(range(1, 1000))

    def endless(_handler: object) -> tuple[int, dict[str, str], str]:
        n = next(counter)
        body = json.dumps({"members": [{"user_id": f"u{n}"}]})
        return 200, {"Content-Type": "application/json", "Link": f'</m?p={n}>; rel="next"'}, body

    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t"}))
    script.add("/m", endless)
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        with pytest.raises(IncompleteRoster, match="more than 4 pages") as exc:
            ws.fetch_roster(server.base_url + "/m", platform="lms")
    assert [m["user_id"] for m in exc.value.members] == ["u1", "u2", "u3", "u4"]


def test_throttling_is_retried_with_retry_after(ws: Workspace) -> None:
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t"}))
    script.add("/m", respond(429, b"slow down", {"Retry-After": "0"}),
               respond(403, b"403 Forbidden (Rate Limit Exceeded)", {"Retry-After": "0"}),
               respond(503, b"", {"Retry-After": "0"}),
               respond(200, {"members": [{"user_id": "a"}]}))  # fmt: skip
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        df = ws.fetch_roster(server.base_url + "/m", platform="lms")
    assert df["user_id"].tolist() == ["a"]
    assert sum(1 for m, u, _ in script.requests if u == "/m") == 4


def test_service_unavailable_after_the_budget(ws: Workspace) -> None:
    from nrps_nb import nrps

    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t"}))
    script.add("/m", respond(503, b"", {"Retry-After": "0"}))
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        with pytest.raises(ServiceUnavailable, match="gave up after 6 attempts"):
            ws.fetch_roster(server.base_url + "/m", platform="lms")
    assert sum(1 for m, u, _ in script.requests if u == "/m") == nrps.DEFAULT_RETRY.max_retries + 1


def test_capture_and_fetch_inside_a_running_event_loop(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    # What a Jupyter cell does: call the sync API while a loop runs on this thread.
    drive_launch(sandbox.launch_url("seminar"))

    async def cell() -> pd.DataFrame:
        launch = ws.capture_launch(timeout=5)
        return ws.fetch_roster(launch)

    df = asyncio.run(cell())
    assert len(df) == 8


def test_login_form_post_and_launch_page_escape_claims(
    ws: Workspace, receiver: ReceiverServer, sandbox: SandboxServer, platform: Platform
) -> None:
    info = sandbox.info()
    # OIDC login initiation by POST works like GET.
    start = httpx.get(sandbox.launch_url("seminar"), follow_redirects=False)
    login_params = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
    posted = httpx.post(receiver.base_url + "/login", data=login_params, follow_redirects=False)
    assert posted.status_code == 302
    assert posted.headers["location"].startswith(info["auth_login_url"])
    bad = httpx.get(receiver.base_url + "/login", params={**login_params, "iss": "https://x"})
    assert bad.status_code == 400 and "registration" in bad.text
    assert httpx.get(receiver.base_url + "/launch").status_code == 405
    jwks = httpx.get(receiver.base_url + "/jwks.json").json()
    assert jwks == ws.tool_jwks() and "d" not in jwks["keys"][0]


def test_urls_httpx_would_refuse_are_typed_errors(ws: Workspace) -> None:
    """A URL with a control character — typed by the user or sent by the platform as a next
    page — is a ConfigError naming it, never a raw httpx exception; members already fetched
    are kept, and a new URL that failed is not kept as a course."""
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t0k", "token_type": "Bearer"}))
    legacy = {"pageOf": {"membershipSubject": {"membership": [
        {"member": {"userId": "u9"}, "role": ["Learner"]}]}}, "nextPage": "/l2\x01"}  # fmt: skip
    script.add("/legacy", respond(200, legacy))
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        bad = server.base_url + "/x\x01y"
        with pytest.raises(ConfigError, match="is not a valid URL"):
            ws.fetch_roster(bad, platform="lms")
        assert bad not in set(ws.courses()["memberships_url"])
        with pytest.raises(ConfigError, match="limit must be a positive integer"):
            ws.fetch_roster(server.base_url + "/legacy", platform="lms", limit=0)
        with pytest.raises(IncompleteRoster) as exc:  # the platform's next page URL
            ws.fetch_roster(server.base_url + "/legacy", platform="lms")
        assert [m["user_id"] for m in exc.value.members] == ["u9"]
        assert isinstance(exc.value.cause, ConfigError)
        assert "is not a valid URL" in str(exc.value.cause)


def test_legacy_lis_format_pages_and_members_without_ids(ws: Workspace) -> None:
    """The NRPS v1 / LIS JSON-LD shape: members mapped, nextPage followed, an entry without a
    userId skipped (not a row with an empty id), junk shapes read as empty, never a crash."""
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t0k", "token_type": "Bearer"}))
    page1 = {"pageOf": {"membershipSubject": {"contextId": "ctx-1", "membership": [
        {"member": {"userId": "a", "name": "Ana Lee", "email": "ana@x"}, "role": ["Instructor"]},
        {"member": {"name": "No Id"}, "role": ["Learner"]},
    ]}}, "nextPage": "/lis2"}  # fmt: skip
    page2 = {"pageOf": {"membershipSubject": {"membership": [
        {"member": {"userId": 7, "givenName": "Bo"}, "role": "Learner",
         "status": "http://purl.imsglobal.org/vocab/lis/v2/status#Inactive"},
        {"member": {"name": "No Id Again"}, "role": ["Learner"]},
    ]}}}  # fmt: skip
    script.add("/lis", respond(200, page1))
    script.add("/lis2", respond(200, page2))
    script.add("/junk", respond(200, {"pageOf": {"membershipSubject": {"membership": 5}}}))
    script.add("/junk2", respond(200, {"pageOf": {"membershipSubject": "x"}}))
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        df = ws.fetch_roster(server.base_url + "/lis", platform="lms")
        assert df["user_id"].tolist() == ["a", "7"]
        assert df["role"].tolist() == ["Instructor", "Learner"]
        assert df["status"].tolist() == ["Active", "Inactive"]
        assert df["context_id"].tolist() == ["ctx-1", "ctx-1"]
        assert df.attrs["pages"] == 2
        warnings = " ".join(df.attrs["warnings"])
        assert "legacy LIS" in warnings and "without a usable user_id were skipped" in warnings
        assert "duplicate" not in warnings
        for path in ("/junk", "/junk2"):  # read as an empty roster, not a crash
            assert len(ws.fetch_roster(server.base_url + path, platform="lms")) == 0


def test_receiver_fetches_an_http_key_set_only_for_a_platform_that_allows_it(
    ws: Workspace,
) -> None:
    """--allow-insecure-http at registration covers the platform's key set too (the receiver
    fetches it on launch); without the flag, plain http to a non-loopback host is refused."""
    from nrps_nb.server.handlers import ReceiverContext

    common = {"client_id": "c", "auth_login_url": "https://lms.invalid/auth",
              "auth_token_url": "https://lms.invalid/token"}  # fmt: skip
    ws.add_platform("trusted", issuer="http://trusted.invalid", allow_insecure_http=True,
                    key_set_url="http://trusted.invalid/jwks", **common)  # fmt: skip
    ws.add_platform("strict", issuer="https://strict.invalid",
                    key_set_url="https://strict.invalid/jwks", **common)  # fmt: skip
    fetch = ReceiverContext.create(ws, "http://127.0.0.1:8765").jwks.fetch
    # Allowed: the request is made (and fails: .invalid never resolves) — not refused up front.
    with pytest.raises(ServiceUnavailable):
        asyncio.run(fetch("http://trusted.invalid/jwks"))
    with pytest.raises(InsecureURLError):
        asyncio.run(fetch("http://strict.invalid/jwks"))


def test_a_token_without_the_nrps_scope_is_not_used(ws: Workspace) -> None:
    """The platform granted less than asked (CHECKLIST §2.6): say so at once, with one token
    request and no NRPS request (no 401, no second token request, no retry)."""
    script = Scripted()
    ags = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
    script.add("/token", respond(200, {"access_token": "t0k", "token_type": "Bearer",
                                       "scope": ags}))  # fmt: skip
    script.add("/m", respond(200, {"members": [{"user_id": "1", "roles": []}]}))
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        with pytest.raises(TokenError, match="granted the scopes") as exc:
            ws.fetch_roster(server.base_url + "/m", platform="lms")
        assert exc.value.error == "invalid_scope"
        assert [path for _, path, _ in script.requests] == ["/token"]
        # An empty scope means "as requested": the roster is fetched.
        script.routes["/token"] = [respond(200, {"access_token": "t1k", "token_type": "Bearer",
                                                 "scope": ""})]  # fmt: skip
        clear_token_cache()
        assert ws.fetch_roster(server.base_url + "/m", platform="lms")["user_id"].tolist() == ["1"]
