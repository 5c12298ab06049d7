"""The Jupyter server extension in a real in-process jupyter_server (pytest-jupyter).

The server runs with a token, ``base_url=/base/`` and ``allow_unauthenticated_access=False``.
LMS-facing requests are anonymous (``Authorization: ""``) and carry a foreign ``Origin``, as a
cross-site form post does; the platform is the sandbox LMS on its own thread.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nrps_nb
from nrps_nb import LaunchTimeout, Platform, Workspace
from nrps_nb.sandbox import SandboxServer

Fetch = Any

pytestmark = pytest.mark.filterwarnings(
    # jupyter_server's own deprecation noise when an app starts in-process
    "ignore::DeprecationWarning:jupyter_server.*",
)


def _count(ws: Workspace, table: str) -> int:
    with ws.store._tx() as con:
        (n,) = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
    return int(n)


async def _login(anon: Fetch, lms: SandboxServer, course: str = "stats", **extra: str) -> Any:
    params = {**extra}
    start = lms.launch_url(course)
    from urllib.parse import parse_qs, urlsplit

    import httpx

    with httpx.Client(trust_env=False, timeout=10) as client:
        first = client.get(start)
    assert first.status_code == 302
    params = {k: v[0] for k, v in parse_qs(urlsplit(first.headers["location"]).query).items()}
    params.update(extra)
    return await anon("nrps_nb", "login", params=params)


async def _launch(anon: Fetch, h: Any, lms: SandboxServer, course: str = "stats") -> Any:
    login = await _login(anon, lms, course)
    assert login.code == 302, login.body
    post = h.platform_form_post(login.headers["Location"])
    return post, await _post_launch(anon, h, post)


async def _post_launch(anon: Fetch, h: Any, fields: dict[str, str]) -> Any:
    from urllib.parse import urlencode

    return await anon(
        "nrps_nb",
        "launch",
        method="POST",
        body=urlencode(fields),
        headers={
            "Origin": h.LMS_ORIGIN,
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "cross-site",
        },
    )


# -- packaging ----------------------------------------------------------------------------------


def test_installed_config_enables_the_extension() -> None:
    config = Path(sys.prefix, "etc/jupyter/jupyter_server_config.d/nrps_nb.json")
    assert config.is_file(), "pip install nrps_nb must ship the jupyter_server config"
    assert json.loads(config.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"nrps_nb": True}}
    }
    [point] = nrps_nb._jupyter_server_extension_points()
    assert point["app"].name == "nrps_nb"


def test_importing_nrps_nb_does_not_import_jupyter_server() -> None:
    code = "import sys, nrps_nb; print('jupyter_server' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- LMS-facing endpoints -----------------------------------------------------------------------


async def test_login_redirects_to_the_platform_without_a_jupyter_login(
    anon: Fetch, h: Any, lms: SandboxServer, platform: Platform, tool_url: str
) -> None:
    response = await _login(anon, lms)
    assert response.code == 302
    location = response.headers["Location"]
    assert location.startswith(lms.info()["auth_login_url"])
    q = h.query(location)
    assert q["redirect_uri"] == tool_url + "/launch"
    assert q["response_mode"] == "form_post" and q["prompt"] == "none"
    assert len(q["state"]) > 30 and len(q["nonce"]) > 30


async def test_login_by_cross_site_post(
    anon: Fetch, h: Any, lms: SandboxServer, platform: Platform, tool_url: str
) -> None:
    from urllib.parse import urlencode

    body = urlencode(
        {
            "iss": platform.issuer,
            "login_hint": "someone",
            "target_link_uri": tool_url + "/launch",
            "client_id": platform.client_id,
        }
    )
    response = await anon(
        "nrps_nb",
        "login",
        method="POST",
        body=body,
        headers={"Origin": h.LMS_ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.code == 302
    assert response.headers["Location"].startswith(platform.auth_login_url)


async def test_full_launch_is_captured_and_replay_rejected(
    anon: Fetch, h: Any, lms: SandboxServer, platform: Platform, ws: Workspace
) -> None:
    post, response = await _launch(anon, h, lms)
    assert response.code == 200
    page = h.text_of(response.body)
    assert "Course captured: Introduction to Statistics" in page
    assert "capture_launch()" in page
    assert "script-src" not in response.headers["Content-Security-Policy"]
    launch = ws.capture_launch(timeout=1)
    assert launch.context_title == "Introduction to Statistics"
    assert launch.platform == "sandbox" and launch.status == "valid"
    df = ws.launches()
    assert list(df["status"]) == ["valid"] and bool(df["claimed"].iloc[0])

    replay = await _post_launch(anon, h, post)
    assert replay.code == 400
    text = h.text_of(replay.body)
    assert "Failed check: <b class='check'>state</b>" in text
    assert "already used" in text
    assert _count(ws, "launches") == 1


async def test_values_from_the_token_are_escaped(
    anon: Fetch, h: Any, lms: SandboxServer, platform: Platform, ws: Workspace
) -> None:
    _post, response = await _launch(anon, h, lms, course="tricky")
    assert response.code == 200
    body = response.body.decode()
    assert "<script>alert(1)</script>" not in body and "<b>T</b>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;" in body


@pytest.mark.parametrize(
    ("params", "check", "words"),
    [
        ({"iss": "https://unknown.example.edu"}, "registration", "no platform is registered"),
        ({"client_id": "someone-else"}, "registration", "someone-else"),
        ({"target_link_uri": "https://evil.example/launch"}, "message", "not one of this tool"),
        ({"lti_storage_target": "bad frame<name>"}, "message", "not a frame name"),
    ],
)
async def test_bad_logins_are_refused_and_store_nothing(
    anon: Fetch,
    h: Any,
    lms: SandboxServer,
    platform: Platform,
    ws: Workspace,
    params: dict[str, str],
    check: str,
    words: str,
) -> None:
    response = await _login(anon, lms, **params)
    assert response.code == 400
    text = h.text_of(response.body)
    assert f"Failed check: <b class='check'>{check}</b>" in text
    assert words in text
    assert _count(ws, "login_states") == 0


async def test_bad_launches_get_pages_with_the_failed_check(
    anon: Fetch, h: Any, lms: SandboxServer, platform: Platform, ws: Workspace
) -> None:
    # unknown state
    r = await _post_launch(anon, h, {"id_token": "a.b.c", "state": "no-such-state"})
    assert r.code == 400 and "<b class='check'>state</b>" in h.text_of(r.body)
    # tampered id_token: one character of the payload changed, signature kept
    login = await _login(anon, lms)
    post = h.platform_form_post(login.headers["Location"])
    head, payload, sig = post["id_token"].split(".")
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    r = await _post_launch(anon, h, {**post, "id_token": f"{head}.{flipped}.{sig}"})
    assert r.code in (400, 401)
    text = h.text_of(r.body)
    assert re.search(r"<b class='check'>(signature|jwt)</b>", text), text
    assert post["id_token"] not in text and sig not in text  # never echo the token
    # the platform's error answer
    r = await _post_launch(anon, h, {"error": "login_required", "state": "x"})
    assert r.code == 400 and "login_required" in h.text_of(r.body)
    assert _count(ws, "launches") == 0
    # and the receiver keeps serving
    assert (await anon("nrps_nb", "jwks.json")).code == 200


async def test_get_on_the_launch_url_is_405_with_a_page(anon: Fetch, h: Any) -> None:
    r = await anon("nrps_nb", "launch")
    assert r.code == 405 and r.headers["Allow"] == "POST"
    assert "form-posts the launch here" in h.text_of(r.body)


async def test_oversized_body_is_413(anon: Fetch, h: Any, ws: Workspace) -> None:
    r = await _post_launch(anon, h, {"id_token": "x" * 200_000, "state": "s"})
    assert r.code == 413
    assert "accepts at most" in h.text_of(r.body)
    assert _count(ws, "launches") == 0


async def test_huge_declared_body_is_refused_before_it_is_read(
    anon: Fetch, jp_http_port: int, jp_base_url: str, ws: Workspace
) -> None:
    """Jupyter would buffer up to 512 MB before a handler runs; ours answer 413 from the
    headers alone (the 500 MB body is never sent here, and the answer comes anyway)."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    writer.write(
        f"POST {jp_base_url}nrps_nb/launch HTTP/1.1\r\nHost: 127.0.0.1:{jp_http_port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500000000\r\n\r\n"
        "id_token=x".encode()
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    assert status.startswith(b"HTTP/1.1 413"), status
    assert _count(ws, "launches") == 0


