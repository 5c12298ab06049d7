"""Server lifecycle, public interface, HTML pages, metadata, latency and the blocking runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from nrps_nb.sandbox import CourseSpec, SandboxConfig, SandboxServer

INFO_KEYS = {
    "profile",
    "issuer",
    "client_id",
    "deployment_id",
    "auth_login_url",
    "auth_token_url",
    "token_audience",
    "key_set_url",
    "memberships_url",
    "launch_url",
}


def test_info(sandbox: SandboxServer) -> None:
    info = sandbox.info()
    assert set(info) == INFO_KEYS
    base = sandbox.base_url
    assert base.startswith("http://127.0.0.1:") and not base.endswith("/")
    instructor = sandbox.course_members("intro-stats")[0]["user_id"]
    assert info == {
        "profile": "sandbox",
        "issuer": base,
        "client_id": "nrps-nb-sandbox-tool",
        "deployment_id": "sandbox-deployment-1",
        "auth_login_url": f"{base}/auth",
        "auth_token_url": f"{base}/token",
        "token_audience": f"{base}/token",
        "key_set_url": f"{base}/jwks",
        "memberships_url": f"{base}/api/lti/courses/intro-stats/memberships",
        "launch_url": f"{base}/courses/intro-stats/launch?user={instructor}",
    }
    assert sandbox.memberships_url("seminar") == f"{base}/api/lti/courses/seminar/memberships"
    with pytest.raises(KeyError):
        sandbox.memberships_url("nope")
    assert {"token_requests", "nrps_requests"} <= set(sandbox.stats)


def test_lifecycle() -> None:
    srv = SandboxServer(SandboxConfig(courses=(CourseSpec("a", "A", "A 1", 3),)))
    with pytest.raises(RuntimeError, match="not started"):
        _ = srv.base_url
    assert srv.course_members("a")  # available before start
    assert srv.start() is srv
    url = srv.base_url
    with pytest.raises(RuntimeError, match="already"):
        srv.start()
    with httpx.Client(trust_env=False) as client:
        assert client.get(url + "/").status_code == 200  # keep-alive connection left open
        srv.stop()
        srv.stop()  # idempotent
        with pytest.raises(httpx.TransportError):
            client.get(url + "/")


def test_pages_escape_everything(static_sandbox: SandboxServer, kit: Any) -> None:
    index = kit.client.get(static_sandbox.base_url + "/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "Tiny &lt;Course&gt; &amp; &quot;Co&quot;" in index.text
    assert "<Course>" not in index.text
    page = kit.client.get(f"{static_sandbox.base_url}/courses/tiny")
    assert page.status_code == 200 and "<Course>" not in page.text
    members = static_sandbox.course_members("tiny")
    for m in members:
        if m["status"] == "Active":
            assert f"launch?user={m['user_id']}" in page.text
    assert kit.client.get(f"{static_sandbox.base_url}/courses/nope").status_code == 404


def test_course_page_lists_staff_test_student_and_twenty_learners(
    sandbox: SandboxServer, kit: Any
) -> None:
    page = kit.client.get(f"{sandbox.base_url}/courses/big-lecture").text
    assert page.count("launch?user=") == page.count("(Teaching assistant)") + 22
    assert "(Instructor)" in page and "(Test student)" in page
    listed = page.count("launch?user=")
    assert f"… and {3000 - listed} more members" in page  # the page says it is not all
    seminar = kit.client.get(f"{sandbox.base_url}/courses/seminar").text
    assert "more members" not in seminar  # 8 members: every one is listed


def test_jwks_and_openid_configuration(sandbox: SandboxServer, kit: Any) -> None:
    jwks = kit.client.get(sandbox.info()["key_set_url"])
    assert jwks.status_code == 200
    assert jwks.json() == sandbox.jwks()
    [key] = jwks.json()["keys"]
    assert set(key) == {"kty", "n", "e", "kid", "alg", "use"} and "d" not in key
    conf = kit.client.get(f"{sandbox.base_url}/.well-known/openid-configuration").json()
    assert conf["issuer"] == sandbox.base_url
    assert conf["token_endpoint"] == sandbox.info()["auth_token_url"]
    assert conf["authorization_endpoint"] == sandbox.info()["auth_login_url"]
    assert conf["jwks_uri"] == sandbox.info()["key_set_url"]


def test_latency(kit: Any) -> None:
    config = SandboxConfig(courses=(CourseSpec("a", "A", "A 1", 3),), latency=0.2)
    with SandboxServer(config) as srv:
        start = time.perf_counter()
        assert kit.client.get(srv.info()["key_set_url"]).status_code == 200
        assert time.perf_counter() - start >= 0.2


def test_run_prints_info_and_stops_on_sigterm(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    code = "from nrps_nb.sandbox import run; run(port=0, tool_url='http://127.0.0.1:9/')"
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        cwd=tmp_path,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        assert set(info) == INFO_KEYS
        with httpx.Client(trust_env=False) as client:
            assert client.get(info["key_set_url"]).status_code == 200
            launch = client.get(info["launch_url"])
            assert launch.headers["location"].startswith("http://127.0.0.1:9/login?")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
        assert proc.stdout.read() == ""
