"""Real-browser fixtures: Debian's Chromium driven by Python Playwright, the two receivers
(a ``jupyter server`` with the extension, and ``nrps-nb serve``) as real subprocesses, and the
sandbox LMS on 127.0.0.1 while the tool is on ``localhost``: different sites, as in real life.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``apt-get install
chromium``; scripts/check.sh does it). Without Chromium or Playwright these tests skip, except
under ``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nrps_nb import Platform, Workspace
from nrps_nb.sandbox import CourseSpec, SandboxConfig, SandboxServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags this machine needs (root, no network): see the env notes and JUPYTER.md §3.5.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
COURSES = (
    CourseSpec("stats", "Introduction to Statistics", "STAT 101", 30),
    CourseSpec("seminar", "Research Seminar", "SEM 500", 8),
)
STARTUP_TIMEOUT = 60.0


def require_browser() -> Any:
    """The Playwright module, or skip (fail under CI=true) when it or Chromium is missing."""
    missing = []
    try:
        import playwright.sync_api as api
    except ImportError:
        api = None
        missing.append("the playwright package (pip install -e '.[test]')")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return api


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def start(args: list[str], log: Path, **kw: Any) -> subprocess.Popen[str]:
    """A subprocess whose output goes to ``log`` (a pipe nobody reads would fill and block)."""
    with log.open("w") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, text=True, **kw)


def wait_for(
    url: str, proc: subprocess.Popen[str], log: Path, *, headers: dict[str, str] | None = None
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(trust_env=False, timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                out = log.read_text()
                raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode}:\n{out[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url, headers=headers).status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {STARTUP_TIMEOUT} s")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Receiver:
    """A running launch receiver: its kind, tool base URL, workspace and process."""

    kind: str
    tool_url: str
    home: Path
    proc: subprocess.Popen[str]
    token: str | None = None
    server_url: str | None = None
    runtime_dir: Path | None = None

    @property
    def ws(self) -> Workspace:
        return Workspace(self.home)


@pytest.fixture(scope="session")
def serve_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """``nrps-nb serve`` on localhost, as a real subprocess."""
    home = tmp_path_factory.mktemp("serve-home")
    port = free_port()
    public = f"http://localhost:{port}"
    log = home.parent / "serve.log"
    proc = start(
        [sys.executable, "-m", "nrps_nb.cli", "serve", "--host", "localhost", "--port", str(port),
         "--public-url", public],
        log, env={**os.environ, "NRPS_NB_HOME": str(home)},
    )  # fmt: skip
    try:
        wait_for(f"{public}/jwks.json", proc, log)
        yield Receiver("serve", public, home, proc)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def jupyter_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """``jupyter server`` with a token and base_url /base/; the extension enabled by the
    config file that ``pip install`` put in ``<prefix>/etc/jupyter``."""
    root = tmp_path_factory.mktemp("jupyter")
    home, runtime = root / "nrps-home", root / "runtime"
    for d in ("config", "data", "runtime", "notebooks"):
        (root / d).mkdir()
    port = free_port()
    token = secrets.token_hex(16)
    server_url = f"http://localhost:{port}/base/"
    env = {
        **os.environ,
        "NRPS_NB_HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_DATA_DIR": str(root / "data"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    env.pop("NRPS_NB_PUBLIC_URL", None)
    env.pop("JUPYTERHUB_SERVICE_PREFIX", None)
    log = root / "jupyter.log"
    proc = start(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=localhost",
         f"--IdentityProvider.token={token}", "--ServerApp.base_url=/base/",
         f"--ServerApp.root_dir={root / 'notebooks'}",
         f"--NrpsNbApp.public_url={server_url}"],
        log, env=env, cwd=root,
    )  # fmt: skip
    try:
        wait_for(f"{server_url}api/status", proc, log, headers={"Authorization": f"token {token}"})
        yield Receiver("jupyter", server_url + "nrps_nb", home, proc, token, server_url, runtime)
    finally:
        stop(proc)


@dataclass
class Lms:
    sandbox: SandboxServer
    platform: Platform
    receiver: Receiver


@contextlib.contextmanager
def sandbox_for(receiver: Receiver) -> Iterator[Lms]:
    """A fresh sandbox LMS (127.0.0.1) registered in the receiver's workspace."""
    require_browser()
    with SandboxServer(SandboxConfig(tool_url=receiver.tool_url, courses=COURSES)) as sandbox:
        info = sandbox.info()
        platform = receiver.ws.add_platform(
            f"sandbox-{info['issuer'].rsplit(':', 1)[1]}",
            preset="sandbox",
            base_url=info["issuer"],
            client_id=info["client_id"],
            deployment_ids=[info["deployment_id"]],
        )
        yield Lms(sandbox, platform, receiver)


@pytest.fixture(params=["jupyter", "serve"])
def lms(request: pytest.FixtureRequest) -> Iterator[Lms]:
    """The sandbox LMS with each receiver in turn."""
    require_browser()
    receiver: Receiver = request.getfixturevalue(f"{request.param}_receiver")
    with sandbox_for(receiver) as lms:
        yield lms


@pytest.fixture
def serve_lms(serve_receiver: Receiver) -> Iterator[Lms]:
    with sandbox_for(serve_receiver) as lms:
        yield lms


@pytest.fixture
def jupyter_lms(jupyter_receiver: Receiver) -> Iterator[Lms]:
    with sandbox_for(jupyter_receiver) as lms:
        yield lms


# Module scope, not session: while Playwright's sync API is open, asyncio sees its loop as
# running on the main thread, which would change how every later test's async code runs.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    api = require_browser()
    with api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()  # a fresh, empty profile per test
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def cookieless_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context where Chromium blocks third-party cookies.

    Chromium blocks them by default in such (incognito-like) contexts; the tests check it with
    a probe cookie rather than trusting it. (A persistent profile with the block preference
    works too, but closing such contexts hung now and then on this machine.)
    """
    context = browser.new_context()
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()
