"""Members -> the roster DataFrame of DESIGN §5, and its pseudonymized form.

The frame is built column by column in one pass over the members (no per-row Series), with
pandas' nullable dtypes: ``string`` for text, ``boolean`` for flags, a UTC timestamp for
``fetched_at``. ``roles`` holds lists of full role URIs; ``extras`` keeps every other member
field as JSON so nothing the platform sent is lost.

Example::

    >>> df = members_to_frame([{"user_id": "1", "roles": ["Learner"]}], platform="demo")
    >>> df.loc[0, "role"], bool(df.loc[0, "is_learner"])
    ('Learner', True)
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .roles import TEST_USER, context_role, normalize_role, normalize_roles

__all__ = [
    "COLUMNS",
    "FrameBuilder",
    "PSEUDONYMIZED_COLUMNS",
    "RosterPart",
    "build_frame",
    "context_role",
    "members_to_frame",
    "normalize_role",
    "normalize_roles",
    "pseudonymize_frame",
]

# pandas' ``string`` dtype with Python storage: the values are Python strings already, so the
# frame shares them instead of converting every value to Arrow (pyarrow's storage, the default
# when it is installed, costs ~10x more time to build and is not needed for a roster).
STRING = pd.StringDtype("python")

STRING_COLUMNS = (
    "user_id",
    "status",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "email",
    "picture",
    "lis_person_sourcedid",
    "lti11_legacy_user_id",
)
COLUMNS = (
    *STRING_COLUMNS,
    "roles",
    "role",
    "is_instructor",
    "is_teaching_assistant",
    "is_learner",
    "is_test_user",
    "context_id",
    "context_label",
    "context_title",
    "platform",
    "issuer",
    "fetched_at",
    "extras",
)
# An allow-list, written out on purpose (not COLUMNS minus the identifying ones): a column
# added to COLUMNS later stays out of pseudonymized frames until someone decides it is safe.
PSEUDONYMIZED_COLUMNS = (
    "user_id",
    "status",
    "roles",
    "role",
    "is_instructor",
    "is_teaching_assistant",
    "is_learner",
    "is_test_user",
    "context_id",
    "context_label",
    "context_title",
    "platform",
    "issuer",
    "fetched_at",
)
# ``message`` (with rlid) is kept whole in ``extras`` too: only its custom values get columns.
_KNOWN_FIELDS = frozenset({*STRING_COLUMNS, "roles"})
_STATUSES = {"active": "Active", "inactive": "Inactive", "deleted": "Deleted"}
# One encoder for every member's extras: json.dumps() with options builds a new one per call.
_encode_extras = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str).encode


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    # Canvas can leave unexpanded variables such as "$Person.sourcedId".
    if not value or value.startswith("$"):
        return None
    return value


def _status(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        return "Active"
    v = value.strip().rsplit("#", 1)[-1]
    return _STATUSES.get(v.lower(), v)


def _first_message(message: object) -> dict[str, Any] | None:
    if isinstance(message, dict):
        return message
    if isinstance(message, list):
        for entry in message:
            if isinstance(entry, dict):
                mtype = entry.get("https://purl.imsglobal.org/spec/lti/claim/message_type")
                if mtype in (None, "LtiResourceLinkRequest"):
                    return entry
    return None


class FrameBuilder:
    """Builds the roster DataFrame page by page.

    Each page's members are normalized into column lists as soon as the page arrives (the NRPS
    client does it while the next page is in flight), so the raw member dicts need not wait
    for the end, and the final step only turns the lists into pandas arrays. A member seen
    again on a later page replaces its earlier row (de-duplication by ``user_id``).

    >>> b = FrameBuilder(); b.add([{"user_id": "1", "roles": ["Learner"]}])
    >>> b.build(platform="demo").loc[0, "role"]
    'Learner'
    """

    def __init__(self) -> None:
        self._cols: dict[str, list[Any]] = {c: [] for c in STRING_COLUMNS}
        self._roles: list[list[str]] = []
        self._role: list[str] = []
        self._test: list[bool] = []
        self._extras: list[str | None] = []
        self._custom: dict[str, dict[int, Any]] = {}
        self._index: dict[str, int] = {}
        # Raw roles -> (normalized, principal role, test user): rosters repeat a few role sets.
        self._role_cache: dict[tuple[Any, ...], tuple[list[str], str, bool]] = {}
        self.duplicates = 0

    def __len__(self) -> int:
        return len(self._role)

    def add(self, members: Iterable[dict[str, Any]]) -> None:
        cols = self._cols
        for member in members:
            uid = _text(member.get("user_id"))
            at = self._index.get(uid) if uid is not None else None
            if at is None:
                at = len(self._role)
                if uid is not None:
                    self._index[uid] = at
                for c in STRING_COLUMNS:
                    cols[c].append(None)
                self._roles.append([])
                self._role.append("Other")
                self._test.append(False)
                self._extras.append(None)
            else:
                self.duplicates += 1  # a later page has the fresher entry
                for column in self._custom.values():
                    column.pop(at, None)
            get = member.get
            for c in STRING_COLUMNS:
                value = get(c)
                if value.__class__ is str:  # the common case, inlined: _text() of a string
                    value = value.strip()
                    if not value or value[0] == "$":
                        value = None
                elif value is not None:
                    value = _text(value)
                cols[c][at] = value
            cols["status"][at] = _status(get("status"))
            roles, role, test = self._normalized_roles(get("roles"))
            self._roles[at] = roles
            self._role[at] = role
            self._test[at] = test
            extra = {k: v for k, v in member.items() if k not in _KNOWN_FIELDS}
            self._extras[at] = _encode_extras(extra) if extra else None
            message = _first_message(member.get("message"))
            if message is not None:
                values = message.get("https://purl.imsglobal.org/spec/lti/claim/custom")
                if isinstance(values, dict):
                    for name, value in values.items():
                        self._custom.setdefault(f"custom_{name}", {})[at] = (
                            value if isinstance(value, str) else json.dumps(value)
                        )

    def _normalized_roles(self, raw: object) -> tuple[list[str], str, bool]:
        key: tuple[Any, ...] | None = None
        if raw.__class__ is list:
            # normalize_roles is a function of the values, so equal tuples share a result;
            # a list holding something unhashable (junk) is just not cached.
            key = tuple(raw)
            try:
                hit = self._role_cache.get(key)
            except TypeError:
                key, hit = None, None
            if hit is not None:
                return list(hit[0]), hit[1], hit[2]  # each row gets its own list
        roles = normalize_roles(raw)
        entry = (roles, context_role(roles), TEST_USER in roles)
        if key is not None and len(self._role_cache) < 1024:
            self._role_cache[key] = (list(roles), entry[1], entry[2])
        return entry

    def snapshot_rows(self) -> list[tuple[str, str, str, list[str]]]:
        """(user_id, role, status, roles) of every member with a user id (for history)."""
        ids, status = self._cols["user_id"], self._cols["status"]
        return [
            (uid, self._role[i], status[i], self._roles[i])
            for i, uid in enumerate(ids)
            if uid is not None
        ]

    def build(
        self,
        *,
        context: dict[str, Any] | None = None,
        platform: str | None = None,
        issuer: str | None = None,
        fetched_at: datetime | None = None,
    ) -> pd.DataFrame:
        return build_frame([RosterPart(self, context, platform, issuer, fetched_at)])


@dataclass
class RosterPart:
    """One course's members (a builder) and the values its rows share, for :func:`build_frame`."""

    builder: FrameBuilder
    context: dict[str, Any] | None = None
    platform: str | None = None
    issuer: str | None = None
    fetched_at: datetime | None = None


