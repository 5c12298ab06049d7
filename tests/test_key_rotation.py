"""Rotating the tool key: a new key signs, the old one stays published until retired, and an
LMS that reads the JWKS URL (the sandbox, like Canvas) accepts the new key with no re-registration,
even when the rotation happens in another process while the receiver runs."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from nrps_nb import ConfigError, Platform, Workspace
from nrps_nb.oauth import clear_token_cache
from nrps_nb.sandbox import SandboxServer
from nrps_nb.server import ReceiverServer


def kids(ws: Workspace) -> list[str]:
    return [k["kid"] for k in ws.tool_jwks()["keys"]]


def test_rotate_publishes_both_keys_until_the_old_one_is_retired(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    old = ws.init()
    new = ws.rotate_key()  # right after creation: same size, same mtime tick, new file
    assert new.kid != old.kid and ws.key.kid == new.kid
    assert kids(ws) == [new.kid, old.kid]
    assert ws.tool_public_pem() != old.public_pem()
    assert stat.S_IMODE(ws.previous_key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ws.key_path.stat().st_mode) == 0o600
    # What the new key signs verifies with the published key of its kid.
    token = jwt.encode({"x": 1}, ws.key.private_key, algorithm="RS256",
                       headers={"kid": ws.key.kid})  # fmt: skip
    published = jwt.PyJWKSet.from_dict(ws.tool_jwks())[ws.key.kid]
    assert jwt.decode(token, published.key, algorithms=["RS256"]) == {"x": 1}

    with pytest.raises(ConfigError, match=f"previous tool key \\(kid {old.kid}\\)"):
        ws.rotate_key()  # a second rotation would drop a key an LMS may still hold
    assert kids(ws) == [new.kid, old.kid]

    assert ws.retire_previous_key() == old.kid
    assert kids(ws) == [new.kid] and not ws.previous_key_path.exists()
    with pytest.raises(ConfigError, match="no previous tool key"):
        ws.retire_previous_key()


def test_a_loosened_previous_key_is_repaired_on_start(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.rotate_key()
    os.chmod(ws.previous_key_path, 0o644)
    Workspace(ws.home)
    assert stat.S_IMODE(ws.previous_key_path.stat().st_mode) == 0o600


def test_rotation_in_another_process_while_the_receiver_runs(
    ws: Workspace, receiver: ReceiverServer, sandbox: SandboxServer, platform: Platform
) -> None:
    url = sandbox.memberships_url("seminar")
    assert len(ws.fetch_roster(url)) == 8
    fetches = sandbox.stats["tool_jwks_fetches"]
    old_kid = ws.key.kid

    env = {**os.environ, "NRPS_NB_HOME": str(ws.home)}
    rotated = subprocess.run([sys.executable, "-m", "nrps_nb.cli", "keys", "rotate"],
                             capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.strip()
    assert new_kid != old_kid and "keys retire" in rotated.stderr
    assert "PRIVATE" not in rotated.stdout + rotated.stderr

    clear_token_cache()  # a new client assertion, signed by the new key
    assert ws.key.kid == new_kid  # this process sees the rotation at once
    assert len(ws.fetch_roster(url)) == 8
    assert sandbox.stats["tool_jwks_fetches"] == fetches + 1  # unknown kid: refetched once
    served = receiver.base_url + "/jwks.json"
    assert [k["kid"] for k in httpx.get(served).json()["keys"]] == [new_kid, old_kid]

    retired = subprocess.run([sys.executable, "-m", "nrps_nb.cli", "keys", "retire"],
                             capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert retired.returncode == 0 and old_kid in retired.stderr
    assert [k["kid"] for k in httpx.get(served).json()["keys"]] == [new_kid]
    clear_token_cache()
    assert len(ws.fetch_roster(url)) == 8  # the sandbox already holds the new key
    again = subprocess.run([sys.executable, "-m", "nrps_nb.cli", "keys", "retire"],
                           capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert again.returncode == 1 and "no previous tool key" in again.stderr
    assert "Traceback" not in again.stderr
    assert (
        json.loads(
            subprocess.run(
                [sys.executable, "-m", "nrps_nb.cli", "keys", "jwks"],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            ).stdout  # fmt: skip
        )["keys"][0]["kid"]
        == new_kid
    )


def test_a_replaced_key_file_is_reread_even_with_the_same_size_and_mtime(tmp_path: Path) -> None:
    """The parsed-key cache must not serve the old key for a file replaced within one mtime tick
    (coarse on many file systems) by a key of the same PEM size (the usual case)."""
    from nrps_nb.keys import ToolKey

    path = tmp_path / "tool_key.pem"
    first = ToolKey.generate()
    first.save(path)
    before = path.stat()
    assert ToolKey.load(path).kid == first.kid
    for _ in range(50):  # most 2048-bit PEMs have the same length; find one
        second = ToolKey.generate()
        second.save(path)
        if path.stat().st_size == before.st_size:
            break
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert ToolKey.load(path).kid == second.kid


def test_a_broken_previous_key_never_hides_the_current_one(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.rotate_key()
    ws.previous_key_path.write_text("not a key")
    assert kids(ws) == [ws.key.kid]  # /jwks.json keeps publishing the key that signs
    assert ws.retire_previous_key() == "(unreadable)"
    assert not ws.previous_key_path.exists()


def test_rotations_at_once_publish_every_key_they_report(tmp_path: Path) -> None:
    """Two processes rotating at the same moment: one wins, the other is refused, and the kid
    the winner reports is the one published (no key is silently dropped)."""
    import threading

    Workspace(tmp_path / "ws").init()
    results: list[object] = []
    start = threading.Barrier(2)

    def rotate() -> None:
        ws = Workspace(tmp_path / "ws")  # its own connection, like another process
        start.wait()
        try:
            results.append(ws.rotate_key().kid)
        except ConfigError as exc:
            results.append(exc)

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1 and len(results) == 2
    ws = Workspace(tmp_path / "ws")
    assert kids(ws)[0] == winners[0] and len(kids(ws)) == 2
    assert not list(ws.home.glob("*.tmp"))
