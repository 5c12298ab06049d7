"""pytest-jupyter fixtures for the server extension tests, scoped to this directory.

``pytest_plugins`` may only be set in the top-level conftest, so the plugin's fixtures and
hooks (it runs ``async def`` tests on the server's own loop) are star-imported here, where
they apply to this directory alone. pytest-asyncio, if ever installed, hangs these tests
(jupyter-server/pytest-jupyter#72): run them with ``-p no:asyncio``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

try:
    from pytest_jupyter.jupyter_server import *  # noqa: F403
except ImportError:  # pip install -e '.[test]' brings it; without it these tests cannot run
    if os.environ.get("CI") == "true":
        raise
    collect_ignore_glob = ["test_*.py"]

from nrps_nb import Platform, Workspace
from nrps_nb.sandbox import CourseSpec, SandboxConfig, SandboxServer

BASE_URL = "/base/"
LMS_ORIGIN = "https://lms.example.edu"  # what a cross-site form post from the LMS carries
COURSES = (
    CourseSpec("stats", "Introduction to Statistics", "STAT 101", 12),
    CourseSpec("tricky", '<script>alert(1)</script> & "Co"', "<b>T</b>", 6),
)


@pytest.fixture
def jp_base_url() -> str:
    return BASE_URL


@pytest.fixture
def nrps_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "nrps-home"
    monkeypatch.setenv("NRPS_NB_HOME", str(home))
    monkeypatch.delenv("NRPS_NB_PUBLIC_URL", raising=False)
    monkeypatch.delenv("JUPYTERHUB_PUBLIC_URL", raising=False)
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    return home


@pytest.fixture
def server_url(jp_http_port: int) -> str:
    """The Jupyter server's public URL (what NrpsNbApp.public_url is set to)."""
    return f"http://127.0.0.1:{jp_http_port}{BASE_URL}"


@pytest.fixture
def tool_url(server_url: str) -> str:
    return server_url + "nrps_nb"


@pytest.fixture
def public_url_config(server_url: str) -> dict[str, Any]:
    return {"public_url": server_url}


@pytest.fixture
def jp_server_config(nrps_home: Path, public_url_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"nrps_nb": True},
            # the strict setting: every endpoint needs a login unless marked public
            "allow_unauthenticated_access": False,
        },
        "NrpsNbApp": public_url_config,
    }


@pytest.fixture
def lms(tool_url: str) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(tool_url=tool_url, courses=COURSES)) as server:
        yield server


@pytest.fixture
def ws(nrps_home: Path) -> Workspace:
    return Workspace(nrps_home)


@pytest.fixture
def platform(ws: Workspace, lms: SandboxServer) -> Platform:
    info = lms.info()
    return ws.add_platform(
        "sandbox",
        preset="sandbox",
        base_url=info["issuer"],
        client_id=info["client_id"],
        deployment_ids=[info["deployment_id"]],
    )


Fetch = Callable[..., Awaitable[Any]]


@pytest.fixture
def anon(jp_fetch: Fetch) -> Fetch:
    """A request as the LMS-driven browser makes it: no token, no cookie, no redirects."""

    async def fetch(*parts: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return await jp_fetch(
            *parts,
            headers={"Authorization": "", **(headers or {})},
            follow_redirects=False,
            raise_error=False,
            **kw,
        )

    return fetch


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def form_fields(html: str) -> dict[str, str]:
    parser = _Forms()
    parser.feed(html)
    assert parser.forms, html[:500]
    fields: dict[str, str] = parser.forms[0]["fields"]
    return fields


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def platform_form_post(auth_url: str) -> dict[str, str]:
    """What the sandbox's auth endpoint form-posts back (id_token and state)."""
    with httpx.Client(timeout=10, trust_env=False) as client:
        response = client.get(auth_url)
    assert response.status_code == 200, response.text
    return form_fields(response.text)


def text_of(body: bytes) -> str:
    return re.sub(r"\s+", " ", body.decode())


class Helpers:
    form_fields = staticmethod(form_fields)
    query = staticmethod(query)
    platform_form_post = staticmethod(platform_form_post)
    text_of = staticmethod(text_of)
    LMS_ORIGIN = LMS_ORIGIN


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers
