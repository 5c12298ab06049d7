"""Roster snapshots and enrollment-change events.

Every complete, unfiltered roster fetch is stored as a snapshot (user id, principal role,
status and roles of each member). Each new snapshot is compared with the previous one of the
course, and the differences become events: ``joined``, ``left``, ``role_changed``,
``status_changed``. Most platforms leave inactive members out of NRPS, so "left" comes from
this set difference; where a platform offers ``rel="differences"``, its Deleted and Inactive
members are applied to the last snapshot instead (see ``apply_differences``).

Example::

    >>> ws.fetch_roster(course)                      # a snapshot          # doctest: +SKIP
    >>> ws.roster_changes(course)                    # events since then   # doctest: +SKIP
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from typing import Any, NamedTuple

import pandas as pd

from .frames import context_role, normalize_roles
from .store import Store

__all__ = [
    "EVENTS",
    "Change",
    "Entry",
    "apply_differences",
    "diff",
    "entries_from_members",
    "entries_from_rows",
    "events",
    "last_snapshot",
    "record_snapshot",
    "save_snapshot",
]

EVENTS = ("joined", "left", "role_changed", "status_changed")


class Entry(NamedTuple):  # a tuple: thousands are built per snapshot, and cheaply
    role: str
    status: str
    roles: str  # JSON list of full role URIs


def _entry(member: dict[str, Any]) -> Entry:
    roles = normalize_roles(member.get("roles"))
    status = member.get("status")
    status = status.strip().rsplit("#", 1)[-1].capitalize() if isinstance(status, str) else ""
    return Entry(context_role(roles), status or "Active", json.dumps(roles))


def entries_from_rows(rows: list[tuple[str, str, str, list[str]]]) -> dict[str, Entry]:
    """Snapshot entries from already-normalized (user_id, role, status, roles) rows."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    cache: dict[tuple[str, ...], str] = {}  # rosters repeat a few role sets

    def roles_json(roles: list[str]) -> str:
        key = tuple(roles)
        text = cache.get(key)
        if text is None:
            text = cache[key] = dumps(roles)
        return text

    return {uid: Entry(role, status, roles_json(roles)) for uid, role, status, roles in rows}


def entries_from_members(members: list[dict[str, Any]]) -> dict[str, Entry]:
    return {str(m["user_id"]): _entry(m) for m in members if m.get("user_id") is not None}


def _encode(members: dict[str, Entry]) -> bytes:
    data = {uid: [e.role, e.status, e.roles] for uid, e in members.items()}
    return zlib.compress(json.dumps(data, separators=(",", ":")).encode("utf-8"), 1)


def _decode(blob: bytes) -> dict[str, Entry]:
    data = json.loads(zlib.decompress(blob))
    return {uid: Entry(role, status, roles) for uid, (role, status, roles) in data.items()}


def _last_id(con: sqlite3.Connection, course_id: int) -> int | None:
    row = con.execute(
        "SELECT id FROM snapshots WHERE course_id = ? ORDER BY id DESC LIMIT 1", (course_id,)
    ).fetchone()
    return None if row is None else int(row["id"])


def _blob(con: sqlite3.Connection, snapshot_id: int) -> bytes | None:
    row = con.execute(
        "SELECT data FROM snapshot_blobs WHERE snapshot_id = ?", (snapshot_id,)
    ).fetchone()
    return None if row is None else bytes(row["data"])


def _last(con: sqlite3.Connection, course_id: int) -> dict[str, Entry] | None:
    snapshot_id = _last_id(con, course_id)
    if snapshot_id is None:
        return None
    blob = _blob(con, snapshot_id)
    if blob is not None:
        return _decode(blob)
    rows = con.execute(  # a snapshot from before snapshot_blobs
        "SELECT user_id, role, status, roles FROM snapshot_members WHERE snapshot_id = ?",
        (snapshot_id,),
    ).fetchall()
    return {r["user_id"]: Entry(r["role"], r["status"], r["roles"]) for r in rows}


def last_snapshot(store: Store, course_id: int) -> dict[str, Entry] | None:
    """The members of the course's latest snapshot, or None when there is none."""
    with store.transaction() as con:
        return _last(con, course_id)


