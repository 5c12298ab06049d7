"""Fault injection over loopback HTTP: what a user sees when the platform misbehaves."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from nrps_nb import (
    BadResponse,
    IncompleteRoster,
    RateLimited,
    ServiceUnavailable,
    Workspace,
    http,
    nrps,
)
from nrps_nb.nrps import RetryPolicy
from nrps_nb.sandbox import CourseSpec, Fault, SandboxConfig, SandboxServer
from nrps_nb.server import ReceiverServer

from .helpers import Scripted, respond, scripted_server

FAST = RetryPolicy(max_retries=3, budget=10.0, base_delay=0.01, max_delay=0.05)

StartLms = Callable[..., SandboxServer]


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nrps, "DEFAULT_RETRY", FAST)


@pytest.fixture
def lms(ws: Workspace, receiver: ReceiverServer) -> Iterator[StartLms]:
    """Start a sandbox with the given SandboxConfig options and register it as 'sandbox'."""
    servers: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        server = SandboxServer(SandboxConfig(tool_url=receiver.base_url, **options)).start()
        servers.append(server)
        info = server.info()
        ws.add_platform("sandbox", preset="sandbox", base_url=info["issuer"],
                        client_id=info["client_id"], deployment_ids=[info["deployment_id"]])  # fmt: skip
        return server

    yield start
    for server in servers:
        server.stop()


def ids(members: list[dict[str, Any]]) -> list[str]:
    return [str(m["user_id"]) for m in members]


# -- throttling ----------------------------------------------------------------------------------


def test_429_forever_keeps_pages_so_far_and_resume_finishes(ws: Workspace, lms: StartLms) -> None:
    server = lms(faults=(Fault("429", page=2),))
    url = server.memberships_url("intro-stats")
    expected = ids(server.course_members("intro-stats"))
    with pytest.raises(IncompleteRoster) as info:
        ws.fetch_roster(url)
    partial = info.value
    assert isinstance(partial.cause, RateLimited)
    assert "HTTP 429" in str(partial) and "gave up after 4 attempts" in str(partial)
    assert partial.pages == 1 and ids(partial.members) == expected[:100]
    assert server.faults_fired == [FAST.max_retries + 1]

    server.set_faults()  # the platform recovers
    df = ws.fetch_roster(url, resume=partial)
    assert df["user_id"].tolist() == expected
    assert df.attrs["complete"] is True and df.attrs["pages"] == 3


def test_429_forever_on_the_first_page_is_rate_limited(ws: Workspace, lms: StartLms) -> None:
    server = lms(faults=(Fault("429", page=1),))
    with pytest.raises(RateLimited, match="throttling"):
        ws.fetch_roster(server.memberships_url("seminar"))
    assert server.stats["nrps_requests"] == FAST.max_retries + 1


@pytest.mark.parametrize("kind", ["429", "429-date"])
def test_retry_after_is_honoured(ws: Workspace, lms: StartLms, kind: str) -> None:
    # 1 s in seconds; an HTTP date has whole seconds only: 2 s from now is more than 1 s away.
    server = lms(faults=(Fault(kind, page=2, times=1, retry_after=1 if kind == "429" else 2),))  # type: ignore[arg-type]
    started = time.monotonic()
    df = ws.fetch_roster(server.memberships_url("intro-stats"))
    elapsed = time.monotonic() - started
    assert len(df) == 250 and df.attrs["complete"] is True
    assert server.faults_fired == [1]
    assert elapsed >= 0.9  # the backoff alone (FAST) would have waited about 0.01 s


@pytest.mark.parametrize("times", [2, None])
def test_canvas_403_throttle_is_retried(ws: Workspace, lms: StartLms, times: int | None) -> None:
    server = lms(faults=(Fault("canvas-403", page=2, times=times),))
    url = server.memberships_url("intro-stats")
    if times is not None:
        assert len(ws.fetch_roster(url)) == 250
        assert server.faults_fired == [2]
        return
    with pytest.raises(IncompleteRoster) as info:
        ws.fetch_roster(url)
    assert isinstance(info.value.cause, RateLimited)
    assert "Rate Limit Exceeded" in str(info.value)


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
def test_server_errors_are_retried_then_succeed(ws: Workspace, lms: StartLms, kind: str) -> None:
    server = lms(faults=(Fault(kind, page=2, times=2),))  # type: ignore[arg-type]
    df = ws.fetch_roster(server.memberships_url("intro-stats"))
    assert df["user_id"].tolist() == ids(server.course_members("intro-stats"))
    assert server.faults_fired == [2]
    assert server.stats["nrps_requests"] == 5


def test_server_error_forever_is_service_unavailable(ws: Workspace, lms: StartLms) -> None:
    server = lms(faults=(Fault("503", retry_after=0),))
    with pytest.raises(ServiceUnavailable, match=r"HTTP 503.*gave up after 4 attempts"):
        ws.fetch_roster(server.memberships_url("seminar"))


# -- hangs, tokens, garbage, foreign hosts ----------------------------------------------------------


@pytest.mark.parametrize("times", [1, None])
def test_a_hang_times_out(
    ws: Workspace, lms: StartLms, monkeypatch: pytest.MonkeyPatch, times: int | None
) -> None:
    monkeypatch.setattr(http, "TIMEOUT", httpx.Timeout(0.3, connect=2.0))
    monkeypatch.setattr(nrps, "DEFAULT_RETRY", RetryPolicy(max_retries=1, base_delay=0.01))
    server = lms(faults=(Fault("hang", page=2, times=times, hang=1.0),))
    url = server.memberships_url("intro-stats")
    started = time.monotonic()
    if times == 1:  # one slow answer: the retry gets the page
        assert len(ws.fetch_roster(url)) == 250
        return
    with pytest.raises(IncompleteRoster) as info:
        ws.fetch_roster(url)
    assert time.monotonic() - started < 2.0  # two 0.3 s timeouts, not the 1 s hang each
    assert isinstance(info.value.cause, ServiceUnavailable)
    assert "did not answer in time" in str(info.value)
    assert len(info.value.members) == 100


def test_token_revoked_mid_roster_is_refreshed_once(ws: Workspace, lms: StartLms) -> None:
    server = lms(faults=(Fault("revoke", page=1, times=1),))
    df = ws.fetch_roster(server.memberships_url("intro-stats"))
    assert df["user_id"].tolist() == ids(server.course_members("intro-stats"))
    assert server.stats["token_requests"] == 2  # the first token and exactly one refresh
    assert server.stats["nrps_requests"] == 4  # page 2 was refused once


def test_garbage_page_keeps_the_pages_before_it(ws: Workspace, lms: StartLms) -> None:
    server = lms(faults=(Fault("garbage", page=3),))
    with pytest.raises(IncompleteRoster) as info:
        ws.fetch_roster(server.memberships_url("intro-stats"))
    partial = info.value
    assert isinstance(partial.cause, BadResponse)
    message = str(partial)
    assert "stopped after 2 page(s) and 200 members" in message
    assert "an HTML page" in message
    assert ids(partial.members) == ids(server.course_members("intro-stats"))[:200]
    assert partial.resume_url is not None and "cursor=" in partial.resume_url


def test_next_link_to_another_host_never_gets_the_token(ws: Workspace, lms: StartLms) -> None:
    script = Scripted()
    script.add("/api/lti/courses/intro-stats/memberships", respond(200, {"members": []}))
    with scripted_server(script) as other:
        foreign = f"http://localhost:{other.port}"  # another host name and port
        server = lms(faults=(Fault("foreign-next", page=1, url=foreign),))
        with pytest.raises(IncompleteRoster) as info:
            ws.fetch_roster(server.memberships_url("intro-stats"))
    assert isinstance(info.value.cause, BadResponse)
    assert "another origin" in str(info.value) and foreign in str(info.value)
    assert len(info.value.members) == 100
    sent = [headers.get("Authorization") for _m, _u, headers in script.requests]
    assert sent == []  # not even a request, let alone a bearer token


# -- Canvas's X-Rate-Limit-Remaining ---------------------------------------------------------------


def test_low_rate_limit_budget_slows_the_client(
    ws: Workspace, lms: StartLms, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = lms(rate_limit_budget=100.0, rate_limit_cost=20.0, rate_limit_refill=0.0)
    url = server.memberships_url("seminar")  # 8 members, 4 pages of 2

    def timed(policy: RetryPolicy) -> float:
        monkeypatch.setattr(nrps, "DEFAULT_RETRY", policy)
        server._running.rate_limit_used = 0.0  # a fresh budget for each fetch
        started = time.monotonic()
        assert len(ws.fetch_roster(url, limit=2)) == 8
        return time.monotonic() - started

    timed(RetryPolicy(slow_below=0.0))  # warm up: the access token
    fast = timed(RetryPolicy(slow_below=0.0))
    slow = timed(RetryPolicy(slow_below=100.0, slow_pause=0.5))
    # Remaining 80, 60, 40 before pages 2-4: pauses of 0.1 + 0.2 + 0.3 s.
    assert slow - fast >= 0.55
    assert slow < 3.0


def test_sandbox_rate_limit_header_decreases_then_throttles(ws: Workspace, lms: StartLms) -> None:
    server = lms(rate_limit_budget=30.0, rate_limit_cost=10.0)
    from nrps_nb.oauth import NRPS_SCOPE, get_access_token

    token = http.run_sync(get_access_token(ws.platform("sandbox"), ws.key, [NRPS_SCOPE]))
    headers = {"Authorization": token.header}
    url = server.memberships_url("seminar")
    seen = [httpx.get(url, headers=headers) for _ in range(4)]
    assert [r.headers.get("X-Rate-Limit-Remaining") for r in seen[:3]] == ["20.00", "10.00",
                                                                           "0.00"]  # fmt: skip
    assert seen[3].status_code == 403 and seen[3].text == "403 Forbidden (Rate Limit Exceeded)"


# -- sandbox configuration and big courses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Fault("418"), "unknown fault kind"),  # type: ignore[arg-type]
        (lambda: Fault("429", page=0), "page must be a positive integer"),
        (lambda: Fault("foreign-next"), "needs url"),
        (lambda: Fault("429-date"), "needs retry_after"),
        (lambda: SandboxConfig(faults=("429@2",)), "Fault values"),  # type: ignore[arg-type]
        (lambda: SandboxConfig(rate_limit_budget=0), "rate_limit_budget"),
        (lambda: CourseSpec("x", "X", "X", 2_000_000), "at most"),
    ],
)
def test_sandbox_fault_options_are_validated(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_a_100k_course_pages_quickly(ws: Workspace, lms: StartLms) -> None:
    started = time.monotonic()
    server = lms(courses=(CourseSpec("huge", "Huge Lecture", "HUGE 1", 100_000),))
    assert time.monotonic() - started < 10  # generated in about a second

    async def first_pages() -> tuple[int, float]:
        started = time.monotonic()
        seen = 0
        async for page in nrps.iter_pages(ws.platform("sandbox"), ws.key,
                                          server.memberships_url("huge"), limit=100):  # fmt: skip
            seen += len(page.members)
            if seen >= 5000:
                break
        return seen, time.monotonic() - started

    seen, elapsed = http.run_sync(first_pages())
    assert seen == 5000 and elapsed < 5  # no whole-roster work per page
    members = server.course_members("huge")
    assert len(members) == 100_000 and len({m["user_id"] for m in members}) == 100_000


def test_a_refused_connection_fails_at_once(ws: Workspace, lms: StartLms) -> None:
    """Nothing listens on the port: no backoff loop (retries are for timeouts and 5xx)."""
    lms()
    with socket.socket() as s:  # a loopback port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/lti/courses/1/names_and_roles"
    with pytest.raises(ServiceUnavailable) as info:  # the first page: nothing to keep
        ws.fetch_roster(url, platform="sandbox")
    message = str(info.value)
    assert "cannot reach" in message and "refused" in message
    assert "gave up" not in message  # not retried


def test_pages_add_up_over_several_resumes(ws: Workspace) -> None:
    from .helpers import Scripted, add_scripted_platform, respond, scripted_server

    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t"}))
    script.add("/m", respond(200, {"members": [{"user_id": "a"}]}, {"Link": '</m2>; rel="next"'}))
    script.add("/m2", respond(400, {"error": "x"}),
               respond(200, {"members": [{"user_id": "b"}]}, {"Link": '</m3>; rel="next"'}))  # fmt: skip
    script.add("/m3", respond(400, {"error": "x"}), respond(200, {"members": [{"user_id": "c"}]}))
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        url = server.base_url + "/m"
        with pytest.raises(IncompleteRoster) as first:
            ws.fetch_roster(url, platform="lms")
        with pytest.raises(IncompleteRoster) as second:
            ws.fetch_roster(url, resume=first.value)
        assert second.value.pages == 2 and second.value.frame.attrs["pages"] == 2
        assert len(second.value.frame) == 2
        df = ws.fetch_roster(url, resume=second.value)
    assert df["user_id"].tolist() == ["a", "b", "c"] and df.attrs["pages"] == 3
