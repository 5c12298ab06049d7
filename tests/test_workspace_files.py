"""The workspace on disk: modes, the key, the JWKS thumbprint, the database journal mode."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from nrps_nb import ConfigError, Workspace
from nrps_nb.keys import ToolKey, jwk_thumbprint


def test_workspace_is_private_and_key_created_on_first_use(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert not ws.key_path.exists()  # created on first use, not on open
    jwks = ws.tool_jwks()
    assert stat.S_IMODE(ws.home.stat().st_mode) == 0o700
    assert stat.S_IMODE(ws.key_path.stat().st_mode) == 0o600
    assert ws.key.private_key.key_size >= 2048
    (jwk,) = jwks["keys"]
    assert jwk["kid"] == jwk_thumbprint(jwk) == ws.key.kid
    assert {"kty", "n", "e", "alg", "use"} <= set(jwk) and "d" not in jwk
    assert ws.tool_public_pem().startswith("-----BEGIN PUBLIC KEY-----")
    # the same key next time
    assert Workspace(tmp_path / "ws").tool_jwks() == jwks


def test_loose_directory_mode_is_repaired(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)  # noqa: S103 - the test loosens it on purpose
    Workspace(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_rfc7638_thumbprint_example() -> None:
    # The example key of RFC 7638 §3.1 and its published thumbprint.
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
        "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR"
        "0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhA"
        "I4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_database_uses_a_rollback_journal(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.tool_jwks()
    con = sqlite3.connect(ws.store.db_path)
    try:
        (mode,) = con.execute("PRAGMA journal_mode").fetchone()
    finally:
        con.close()
    assert mode == "delete"
    assert stat.S_IMODE(ws.store.db_path.stat().st_mode) == 0o600


def test_broken_key_file_is_a_config_error(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.key_path.write_text("not a key")
    with pytest.raises(ConfigError, match="not an unencrypted PEM"):
        ws.tool_jwks()
    with pytest.raises(ConfigError, match="nrps-nb init"):
        ToolKey.load(tmp_path / "missing.pem")


def test_key_repr_shows_no_key_material(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    text = repr(ws.key) + repr(ws)
    assert "PRIVATE" not in text and ws.key.kid in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "moodle"}, "needs the LMS base URL"),
        ({"preset": "nope"}, "unknown preset"),
        ({"issuer": "https://lms"}, "needs auth_login_url"),
        (
            {
                "issuer": "https://lms",
                "auth_login_url": "https://lms/a",
                "auth_token_url": "https://lms/t",
            },
            "key set URL",
        ),  # fmt: skip
        (
            {
                "issuer": "https://lms",
                "auth_login_url": "ftp://lms/a",
                "auth_token_url": "https://t",
                "key_set_url": "https://k",
            },
            "not an absolute http",
        ),  # fmt: skip
        (
            {
                "issuer": "https://lms",
                "auth_login_url": "http://lms.example.edu/a",
                "auth_token_url": "https://t",
                "key_set_url": "https://k",
            },
            "plain http",
        ),  # fmt: skip
        (
            {
                "issuer": "https://lms",
                "auth_login_url": "https://a",
                "auth_token_url": "https://t",
                "platform_key": "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----",
            },
            "not a PEM",
        ),  # fmt: skip
        (
            {
                "issuer": "https://lms",
                "auth_login_url": "https://a",
                "auth_token_url": "https://t",
                "platform_key": {"kty": "RSA", "n": "x", "e": "AQAB", "d": "secret"},
            },
            "private key",
        ),  # fmt: skip
    ],
)
def test_bad_platform_registrations(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(ConfigError, match=message):
        ws.add_platform("lms", client_id="c", **kwargs)  # type: ignore[arg-type]
    assert ws.platforms().empty  # nothing half-stored


def test_registrations_are_keyed_by_issuer_and_client_id(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    a = ws.add_platform("school-a", preset="canvas-cloud", client_id="100")
    b = ws.add_platform("school-b", preset="canvas-cloud", client_id="200")
    assert a.issuer == b.issuer == "https://canvas.instructure.com"
    assert a.auth_login_url == "https://sso.canvaslms.com/api/lti/authorize_redirect"
    with pytest.raises(ConfigError, match="already registers"):
        ws.add_platform("school-c", preset="canvas-cloud", client_id="100")
    with pytest.raises(ConfigError, match="exists already"):
        ws.add_platform("school-a", preset="canvas-cloud", client_id="300")
    assert ws.platforms()["name"].tolist() == ["school-a", "school-b"]
    moodle = ws.add_platform("moodle", preset="moodle", base_url="https://moodle.example.edu/",
                             client_id="x", deployment_ids=["3"])  # fmt: skip
    assert moodle.issuer == "https://moodle.example.edu"
    assert moodle.auth_token_url == "https://moodle.example.edu/mod/lti/token.php"
    assert moodle.audience == moodle.auth_token_url
    assert moodle.deployment_ids == ("3",)


def test_static_pem_platform_key_is_stored_as_jwk(tmp_path: Path) -> None:
    other = Workspace(tmp_path / "other")
    ws = Workspace(tmp_path / "ws")
    p = ws.add_platform("lms", issuer="https://lms", client_id="c", auth_login_url="https://a",
                        auth_token_url="https://t", platform_key=other.tool_public_pem())  # fmt: skip
    assert p.platform_key is not None and p.platform_key["kty"] == "RSA"
    assert p.key_set_url is None
    assert "platform_key" not in repr(p)
    assert json.loads(json.dumps(p.platform_key))["e"] == "AQAB"


def test_loose_key_file_mode_is_repaired_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws = Workspace(tmp_path / "ws")
    kid = ws.key.kid
    os.chmod(ws.key_path, 0o644)
    with caplog.at_level("WARNING"):
        again = Workspace(tmp_path / "ws")
        assert again.key.kid == kid
    assert stat.S_IMODE(ws.key_path.stat().st_mode) == 0o600
    assert "repairing to 0600" in caplog.text


def test_loose_files_are_repaired_on_start_without_using_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Any start repairs them (`nrps-nb courses` loads no key), each with a warning; a new
    workspace warns about nothing."""
    with caplog.at_level("WARNING"):
        ws = Workspace(tmp_path / "ws")
        ws.init()
    assert caplog.text == ""
    db = ws.home / "nrps_nb.sqlite3"
    assert db.exists()
    os.chmod(ws.key_path, 0o644)
    os.chmod(db, 0o644)
    with caplog.at_level("WARNING"):
        Workspace(tmp_path / "ws").courses()
    assert stat.S_IMODE(ws.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert "the tool key" in caplog.text and "the workspace database" in caplog.text