Change = tuple[str, str, str | None, str | None]  # user_id, event, old, new


def diff(old: dict[str, Entry], new: dict[str, Entry]) -> list[Change]:
    """The enrollment events that turn roster ``old`` into roster ``new``."""
    out: list[Change] = []
    for uid, entry in new.items():
        before = old.get(uid)
        if before is None:
            out.append((uid, "joined", None, entry.role))
            continue
        if before.role != entry.role:
            out.append((uid, "role_changed", before.role, entry.role))
        if before.status != entry.status:
            out.append((uid, "status_changed", before.status, entry.status))
    out.extend((uid, "left", before.role, None) for uid, before in old.items() if uid not in new)
    return out


def record_snapshot(
    con: sqlite3.Connection,
    course_id: int,
    members: dict[str, Entry],
    *,
    source: str,
    at: float | None = None,
) -> list[Change]:
    """Inside a transaction: store a snapshot and the events since the previous one."""
    at = time.time() if at is None else at
    data = _encode(members)
    last_id = _last_id(con, course_id)
    if last_id is not None and _blob(con, last_id) == data:
        # The same bytes as the last snapshot (a roster re-fetched unchanged, members in the
        # same order): no events, and nothing to decode or compare.
        changes: list[Change] = []
    else:
        previous = _last(con, course_id)
        changes = diff(previous, members) if previous is not None else []
    cur = con.execute(
        "INSERT INTO snapshots (course_id, fetched_at, source, members) VALUES (?, ?, ?, ?)",
        (course_id, at, source, len(members)),
    )
    snapshot_id = cur.lastrowid
    con.execute(
        "INSERT INTO snapshot_blobs (snapshot_id, data) VALUES (?, ?)",
        (snapshot_id, data),
    )
    con.executemany(
        "INSERT INTO roster_events (course_id, at, user_id, event, old, new)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(course_id, at, uid, event, old, new) for uid, event, old, new in changes],
    )
    # Keep the latest few snapshots per course; the events keep the history.
    old_ids = con.execute(
        "SELECT id FROM snapshots WHERE course_id = ? ORDER BY id DESC LIMIT -1 OFFSET 3",
        (course_id,),
    ).fetchall()
    if old_ids:
        ids = [(r["id"],) for r in old_ids]
        con.executemany("DELETE FROM snapshot_blobs WHERE snapshot_id = ?", ids)
        con.executemany("DELETE FROM snapshot_members WHERE snapshot_id = ?", ids)
        con.executemany("DELETE FROM snapshots WHERE id = ?", ids)
    return changes


def save_snapshot(
    store: Store, course_id: int, members: dict[str, Entry], *, source: str, at: float | None = None
) -> list[Change]:
    """Store a snapshot in a transaction of its own; return the events it produced."""
    with store.transaction() as con:
        return record_snapshot(con, course_id, members, source=source, at=at)


def apply_differences(
    previous: dict[str, Entry], changed: list[dict[str, Any]]
) -> dict[str, Entry]:
    """The roster after a ``differences`` answer: Deleted members leave, others are updated."""
    current = dict(previous)
    for member in changed:
        uid = member.get("user_id")
        if uid is None:
            continue
        entry = _entry(member)
        if entry.status == "Deleted":
            current.pop(str(uid), None)
        else:
            current[str(uid)] = entry
    return current


def events(store: Store, course_id: int) -> pd.DataFrame:
    """The enrollment events of a course, oldest first."""
    with store.transaction() as con:
        rows = con.execute(
            "SELECT at, user_id, event, old, new FROM roster_events WHERE course_id = ?"
            " ORDER BY id",
            (course_id,),
        ).fetchall()
    df = pd.DataFrame(
        {
            "at": pd.to_datetime([r["at"] for r in rows], unit="s", utc=True),
            "user_id": pd.array([r["user_id"] for r in rows], dtype="string"),
            "event": pd.array([r["event"] for r in rows], dtype="string"),
            "old": pd.array([r["old"] for r in rows], dtype="string"),
            "new": pd.array([r["new"] for r in rows], dtype="string"),
        }
    )
    df.attrs["course_id"] = course_id
    return df