async def test_jwks_is_public(anon: Fetch, ws: Workspace) -> None:
    r = await anon("nrps_nb", "jwks.json")
    assert r.code == 200
    assert json.loads(r.body) == ws.tool_jwks()
    assert "d" not in json.loads(r.body)["keys"][0]


# -- the setup page -----------------------------------------------------------------------------


async def test_setup_page_needs_the_jupyter_login(anon: Fetch, jp_base_url: str) -> None:
    r = await anon("nrps_nb", "")
    assert r.code == 302
    assert r.headers["Location"].startswith(f"{jp_base_url}login?next=")


async def test_setup_page_shows_registration_values_and_launches(
    jp_fetch: Fetch, anon: Fetch, h: Any, lms: SandboxServer, platform: Platform, ws: Workspace,
    tool_url: str,
) -> None:  # fmt: skip
    await _launch(anon, h, lms, course="tricky")
    r = await jp_fetch("nrps_nb", "")
    assert r.code == 200
    body = r.body.decode()
    for url in ("/login", "/launch", "/jwks.json"):
        assert f"<code>{tool_url}{url}</code>" in body
    assert "Public URL from: NrpsNbApp.public_url" in body
    assert ws.tool_jwks()["keys"][0]["n"] in body
    assert "BEGIN PUBLIC KEY" in body and "PRIVATE" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in body
    assert "valid, not claimed" in body
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]


