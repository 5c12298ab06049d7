"""Shared fixtures: a workspace, the launch receiver and the sandbox LMS on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nrps_nb import Platform, Workspace
from nrps_nb.oauth import clear_token_cache
from nrps_nb.sandbox import SandboxConfig, SandboxServer
from nrps_nb.server import ReceiverServer


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    clear_token_cache()  # tokens are process-wide; tests must not share them
    yield
    clear_token_cache()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def receiver(ws: Workspace) -> Iterator[ReceiverServer]:
    with ReceiverServer(ws) as server:
        yield server


@pytest.fixture
def sandbox(receiver: ReceiverServer) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(tool_url=receiver.base_url)) as server:
        yield server


@pytest.fixture
def platform(ws: Workspace, sandbox: SandboxServer) -> Platform:
    info = sandbox.info()
    return ws.add_platform(
        "sandbox",
        preset="sandbox",
        base_url=info["issuer"],
        client_id=info["client_id"],
        deployment_ids=[info["deployment_id"]],
    )
