"""The standalone receiver (``nrps-nb serve``'s app) over real loopback HTTP: bad input gets a
page naming the problem with the right status and stores nothing; deployments; the setup page;
platform storage; the CLI's refusal to guess a public URL."""

from __future__ import annotations

import re
import socket
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from nrps_nb import LaunchTimeout, Platform, Workspace
from nrps_nb.cli import main
from nrps_nb.demo import drive_launch
from nrps_nb.sandbox import SandboxServer
from nrps_nb.server import ReceiverServer
from nrps_nb.server.handlers import MAX_FORM_BYTES
from nrps_nb.server.standalone import MAX_BODY_BYTES


def count(ws: Workspace, table: str) -> int:
    with ws.store._tx() as con:
        (n,) = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
    return int(n)


def login_params(sandbox: SandboxServer, course: str = "seminar") -> dict[str, str]:
    start = httpx.get(sandbox.launch_url(course), follow_redirects=False)
    assert start.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}


def form_post(auth_url: str) -> dict[str, str]:
    page = httpx.get(auth_url)
    assert page.status_code == 200
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))


def check_of(page: httpx.Response) -> str:
    m = re.search(r"Failed check: <b class='check'>([^<]+)</b>", page.text)
    assert m is not None, page.text[:500]
    return m.group(1)


def test_root_is_the_setup_page_without_launches(
    ws: Workspace, receiver: ReceiverServer, sandbox: SandboxServer, platform: Platform
) -> None:
    drive_launch(sandbox.launch_url("seminar"))
    page = httpx.get(receiver.base_url + "/")
    assert page.status_code == 200
    for path in ("/login", "/launch", "/jwks.json"):
        assert f"<code>{receiver.base_url}{path}</code>" in page.text
    assert ws.tool_jwks()["keys"][0]["n"] in page.text
    assert "BEGIN PUBLIC KEY" in page.text and "PRIVATE" not in page.text
    assert "Research Seminar" not in page.text  # launches need a login to be shown
    assert "Public URL from: the address it listens on" in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    ("change", "check", "words"),
    [
        ({"iss": "https://unknown.example.edu"}, "registration", "no platform is registered"),
        ({"client_id": "nobody"}, "registration", "&#x27;nobody&#x27;"),
        ({"login_hint": ""}, "claims", "login_hint"),
        ({"target_link_uri": "https://elsewhere.example/launch"}, "message", "target_link_uri"),
        # What a login state keeps is bounded (a flood of logins cannot fill the disk).
        ({"target_link_uri": "{base}/launch/" + "x" * 3000}, "message", "at most 2048"),
        ({"lti_deployment_id": "d" * 256}, "message", "LTI allows at most 255"),
    ],
)
def test_bad_logins(
    ws: Workspace,
    receiver: ReceiverServer,
    sandbox: SandboxServer,
    platform: Platform,
    change: dict[str, str],
    check: str,
    words: str,
) -> None:
    change = {k: v.replace("{base}", receiver.base_url) for k, v in change.items()}
    page = httpx.get(receiver.base_url + "/login", params={**login_params(sandbox), **change})
    assert page.status_code == 400
    assert check_of(page) == check and words in page.text
    assert count(ws, "login_states") == 0


def test_bad_launches_and_the_server_keeps_serving(
    ws: Workspace, receiver: ReceiverServer, sandbox: SandboxServer, platform: Platform
) -> None:
    url = receiver.base_url + "/launch"
    r = httpx.post(url, data={"id_token": "x.y.z", "state": "never-issued"})
    assert r.status_code == 400 and check_of(r) == "state"
    r = httpx.post(url, data={})
    assert r.status_code == 400 and check_of(r) == "state"

    login = httpx.get(receiver.base_url + "/login", params=login_params(sandbox))
    post = form_post(login.headers["location"])
    head, payload, sig = post["id_token"].split(".")
    tampered = f"{head}.{payload[:-4]}AAAA.{sig}"
    r = httpx.post(url, data={**post, "id_token": tampered})
    assert r.status_code in (400, 401) and check_of(r) in ("signature", "jwt")
    assert sig not in r.text
    r = httpx.post(url, data={"id_token": "x" * (MAX_FORM_BYTES + 1), "state": "s"})
    assert r.status_code == 413 and "accepts at most" in r.text
    # Any declared size over the limit gets the page, before the body is read.
    r = httpx.post(url, content=b"x" * (MAX_BODY_BYTES + 1))
    assert r.status_code == 413 and "accepts at most" in r.text
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as raw:
        raw.sendall(
            b"POST /launch HTTP/1.1\r\nHost: x\r\nContent-Length: 500000000\r\n\r\nid_token=x"
        )
        assert raw.recv(64).startswith(b"HTTP/1.1 413")
    r = httpx.get(url)
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    # Other methods: 405 with the methods each URL answers, on a page that says so.
    for method, path, allowed in (("PUT", "/launch", "POST"), ("DELETE", "/login",
                                  "GET, POST"), ("POST", "/jwks.json", "GET")):  # fmt: skip
        r = httpx.request(method, receiver.base_url + path)
        assert r.status_code == 405 and r.headers["allow"] == allowed, (method, path)
        assert f"answers {allowed} only, not {method}" in r.text
        assert "The request was not accepted" in r.text
    # Numbers from the request that SQLite cannot hold name no launch (not a 500).
    for launch_id in (str(2**70), "-1", "0"):
        r = httpx.post(url + "/confirm", data={"launch": launch_id, "token": "t"})
        assert r.status_code == 400 and check_of(r) == "state", (launch_id, r.text)
    assert count(ws, "launches") == 0
    # still serving, and the real launch still works
    assert drive_launch(sandbox.launch_url("seminar")).status_code == 200
    assert count(ws, "launches") == 1


