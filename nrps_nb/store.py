"""The workspace on disk: one directory with an SQLite database and the tool key.

SQLite runs in rollback-journal mode, not WAL: JupyterHub home directories are often on
NFS, where WAL's shared memory breaks. Transactions are short and take the write lock up
front (``BEGIN IMMEDIATE``) with a busy timeout, so a Jupyter server receiving launches and
a kernel reading them can share the file.

Example::

    >>> store = Store(Path("/tmp/ws"))                       # doctest: +SKIP
    >>> store.list_platforms()                               # doctest: +SKIP
    []
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ConfigError, StoreError, StoreFull
from .registry import Course, Platform

__all__ = ["DB_NAME", "KEY_NAME", "MAX_LOGIN_STATES", "PREVIOUS_KEY_NAME", "Store"]

log = logging.getLogger(__name__)

DB_NAME = "nrps_nb.sqlite3"
KEY_NAME = "tool_key.pem"
# After a key rotation, the key it replaced: still published in the JWKS, never used to sign.
PREVIOUS_KEY_NAME = "tool_key.previous.pem"
MAX_LOGIN_STATES = 10_000  # a flood of login initiations cannot fill the disk
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS platforms (
    name TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    auth_login_url TEXT NOT NULL,
    auth_token_url TEXT NOT NULL,
    key_set_url TEXT,
    platform_key TEXT,
    token_audience TEXT,
    auto_deployments INTEGER NOT NULL DEFAULT 0,
    preset TEXT,
    max_page_size INTEGER,
    allow_insecure_http INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    UNIQUE (issuer, client_id)
);
CREATE TABLE IF NOT EXISTS deployments (
    platform TEXT NOT NULL REFERENCES platforms(name) ON DELETE CASCADE,
    deployment_id TEXT NOT NULL,
    auto INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    PRIMARY KEY (platform, deployment_id)
);
CREATE TABLE IF NOT EXISTS courses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    context_memberships_url TEXT NOT NULL,
    context_id TEXT,
    context_label TEXT,
    context_title TEXT,
    deployment_id TEXT,
    source TEXT NOT NULL,
    differences_url TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (platform, context_memberships_url)
);
CREATE TABLE IF NOT EXISTS launches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    course_id INTEGER,
    message_type TEXT NOT NULL,
    sub TEXT,
    user_name TEXT,
    roles TEXT NOT NULL,
    context_id TEXT,
    context_label TEXT,
    context_title TEXT,
    resource_link_id TEXT,
    resource_link_title TEXT,
    context_memberships_url TEXT,
    claims TEXT NOT NULL,
    warnings TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'valid',
    received_at REAL NOT NULL,
    claimed_at REAL
);
CREATE TABLE IF NOT EXISTS login_states (
    state TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    platform TEXT NOT NULL,
    lti_deployment_id TEXT,
    target_link_uri TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    storage_target TEXT
);
CREATE TABLE IF NOT EXISTS used_nonces (nonce TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id INTEGER NOT NULL,
    fetched_at REAL NOT NULL,
    source TEXT NOT NULL,
    members INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_members (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    roles TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, user_id)
);
-- A snapshot's members as one zlib-compressed JSON object {user_id: [role, status, roles]}:
-- one row per snapshot instead of one per member (a 20,000-member snapshot is written and read
-- in milliseconds). Snapshots of older workspaces keep their snapshot_members rows.
CREATE TABLE IF NOT EXISTS snapshot_blobs (
    snapshot_id INTEGER PRIMARY KEY REFERENCES snapshots(id) ON DELETE CASCADE,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS roster_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id INTEGER NOT NULL,
    at REAL NOT NULL,
    user_id TEXT NOT NULL,
    event TEXT NOT NULL,
    old TEXT,
    new TEXT
);
CREATE INDEX IF NOT EXISTS snapshots_by_course ON snapshots (course_id, id);
CREATE INDEX IF NOT EXISTS events_by_course ON roster_events (course_id, id);
CREATE TABLE IF NOT EXISTS launch_confirmations (
    launch_id INTEGER PRIMARY KEY REFERENCES launches(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

# Columns added after a table was first created: (table, column, declaration).
_ADDED_COLUMNS = (("login_states", "storage_target", "TEXT"),)


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("workspace %s had mode %o; repairing to 0700", path, mode)
        os.chmod(path, 0o700)


def _ensure_private_file(path: Path, what: str) -> None:
    """Mode 0600 for a file that holds secrets (repaired, with a warning, when looser)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        log.warning("%s %s had mode %o; repairing to 0600", what, path, mode)
        os.chmod(path, 0o600)


