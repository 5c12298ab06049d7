"""A flood of login initiations cannot fill the disk: the login-state table is bounded in size
(new logins are refused with 503 once it is full) and in time (expired states are dropped)."""

from __future__ import annotations

import time

import httpx
import pytest

from nrps_nb import Platform, Workspace, store
from nrps_nb.sandbox import SandboxServer
from nrps_nb.server import ReceiverServer


def _live_states(ws: Workspace) -> int:
    with ws.store.transaction() as con:
        (count,) = con.execute("SELECT COUNT(*) FROM login_states").fetchone()
    return int(count)


def test_login_flood_is_bounded_in_size_and_time(
    ws: Workspace,
    receiver: ReceiverServer,
    sandbox: SandboxServer,
    platform: Platform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store, "MAX_LOGIN_STATES", 40)
    info = sandbox.info()
    params = {
        "iss": info["issuer"],
        "client_id": info["client_id"],
        "login_hint": "someone",
        "target_link_uri": receiver.base_url + "/launch",
    }
    statuses = []
    with httpx.Client() as client:
        for _ in range(60):
            statuses.append(client.get(receiver.base_url + "/login", params=params).status_code)
        assert statuses[:40] == [302] * 40
        assert set(statuses[40:]) == {503}
        assert _live_states(ws) == 40
        refused = client.get(receiver.base_url + "/login", params=params)
        assert "too many pending logins" in refused.text
        # Expired states make room again (they are dropped on the next login).
        with ws.store.transaction() as con:
            con.execute("UPDATE login_states SET expires_at = ?", (time.time() - 1,))
        assert client.get(receiver.base_url + "/login", params=params).status_code == 302
    assert _live_states(ws) == 1