def test_unknown_deployment_is_named(
    ws: Workspace, receiver: ReceiverServer, sandbox: SandboxServer
) -> None:
    info = sandbox.info()
    ws.add_platform("lms", preset="sandbox", base_url=info["issuer"], client_id=info["client_id"],
                    deployment_ids=["some-other-deployment"])  # fmt: skip
    login = httpx.get(receiver.base_url + "/login", params=login_params(sandbox))
    r = httpx.post(receiver.base_url + "/launch", data=form_post(login.headers["location"]))
    assert r.status_code == 400 and check_of(r) == "deployment"
    assert info["deployment_id"] in r.text and "--deployment-id" in r.text
    assert count(ws, "launches") == 0


def test_auto_registered_deployment_is_added_with_a_warning(
    ws: Workspace, receiver: ReceiverServer, sandbox: SandboxServer
) -> None:
    info = sandbox.info()
    ws.add_platform("lms", preset="sandbox", base_url=info["issuer"], client_id=info["client_id"],
                    auto_deployments=True)  # fmt: skip
    page = drive_launch(sandbox.launch_url("seminar"))
    assert page.status_code == 200 and "Course captured" in page.text
    assert "was added to platform" in page.text
    assert ws.platform("lms").deployment_ids == (info["deployment_id"],)
    launch = ws.capture_launch(timeout=2)
    assert any("was added" in w for w in launch.warnings)
    assert any("was added" in w for w in ws.launches()["warnings"].iloc[0])


def test_capture_waits_for_the_launch(
    ws: Workspace, receiver: ReceiverServer, sandbox: SandboxServer, platform: Platform
) -> None:
    box: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: box.setdefault("l", ws.capture_launch(timeout=20)))
    waiter.start()
    drive_launch(sandbox.launch_url("intro-stats"))
    waiter.join(timeout=25)
    assert box["l"].context_title == "Introduction to Statistics"
    df = ws.courses()
    assert list(df["context_title"]) == ["Introduction to Statistics"]


def test_storage_login_page_under_the_standalone_app(
    ws: Workspace, receiver: ReceiverServer, sandbox: SandboxServer, platform: Platform
) -> None:
    params = {**login_params(sandbox), "lti_storage_target": "_parent"}
    page = httpx.get(receiver.base_url + "/login", params=params)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", csp)
    assert nonce is not None and "'unsafe-inline'" not in csp.split("script-src")[1]
    assert page.text.count(f'<script nonce="{nonce.group(1)}">') == 1
    assert page.text.count("<script") == 2  # the JSON data block and the nonced script
    # a second login gets a new nonce
    again = httpx.get(receiver.base_url + "/login", params=params)
    assert nonce.group(1) not in again.headers["Content-Security-Policy"]
    with pytest.raises(LaunchTimeout):
        ws.capture_launch(timeout=0.2)


def test_serve_refuses_to_guess_a_public_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 1  # noqa: S104
    err = capsys.readouterr().err
    assert "--public-url" in err and "not a loopback address" in err


def test_a_workspace_from_before_platform_storage_is_migrated(tmp_path: Any) -> None:
    import sqlite3

    from nrps_nb.store import DB_NAME, Store

    home = tmp_path / "old"
    home.mkdir(mode=0o700)
    con = sqlite3.connect(home / DB_NAME)
    con.execute(
        "CREATE TABLE login_states (state TEXT PRIMARY KEY, nonce TEXT NOT NULL, platform TEXT"
        " NOT NULL, lti_deployment_id TEXT, target_link_uri TEXT, created_at REAL NOT NULL,"
        " expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0)"
    )
    con.commit()
    con.close()
    store = Store(home)
    store.create_login_state(state="s", nonce="n", platform="p", lti_deployment_id=None,
                             target_link_uri=None, ttl=60, storage_target="_parent")  # fmt: skip
    row = store.consume_login_state("s")
    assert row is not None and row["storage_target"] == "_parent"