def build_frame(parts: Sequence[RosterPart]) -> pd.DataFrame:
    """One roster DataFrame of several courses' builders, rows in order (no ``pd.concat``).

    Turning the column lists into pandas arrays once, rather than once per course and then
    concatenating, is what keeps hundreds of small courses cheap.

    >>> a, b = FrameBuilder(), FrameBuilder()
    >>> a.add([{"user_id": "1"}]); b.add([{"user_id": "2"}])
    >>> build_frame([RosterPart(a, {"id": "A"}), RosterPart(b, {"id": "B"})])["context_id"].tolist()
    ['A', 'B']
    """
    now = datetime.now(UTC)
    builders = [p.builder for p in parts]
    sizes = [len(b) for b in builders]
    n = sum(sizes)

    def joined(columns: Iterable[list[Any]]) -> list[Any]:
        out: list[Any] = []
        for column in columns:
            out.extend(column)
        return out

    def repeated(values: Iterable[Any]) -> list[Any]:
        out: list[Any] = []
        for value, size in zip(values, sizes, strict=True):
            out.extend([value] * size)
        return out

    def ctx(p: RosterPart, key: str) -> str | None:
        return _text(p.context.get(key)) if isinstance(p.context, dict) else None

    role_col = joined(b._role for b in builders)
    data: dict[str, Any] = {}
    for c in STRING_COLUMNS:
        data[c] = pd.array(joined(b._cols[c] for b in builders), dtype=STRING)
    data["roles"] = pd.Series(joined(b._roles for b in builders), dtype=object)
    data["role"] = pd.array(role_col, dtype=STRING)
    data["is_instructor"] = pd.array([r == "Instructor" for r in role_col], dtype="boolean")
    data["is_teaching_assistant"] = pd.array(
        [r == "TeachingAssistant" for r in role_col], dtype="boolean"
    )
    data["is_learner"] = pd.array([r == "Learner" for r in role_col], dtype="boolean")
    data["is_test_user"] = pd.array(joined(b._test for b in builders), dtype="boolean")
    for c in ("id", "label", "title"):
        data[f"context_{c}"] = pd.array(repeated(ctx(p, c) for p in parts), dtype=STRING)
    data["platform"] = pd.array(repeated(p.platform for p in parts), dtype=STRING)
    data["issuer"] = pd.array(repeated(p.issuer for p in parts), dtype=STRING)
    data["fetched_at"] = pd.Series(
        repeated(pd.Timestamp(p.fetched_at or now) for p in parts), dtype="datetime64[us, UTC]"
    )
    data["extras"] = pd.array(joined(b._extras for b in builders), dtype=STRING)
    for name in sorted({name for b in builders for name in b._custom}):
        values: list[str | None] = []
        for b, size in zip(builders, sizes, strict=True):
            column = b._custom.get(name)
            values.extend([_text(column.get(i)) for i in range(size)] if column else [None] * size)
        data[name] = pd.array(values, dtype=STRING)
    return pd.DataFrame(data, index=pd.RangeIndex(n))


def members_to_frame(
    members: Iterable[dict[str, Any]],
    *,
    context: dict[str, Any] | None = None,
    platform: str | None = None,
    issuer: str | None = None,
    fetched_at: datetime | None = None,
) -> pd.DataFrame:
    """The roster DataFrame (DESIGN §5) of raw NRPS members (duplicates merged by user_id)."""
    builder = FrameBuilder()
    builder.add(members)
    return builder.build(context=context, platform=platform, issuer=issuer, fetched_at=fetched_at)


def pseudonymize_frame(df: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """A copy with keyed-HMAC user ids and only the allow-listed columns (DESIGN §5)."""

    def pseudo(uid: object) -> str | None:
        if not isinstance(uid, str):
            return None
        return hmac.new(key, uid.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    keep = [c for c in PSEUDONYMIZED_COLUMNS if c in df.columns]
    out = df[keep].copy()
    out["user_id"] = pd.array([pseudo(u) for u in df["user_id"]], dtype=STRING)
    out.attrs = {k: v for k, v in df.attrs.items()}
    out.attrs["pseudonymized"] = True
    return out