@pytest.fixture
def hub_env(monkeypatch: pytest.MonkeyPatch, nrps_home: Path) -> None:
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.edu/jupyter/")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/jupyter/user/alice/")


@pytest.mark.parametrize("public_url_config", [{}])
async def test_public_url_falls_back_to_jupyterhub(
    hub_env: None, jp_fetch: Fetch, nrps_home: Path
) -> None:
    r = await jp_fetch("nrps_nb", "")
    body = r.body.decode()
    base = "https://hub.example.edu/jupyter/user/alice/nrps_nb"
    assert f"<code>{base}/login</code>" in body
    assert "$JUPYTERHUB_PUBLIC_URL + $JUPYTERHUB_SERVICE_PREFIX" in body


@pytest.mark.parametrize("public_url_config", [{}])
async def test_public_url_falls_back_to_the_server_address(
    jp_fetch: Fetch, jp_http_port: int, jp_base_url: str
) -> None:
    r = await jp_fetch("nrps_nb", "")
    body = r.body.decode()
    assert f":{jp_http_port}{jp_base_url}nrps_nb/login</code>" in body
    assert "this server&#x27;s own address (not configured" in body


@pytest.fixture
def env_public_url(monkeypatch: pytest.MonkeyPatch, nrps_home: Path) -> str:
    url = "https://lab.example.edu/user/bob/nrps_nb/"
    monkeypatch.setenv("NRPS_NB_PUBLIC_URL", url)
    return url


@pytest.mark.parametrize("public_url_config", [{}])
async def test_env_var_sets_the_public_url(env_public_url: str, jp_fetch: Fetch) -> None:
    r = await jp_fetch("nrps_nb", "")
    body = r.body.decode()
    assert "<code>https://lab.example.edu/user/bob/nrps_nb/login</code>" in body
    assert "Public URL from: $NRPS_NB_PUBLIC_URL" in body


# -- platform storage (lti_storage_target) ------------------------------------------------------


def _storage_data(body: bytes) -> dict[str, Any]:
    m = re.search(rb'<script type="application/json" id="nrps-nb-data">(.*?)</script>', body)
    assert m is not None, body[:300]
    data: dict[str, Any] = json.loads(m.group(1))
    return data


async def test_storage_login_answers_a_page_with_a_nonced_script(
    anon: Fetch, lms: SandboxServer, platform: Platform, ws: Workspace
) -> None:
    r = await _login(anon, lms, lti_storage_target="post_message_forwarding")
    assert r.code == 200
    csp = r.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp)
    assert nonce is not None and "unsafe-inline' " not in csp.split("script-src")[1]
    assert f'<script nonce="{nonce.group(1)}">'.encode() in r.body
    data = _storage_data(r.body)
    assert data["target"] == "post_message_forwarding"
    assert data["origin"] == lms.base_url
    assert data["auth"].startswith(lms.info()["auth_login_url"])
    assert "lti_storage_target" not in data["fallback"] and data["fallback"].startswith("login?")
    with ws.store._tx() as con:
        row = con.execute("SELECT storage_target FROM login_states").fetchone()
    assert row["storage_target"] == "post_message_forwarding"


async def _pending_launch(anon: Fetch, h: Any, lms: SandboxServer) -> tuple[Any, dict[str, Any]]:
    r = await _login(anon, lms, lti_storage_target="post_message_forwarding")
    data = _storage_data(r.body)
    post = h.platform_form_post(data["auth"])
    response = await _post_launch(anon, h, post)
    assert response.code == 200, response.body
    return response, _storage_data(response.body)


async def test_storage_launch_is_pending_until_confirmed(
    anon: Fetch, h: Any, lms: SandboxServer, platform: Platform, ws: Workspace
) -> None:
    response, data = await _pending_launch(anon, h, lms)
    assert "Confirming the launch" in h.text_of(response.body)
    assert "form-action 'self'" in response.headers["Content-Security-Policy"]
    assert list(ws.launches()["status"]) == ["pending"]
    assert ws.courses().empty  # a pending launch adds no course
    with pytest.raises(LaunchTimeout):
        await ws.acapture_launch(timeout=0.3)

    confirm = {
        "launch": str(data["launch"]),
        "token": data["token"],
        "state_value": data["state"],
        "nonce_value": data["nonce"],
    }
    from urllib.parse import urlencode

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    r = await anon("nrps_nb", "launch", "confirm", method="POST", body=urlencode(confirm),
                   headers=headers)  # fmt: skip
    assert r.code == 200 and "Course captured" in h.text_of(r.body)
    assert list(ws.launches()["status"]) == ["valid"]
    assert len(ws.courses()) == 1
    assert (await ws.acapture_launch(timeout=1)).id == data["launch"]
    # the confirmation is single-use
    again = await anon("nrps_nb", "launch", "confirm", method="POST", body=urlencode(confirm),
                       headers=headers)  # fmt: skip
    assert again.code == 400 and "<b class='check'>state</b>" in h.text_of(again.body)


@pytest.mark.parametrize(("wrong", "check"), [("state_value", "state"), ("nonce_value", "nonce")])
async def test_storage_values_from_another_login_reject_the_launch(
    anon: Fetch, h: Any, lms: SandboxServer, platform: Platform, ws: Workspace, wrong: str,
    check: str,
) -> None:  # fmt: skip
    _response, data = await _pending_launch(anon, h, lms)
    confirm = {
        "launch": str(data["launch"]),
        "token": data["token"],
        "state_value": data["state"],
        "nonce_value": data["nonce"],
        wrong: "someone-elses-value",
    }
    from urllib.parse import urlencode

    r = await anon("nrps_nb", "launch", "confirm", method="POST", body=urlencode(confirm),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.code == 400
    assert f"<b class='check'>{check}</b>" in h.text_of(r.body)
    assert list(ws.launches()["status"]) == ["rejected"]
    with pytest.raises(LaunchTimeout):
        await ws.acapture_launch(timeout=0.3)


async def test_confirm_with_a_wrong_token_changes_nothing(
    anon: Fetch, h: Any, lms: SandboxServer, platform: Platform, ws: Workspace
) -> None:
    _response, data = await _pending_launch(anon, h, lms)
    from urllib.parse import urlencode

    body = urlencode({"launch": str(data["launch"]), "token": "guess", "state_value": "x",
                      "nonce_value": "y"})  # fmt: skip
    r = await anon("nrps_nb", "launch", "confirm", method="POST", body=body,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.code == 400
    assert list(ws.launches()["status"]) == ["pending"]
    r = await anon("nrps_nb", "launch", "confirm")
    assert r.code == 405