def _is_rowid(value: object) -> bool:
    """An id SQLite can hold (a positive 64-bit integer); ids from outside may be anything."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


class Store:
    """The workspace database. Every method opens a short transaction of its own."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        try:
            _ensure_private_dir(self.home)
        except OSError as exc:
            raise StoreError(f"cannot create the workspace directory {self.home}: {exc}") from None
        self.db_path = self.home / DB_NAME
        # Checked on every start, not only when the key is used: `nrps-nb courses` repairs a
        # loosened key file too. The database holds the pseudonym key and personal data.
        try:
            _ensure_private_file(self.home / KEY_NAME, "the tool key")
            _ensure_private_file(self.home / PREVIOUS_KEY_NAME, "the previous tool key")
            _ensure_private_file(self.db_path, "the workspace database")
        except OSError as exc:
            raise StoreError(f"cannot make the workspace files private: {exc}") from None
        self._local = threading.local()
        try:
            con = self._connect()
            con.executescript(_SCHEMA)  # DDL only; executescript commits itself
            for table, column, decl in _ADDED_COLUMNS:
                have = {r["name"] for r in con.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot initialise the workspace database {self.db_path}: {exc}"
            ) from None

    def __repr__(self) -> str:
        return f"Store(home={str(self.home)!r})"

    # -- plumbing -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            try:
                con = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"cannot open the workspace database {self.db_path}: {exc}"
                ) from None
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=DELETE")
            con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            con.execute("PRAGMA foreign_keys=ON")
            with contextlib.suppress(OSError):  # a new file: private from the start, quietly
                os.chmod(self.db_path, 0o600)
            self._local.con = con
        return con

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"workspace database error ({self.db_path}): {exc}") from None

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A short write transaction (``BEGIN IMMEDIATE``) for modules that own their tables."""
        return self._tx()

    def close(self) -> None:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # -- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._tx() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta_if_absent(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless one is there; return the stored value."""
        with self._tx() as con:
            con.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row["value"])

    # -- platforms ----------------------------------------------------------------------------

    def _platform_from_row(self, con: sqlite3.Connection, row: sqlite3.Row) -> Platform:
        deps = con.execute(
            "SELECT deployment_id FROM deployments WHERE platform = ? ORDER BY created_at, rowid",
            (row["name"],),
        ).fetchall()
        return Platform(
            name=row["name"],
            issuer=row["issuer"],
            client_id=row["client_id"],
            auth_login_url=row["auth_login_url"],
            auth_token_url=row["auth_token_url"],
            key_set_url=row["key_set_url"],
            platform_key=json.loads(row["platform_key"]) if row["platform_key"] else None,
            token_audience=row["token_audience"],
            deployment_ids=tuple(d["deployment_id"] for d in deps),
            auto_deployments=bool(row["auto_deployments"]),
            preset=row["preset"],
            max_page_size=row["max_page_size"],
            allow_insecure_http=bool(row["allow_insecure_http"]),
        )

    def save_platform(self, platform: Platform, *, replace: bool = False) -> Platform:
        row = platform.to_row()
        now = time.time()
        with self._tx() as con:
            existing = con.execute(
                "SELECT name FROM platforms WHERE name = ?", (platform.name,)
            ).fetchone()
            clash = con.execute(
                "SELECT name FROM platforms WHERE issuer = ? AND client_id = ? AND name != ?",
                (platform.issuer, platform.client_id, platform.name),
            ).fetchone()
            if clash is not None:
                raise ConfigError(
                    f"platform {clash['name']!r} already registers issuer {platform.issuer!r} "
                    f"with client_id {platform.client_id!r}; use that name or remove it first"
                )
            if existing is not None and not replace:
                raise ConfigError(
                    f"a platform named {platform.name!r} exists already; pick another name "
                    "(or pass replace=True / --replace to update it)"
                )
            cols = list(row)
            if existing is None:
                con.execute(
                    f"INSERT INTO platforms ({', '.join(cols)}, created_at) "  # noqa: S608
                    f"VALUES ({', '.join('?' for _ in cols)}, ?)",
                    [*row.values(), now],
                )
            else:
                con.execute(
                    f"UPDATE platforms SET {', '.join(c + ' = ?' for c in cols)} "  # noqa: S608
                    "WHERE name = ?",
                    [*row.values(), platform.name],
                )
            for dep in platform.deployment_ids:
                con.execute(
                    "INSERT OR IGNORE INTO deployments (platform, deployment_id, auto, created_at)"
                    " VALUES (?, ?, 0, ?)",
                    (platform.name, dep, now),
                )
            saved = con.execute(
                "SELECT * FROM platforms WHERE name = ?", (platform.name,)
            ).fetchone()
            return self._platform_from_row(con, saved)

    def get_platform(self, name: str) -> Platform:
        with self._tx() as con:
            row = con.execute("SELECT * FROM platforms WHERE name = ?", (name,)).fetchone()
            if row is None:
                names = [r["name"] for r in con.execute("SELECT name FROM platforms ORDER BY name")]
                known = ", ".join(names) or "none yet"
                raise ConfigError(
                    f"unknown platform {name!r} (registered: {known}); add it with "
                    "`nrps-nb platform add` or add_platform()"
                )
            return self._platform_from_row(con, row)

    def find_platforms(self, issuer: str, client_id: str | None = None) -> list[Platform]:
        with self._tx() as con:
            if client_id is None:
                rows = con.execute("SELECT * FROM platforms WHERE issuer = ?", (issuer,)).fetchall()
            else:
                rows = con.execute(
                    "SELECT * FROM platforms WHERE issuer = ? AND client_id = ?",
                    (issuer, client_id),
                ).fetchall()
            return [self._platform_from_row(con, r) for r in rows]

    def list_platforms(self) -> list[Platform]:
        with self._tx() as con:
            rows = con.execute("SELECT * FROM platforms ORDER BY name").fetchall()
            return [self._platform_from_row(con, r) for r in rows]

    def delete_platform(self, name: str) -> None:
        with self._tx() as con:
            con.execute("DELETE FROM platforms WHERE name = ?", (name,))

    def add_deployment(self, platform: str, deployment_id: str, *, auto: bool = False) -> None:
        with self._tx() as con:
            con.execute(
                "INSERT OR IGNORE INTO deployments (platform, deployment_id, auto, created_at) "
                "VALUES (?, ?, ?, ?)",
                (platform, deployment_id, int(auto), time.time()),
            )

    # -- courses ------------------------------------------------------------------------------

    @staticmethod
    def _course_from_row(row: sqlite3.Row) -> Course:
        return Course(
            id=row["id"],
            platform=row["platform"],
            context_memberships_url=row["context_memberships_url"],
            context_id=row["context_id"],
            context_label=row["context_label"],
            context_title=row["context_title"],
            deployment_id=row["deployment_id"],
            source=row["source"],
            differences_url=row["differences_url"],
        )

    def upsert_course(
        self,
        platform: str,
        context_memberships_url: str,
        *,
        context_id: str | None = None,
        context_label: str | None = None,
        context_title: str | None = None,
        deployment_id: str | None = None,
        source: str = "manual",
    ) -> Course:
        """Add a course, or fill in what a later launch learned about it (never erase)."""
        now = time.time()
        with self._tx() as con:
            con.execute(
                "INSERT INTO courses (platform, context_memberships_url, context_id, context_label,"
                " context_title, deployment_id, source, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (platform, context_memberships_url) DO UPDATE SET"
                " context_id = COALESCE(excluded.context_id, context_id),"
                " context_label = COALESCE(excluded.context_label, context_label),"
                " context_title = COALESCE(excluded.context_title, context_title),"
                " deployment_id = COALESCE(excluded.deployment_id, deployment_id),"
                " source = CASE WHEN excluded.source = 'launch' THEN 'launch' ELSE source END,"
                " updated_at = excluded.updated_at",
                (
                    platform,
                    context_memberships_url,
                    context_id,
                    context_label,
                    context_title,
                    deployment_id,
                    source,
                    now,
                    now,
                ),
            )
            row = con.execute(
                "SELECT * FROM courses WHERE platform = ? AND context_memberships_url = ?",
                (platform, context_memberships_url),
            ).fetchone()
        return self._course_from_row(row)

    def delete_course(self, course_id: int) -> None:
        """Forget a course, its snapshots and events (its launches stay, unlinked)."""
        if not _is_rowid(course_id):
            return
        with self._tx() as con:
            rows = con.execute("SELECT id FROM snapshots WHERE course_id = ?", (course_id,))
            snaps = [(r["id"],) for r in rows.fetchall()]
            con.executemany("DELETE FROM snapshot_blobs WHERE snapshot_id = ?", snaps)
            con.executemany("DELETE FROM snapshot_members WHERE snapshot_id = ?", snaps)
            con.execute("DELETE FROM snapshots WHERE course_id = ?", (course_id,))
            con.execute("DELETE FROM roster_events WHERE course_id = ?", (course_id,))
            con.execute("UPDATE launches SET course_id = NULL WHERE course_id = ?", (course_id,))
            con.execute("DELETE FROM courses WHERE id = ?", (course_id,))

    def find_courses(
        self, *, url: str | None = None, context_id: str | None = None
    ) -> list[Course]:
        with self._tx() as con:
            if url is not None:
                rows = con.execute(
                    "SELECT * FROM courses WHERE context_memberships_url = ? ORDER BY id", (url,)
                ).fetchall()
            else:
                rows = con.execute(
                    "SELECT * FROM courses WHERE context_id = ? ORDER BY id", (context_id,)
                ).fetchall()
        return [self._course_from_row(r) for r in rows]

    def get_course(self, course_id: int) -> Course | None:
        if not _is_rowid(course_id):
            return None  # e.g. 10**30 from a command line: no such course, not an OverflowError
        with self._tx() as con:
            row = con.execute("SELECT * FROM courses WHERE id = ?", (course_id,)).fetchone()
        return None if row is None else self._course_from_row(row)

    def list_courses(self, platform: str | None = None) -> list[Course]:
        with self._tx() as con:
            if platform is None:
                rows = con.execute("SELECT * FROM courses ORDER BY id").fetchall()
            else:
                rows = con.execute(
                    "SELECT * FROM courses WHERE platform = ? ORDER BY id", (platform,)
                ).fetchall()
        return [self._course_from_row(r) for r in rows]

    def set_differences_url(self, course_id: int, url: str | None) -> None:
        with self._tx() as con:
            con.execute("UPDATE courses SET differences_url = ? WHERE id = ?", (url, course_id))

    # -- login states and nonces --------------------------------------------------------------

    def create_login_state(
        self,
        *,
        state: str,
        nonce: str,
        platform: str,
        lti_deployment_id: str | None,
        target_link_uri: str | None,
        ttl: float,
        storage_target: str | None = None,
    ) -> None:
        now = time.time()
        with self._tx() as con:
            con.execute("DELETE FROM login_states WHERE expires_at < ?", (now,))
            (live,) = con.execute("SELECT COUNT(*) FROM login_states").fetchone()
            if live >= MAX_LOGIN_STATES:
                raise StoreFull(f"too many pending logins ({live}); try again in a few minutes")
            con.execute(
                "INSERT INTO login_states (state, nonce, platform, lti_deployment_id,"
                " target_link_uri, created_at, expires_at, storage_target)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (state, nonce, platform, lti_deployment_id, target_link_uri, now, now + ttl,
                 storage_target),
            )  # fmt: skip

    def consume_login_state(self, state: str) -> dict[str, Any] | None:
        """Mark ``state`` used and return it; None when unknown, used or expired (atomic)."""
        now = time.time()
        with self._tx() as con:
            row = con.execute(
                "SELECT * FROM login_states WHERE state = ? AND used = 0 AND expires_at >= ?",
                (state, now),
            ).fetchone()
            if row is None:
                return None
            con.execute("UPDATE login_states SET used = 1 WHERE state = ?", (state,))
        return dict(row)

    def consume_nonce(self, nonce: str, expires_at: float) -> bool:
        """Record ``nonce`` as used; False if it was used before (a replay)."""
        now = time.time()
        with self._tx() as con:
            con.execute("DELETE FROM used_nonces WHERE expires_at < ?", (now,))
            cur = con.execute(
                "INSERT OR IGNORE INTO used_nonces (nonce, expires_at) VALUES (?, ?)",
                (nonce, max(expires_at, now) + 3600),
            )
            return cur.rowcount == 1

    # -- launches -----------------------------------------------------------------------------

    def add_launch(self, record: dict[str, Any]) -> int:
        record = dict(record)
        record.setdefault("received_at", time.time())
        for key in ("roles", "claims", "warnings"):
            if not isinstance(record.get(key), str):
                record[key] = json.dumps(record.get(key, []))
        cols = list(record)
        with self._tx() as con:
            cur = con.execute(
                f"INSERT INTO launches ({', '.join(cols)}) "  # noqa: S608
                f"VALUES ({', '.join('?' for _ in cols)})",
                list(record.values()),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def claim_launch(self, since: float) -> dict[str, Any] | None:
        """Atomically claim the oldest unclaimed valid launch received at or after ``since``."""
        with self._tx() as con:
            row = con.execute(
                "SELECT * FROM launches WHERE claimed_at IS NULL AND status = 'valid'"
                " AND received_at >= ? ORDER BY id LIMIT 1",
                (since,),
            ).fetchone()
            if row is None:
                return None
            con.execute("UPDATE launches SET claimed_at = ? WHERE id = ?", (time.time(), row["id"]))
        return dict(row)

    def add_pending_launch(
        self, record: dict[str, Any], *, token_hash: str, state: str, nonce: str, ttl: float
    ) -> int:
        """Store a launch as ``pending`` with what its browser must confirm (DESIGN §1)."""
        record = {**record, "status": "pending"}
        for key in ("roles", "claims", "warnings"):
            if not isinstance(record.get(key), str):
                record[key] = json.dumps(record.get(key, []))
        cols = list(record)
        now = time.time()
        with self._tx() as con:
            con.execute("DELETE FROM launch_confirmations WHERE expires_at < ?", (now,))
            cur = con.execute(
                f"INSERT INTO launches ({', '.join(cols)}) "  # noqa: S608
                f"VALUES ({', '.join('?' for _ in cols)})",
                list(record.values()),
            )
            assert cur.lastrowid is not None
            con.execute(
                "INSERT INTO launch_confirmations (launch_id, token_hash, state, nonce,"
                " expires_at) VALUES (?, ?, ?, ?, ?)",
                (cur.lastrowid, token_hash, state, nonce, now + ttl),
            )
            return cur.lastrowid

    def take_launch_confirmation(self, launch_id: int, token_hash: str) -> dict[str, Any] | None:
        """Remove and return the pending confirmation of a launch (single use, atomic)."""
        if not _is_rowid(launch_id):
            return None
        with self._tx() as con:
            row = con.execute(
                "SELECT * FROM launch_confirmations WHERE launch_id = ? AND token_hash = ?"
                " AND expires_at >= ?",
                (launch_id, token_hash, time.time()),
            ).fetchone()
            if row is None:
                return None
            con.execute("DELETE FROM launch_confirmations WHERE launch_id = ?", (launch_id,))
        return dict(row)

    def set_launch_status(
        self, launch_id: int, status: str, *, course_id: int | None = None
    ) -> dict[str, Any] | None:
        """Move a pending launch to ``status`` (``valid`` or ``rejected``); return the row."""
        if not _is_rowid(launch_id):
            return None
        with self._tx() as con:
            con.execute(
                "UPDATE launches SET status = ?, course_id = COALESCE(?, course_id)"
                " WHERE id = ? AND status = 'pending'",
                (status, course_id, launch_id),
            )
            row = con.execute("SELECT * FROM launches WHERE id = ?", (launch_id,)).fetchone()
        return None if row is None else dict(row)

    def get_launch(self, launch_id: int) -> dict[str, Any] | None:
        if not _is_rowid(launch_id):
            return None
        with self._tx() as con:
            row = con.execute("SELECT * FROM launches WHERE id = ?", (launch_id,)).fetchone()
        return None if row is None else dict(row)

    def list_launches(self) -> list[dict[str, Any]]:
        with self._tx() as con:
            rows = con.execute("SELECT * FROM launches ORDER BY id").fetchall()
        return [dict(r) for r in rows]
