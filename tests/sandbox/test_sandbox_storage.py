"""The sandbox's platform side of 1EdTech client-side postMessage storage, over HTTP (the
scripts themselves run in the browser tests)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nrps_nb.sandbox import SandboxServer
from nrps_nb.sandbox.storage import STORAGE_FRAME, origin


def _login_from_embed(page: str) -> str:
    m = re.search(r"\.src = (\"[^\"]+\")|window\.open\((\"[^\"]+\")", page)
    assert m is not None, page
    url: str = json.loads(m.group(1) or m.group(2))  # a JSON string literal in the script
    return url


def test_embed_page_starts_a_login_with_a_storage_target(sandbox: SandboxServer, kit: Any) -> None:
    page = kit.client.get(sandbox.embed_url("seminar"))
    assert page.status_code == 200
    assert f'name="{STORAGE_FRAME}"' in page.text and 'id="tool"' in page.text
    login = _login_from_embed(page.text)
    q = {k: v[0] for k, v in parse_qs(urlsplit(login).query).items()}
    assert q["lti_storage_target"] == STORAGE_FRAME
    assert q["iss"] == sandbox.base_url and q["client_id"] == kit.CLIENT_ID
    # the hint it carries is one the auth endpoint accepts
    tool_url = login.rsplit("/login", 1)[0]
    auth = kit.client.get(sandbox.info()["auth_login_url"], params=kit.auth_request(q, tool_url))
    assert auth.status_code == 200 and 'name="id_token"' in auth.text


def test_new_window_variant_and_bad_requests(sandbox: SandboxServer, kit: Any) -> None:
    page = kit.client.get(sandbox.embed_url("seminar", window=True))
    assert page.status_code == 200 and 'id="open-tool"' in page.text
    assert "lti_storage_target" in _login_from_embed(page.text)
    base = sandbox.base_url
    assert kit.client.get(f"{base}/courses/seminar/embed?target=popup").status_code == 400
    assert kit.client.get(f"{base}/courses/nope/embed").status_code == 404
    assert kit.client.get(f"{base}/courses/seminar/embed?user=nobody").status_code == 404


def test_storage_frame_answers_only_the_tool_origin(sandbox: SandboxServer, kit: Any) -> None:
    page = kit.client.get(f"{sandbox.base_url}/lti/{STORAGE_FRAME}")
    assert page.status_code == 200
    tool_origin = origin(sandbox.config.tool_url)
    assert f'var TOOL_ORIGIN = "{tool_origin}"' in page.text
    assert "unauthorized" in page.text and "Key not found" in page.text


def test_origin_serialization() -> None:
    assert origin("http://127.0.0.1:8765/x/y") == "http://127.0.0.1:8765"
    assert origin("https://Tool.Example.edu:443/nrps") == "https://tool.example.edu"
    assert origin("http://[::1]:80/") == "http://[::1]"
