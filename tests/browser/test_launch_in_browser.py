"""The launch flow in headless Chromium, through both receivers.

sandbox LMS (127.0.0.1) → tool login (localhost) → sandbox auth → form_post → tool launch,
once through the Jupyter extension in a ``jupyter server`` with a token and base_url /base/,
once through ``nrps-nb serve``. The launch must reach a waiting ``capture_launch()`` (for
Jupyter: in a kernel started by that server), a replayed form post must be refused, and with
third-party cookies blocked the platform-storage flow inside an LMS iframe must still work.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from nrps_nb import Launch, LaunchTimeout, Workspace

from .conftest import Lms, Receiver, require_browser

COOKIE_PROBE = """() => {
  document.cookie = "nrps_probe=1; SameSite=None; Secure; Path=/";
  return document.cookie.includes("nrps_probe=1");
}"""


def expect(target: Any) -> Any:
    return require_browser().expect(target)


def drain(ws: Workspace) -> None:
    """Claim every launch left by earlier tests, so a waiting capture sees only ours."""
    while ws.store.claim_launch(0) is not None:
        pass


def last_launch(ws: Workspace, platform: str) -> dict[str, Any]:
    rows = [r for r in ws.store.list_launches() if r["platform"] == platform]
    assert rows, f"no launch stored for {platform}"
    return rows[-1]


class KernelWaiter:
    """A notebook cell ``launch = nrps_nb.capture_launch()`` in a kernel of the Jupyter server."""

    def __init__(self, rcv: Receiver) -> None:
        from jupyter_client.blocking.client import BlockingKernelClient

        assert rcv.server_url is not None and rcv.runtime_dir is not None
        self.rcv = rcv
        self.auth = {"Authorization": f"token {rcv.token}"}
        r = httpx.post(f"{rcv.server_url}api/kernels", headers=self.auth, json={}, timeout=30)
        assert r.status_code == 201, r.text
        self.kernel_id = r.json()["id"]
        connection = rcv.runtime_dir / f"kernel-{self.kernel_id}.json"
        deadline = time.monotonic() + 30
        while not connection.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.kc = BlockingKernelClient(connection_file=str(connection))
        self.kc.load_connection_file()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.run("import time, nrps_nb")  # the imports are done before the launch starts
        self.msg_id = self.kc.execute(
            "launch = nrps_nb.capture_launch(timeout=60)\n"
            "print('CAPTURED', launch.id, launch.context_title, time.time(), sep='|')"
        )

    def run(self, code: str) -> None:
        reply = self.kc.execute_interactive(code, timeout=60, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]

    def result(self) -> tuple[int, str, float]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            msg = self.kc.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != self.msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "error":
                raise AssertionError(f"the cell failed: {content['ename']}: {content['evalue']}")
            if kind == "stream" and "CAPTURED|" in content["text"]:
                _, lid, title, at = content["text"].strip().split("|")
                return int(lid), title, float(at)
        raise AssertionError("the kernel never printed the captured launch")

    def close(self) -> None:
        self.kc.stop_channels()
        httpx.delete(
            f"{self.rcv.server_url}api/kernels/{self.kernel_id}", headers=self.auth, timeout=30
        )


class ThreadWaiter:
    """``capture_launch()`` waiting in a thread of this process (a script, VS Code)."""

    def __init__(self, rcv: Receiver) -> None:
        self.box: dict[str, Any] = {}
        ws = rcv.ws

        def wait() -> None:
            try:
                launch: Launch = ws.capture_launch(timeout=60)
                self.box["result"] = (launch.id, launch.context_title or "", time.time())
            except Exception as exc:  # reported by result()
                self.box["error"] = exc

        self.thread = threading.Thread(target=wait, daemon=True)
        self.thread.start()

    def result(self) -> tuple[int, str, float]:
        self.thread.join(timeout=70)
        if "error" in self.box:
            raise self.box["error"]
        result: tuple[int, str, float] = self.box["result"]
        return result

    def close(self) -> None:
        pass


def test_launch_reaches_a_waiting_capture_and_a_replay_is_refused(lms: Lms, page: Any) -> None:
    rcv = lms.receiver
    ws = rcv.ws
    drain(ws)
    waiter: KernelWaiter | ThreadWaiter = (
        KernelWaiter(rcv) if rcv.kind == "jupyter" else ThreadWaiter(rcv)
    )
    try:
        launch_url = rcv.tool_url + "/launch"

        def is_launch_post(request: Any) -> bool:
            return bool(request.url == launch_url and request.method == "POST")

        t_click = time.time()
        with page.expect_request(is_launch_post) as posted:
            page.goto(lms.sandbox.launch_url("stats"))
        expect(page.locator("h1")).to_contain_text("Course captured: Introduction to Statistics")
        t_page = time.time()
        assert page.url == launch_url
        body = page.locator("body").inner_text()
        assert lms.platform.name in body and "STAT 101" in body
        assert "capture_launch()" in body

        launch_id, title, captured_at = waiter.result()
        assert title == "Introduction to Statistics"
        assert launch_id == last_launch(ws, lms.platform.name)["id"]
        # "a notebook cell launch = capture_launch() returns within a second or two"
        print(
            f"\n[{rcv.kind}] capture_launch() returned {captured_at - t_page:+.2f} s after the "
            f"launch page showed, {captured_at - t_click:.2f} s after the click in the LMS"
        )
        assert captured_at - t_page < 2.0, f"captured {captured_at - t_page:.2f} s after the page"
        assert captured_at - t_click < 10.0
    finally:
        waiter.close()

    # the same form post again, from a page of its own: refused, nothing stored
    fields = dict(re.findall(r"([^&=]+)=([^&]*)", posted.value.post_data or ""))
    assert set(fields) >= {"id_token", "state"}
    from urllib.parse import unquote_plus

    inputs = "".join(
        f'<input type="hidden" name="{html.escape(unquote_plus(k))}" '
        f'value="{html.escape(unquote_plus(v))}">'
        for k, v in fields.items()
    )
    page.goto("about:blank")  # leave the launch page: its CSP allows no form posts
    page.set_content(f'<form id="f" method="post" action="{launch_url}">{inputs}</form>')
    with page.expect_response(lambda r: r.url == launch_url) as answer:
        page.evaluate("document.getElementById('f').submit()")
    assert answer.value.status == 400
    expect(page.locator(".check")).to_have_text("state")
    assert "already used" in page.locator("body").inner_text()
    assert len([r for r in ws.store.list_launches() if r["platform"] == lms.platform.name]) == 1


def test_platform_storage_in_an_iframe_with_third_party_cookies_blocked(
    lms: Lms, cookieless_page: Any
) -> None:
    """The LMS page embeds the tool (another site) and offers postMessage storage."""
    page = cookieless_page
    rcv = lms.receiver
    ws = rcv.ws
    drain(ws)
    page.goto(lms.sandbox.embed_url("seminar"))
    tool = page.frame_locator("#tool")
    expect(tool.locator("h1:visible")).to_contain_text("Course captured: Research Seminar")
    frame = page.frame(name="tool")
    assert frame is not None and frame.url.startswith(rcv.tool_url)
    # third-party cookies really are blocked in this frame, and the tool set none
    assert frame.evaluate(COOKIE_PROBE) is False
    assert page.context.cookies(rcv.tool_url) == []
    # state and nonce went through the platform's storage frame, and came back
    storage = page.frame(name="post_message_forwarding")
    assert storage is not None
    counts = storage.evaluate("() => ({...document.body.dataset})")
    assert counts.get("puts") == "2" and counts.get("gets") == "2", counts
    row = last_launch(ws, lms.platform.name)
    assert row["status"] == "valid"
    assert ws.capture_launch(timeout=5).id == row["id"]


def test_the_cookie_probe_works_first_party(serve_lms: Lms, cookieless_page: Any) -> None:
    """Control for the test above: the same probe cookie is kept when the tool is the top
    window, so what blocks it in the LMS frame is the third-party cookie setting."""
    page = cookieless_page
    page.goto(serve_lms.receiver.tool_url + "/")
    expect(page.locator("h1")).to_contain_text("register this tool")
    assert page.evaluate(COOKIE_PROBE) is True


def test_platform_storage_in_a_new_window(lms: Lms, page: Any) -> None:
    """Tool opened by the LMS in a new window: it talks to window.opener."""
    ws = lms.receiver.ws
    drain(ws)
    page.goto(lms.sandbox.embed_url("stats", window=True))
    with page.expect_popup() as popup_info:
        page.click("#open-tool")
    popup = popup_info.value
    expect(popup.locator("h1:visible")).to_contain_text(
        "Course captured: Introduction to Statistics"
    )
    storage = page.frame(name="post_message_forwarding")
    assert storage is not None
    assert storage.evaluate("() => document.body.dataset.gets") == "2"
    assert last_launch(ws, lms.platform.name)["status"] == "valid"


def test_a_launch_finished_in_another_browser_stays_pending(
    serve_lms: Lms, browser: Any, page: Any
) -> None:
    """Login CSRF: a login started in one browser, its form post replayed in another."""
    lms = serve_lms
    rcv = lms.receiver
    ws = rcv.ws
    drain(ws)
    launch_url = rcv.tool_url + "/launch"
    stolen: dict[str, str] = {}

    def steal(route: Any) -> None:
        if route.request.method == "POST":
            stolen["body"] = route.request.post_data or ""
            route.abort()
        else:
            route.continue_()

    matcher: Callable[[str], bool] = lambda url: url == launch_url  # noqa: E731
    page.route(matcher, steal)
    page.goto(lms.sandbox.embed_url("seminar"))
    deadline = time.monotonic() + 20
    while "body" not in stolen and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert "body" in stolen, "the attacker's launch post never happened"

    from urllib.parse import parse_qsl

    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in parse_qsl(stolen["body"])
    )
    victim = browser.new_context()
    try:
        vpage = victim.new_page()
        vpage.set_content(f'<form id="f" method="post" action="{launch_url}">{inputs}</form>')
        with vpage.expect_response(lambda r: r.url == launch_url) as answer:
            vpage.evaluate("document.getElementById('f').submit()")
        assert answer.value.status == 200  # the token is good; the browser is not
        expect(vpage.locator("#nrps-nb-failed")).to_be_visible()
        assert "platform storage" in vpage.locator("#nrps-nb-failed").inner_text()
    finally:
        victim.close()
    assert last_launch(ws, lms.platform.name)["status"] == "pending"
    with pytest.raises(LaunchTimeout):
        ws.capture_launch(timeout=0.5)


def test_setup_page_behind_the_jupyter_login(jupyter_lms: Lms, page: Any) -> None:
    lms = jupyter_lms
    rcv = lms.receiver
    page.goto(lms.sandbox.launch_url("seminar"))
    expect(page.locator("h1")).to_contain_text("Course captured")
    setup = rcv.tool_url + "/"
    response = page.goto(setup)
    assert response is not None and "/base/login" in page.url  # Jupyter's login page
    page.goto(f"{setup}?token={rcv.token}")
    expect(page.locator("h1")).to_contain_text("register this tool")
    text = page.locator("body").inner_text()
    assert f"{rcv.tool_url}/login" in text and f"{rcv.tool_url}/jwks.json" in text
    assert "Research Seminar" in text and "BEGIN PUBLIC KEY" in text


def test_platform_storage_refuses_other_origins(serve_lms: Lms, page: Any) -> None:
    """The sandbox's storage frame serves the registered tool's origin only."""
    page.goto(serve_lms.sandbox.embed_url("seminar"))
    expect(page.frame_locator("#tool").locator("h1:visible")).to_contain_text("Course captured")
    answer = page.evaluate(
        """() => new Promise((resolve) => {
          window.addEventListener("message", (ev) => {
            if (ev.data && ev.data.message_id === "probe-1") resolve(ev.data);
          });
          window.frames["post_message_forwarding"].postMessage(
            {subject: "lti.get_data", message_id: "probe-1", key: "lti_state_x"}, "*");
          setTimeout(() => resolve(null), 10000);
        })"""
    )
    assert answer is not None and answer["subject"] == "lti.get_data.response"
    assert answer["error"]["code"] == "unauthorized"
