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
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .roles import TEST_USER, context_role, normalize_role, normalize_roles

__all__ = [
    "COLUMNS",
    "PSEUDONYMIZED_COLUMNS",
    "context_role",
    "members_to_frame",
    "normalize_role",
    "normalize_roles",
    "pseudonymize_frame",
]

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


def members_to_frame(
    members: Iterable[dict[str, Any]],
    *,
    context: dict[str, Any] | None = None,
    platform: str | None = None,
    issuer: str | None = None,
    fetched_at: datetime | None = None,
) -> pd.DataFrame:
    """The roster DataFrame (DESIGN §5) of raw NRPS members."""
    members = list(members)
    n = len(members)
    fetched = fetched_at or datetime.now(UTC)
    cols: dict[str, list[Any]] = {c: [None] * n for c in STRING_COLUMNS}
    roles_col: list[list[str]] = [[] for _ in range(n)]
    role_col: list[str] = ["Other"] * n
    test_col: list[bool] = [False] * n
    extras_col: list[str | None] = [None] * n
    custom: dict[str, list[Any]] = {}
    for i, member in enumerate(members):
        for c in STRING_COLUMNS:
            cols[c][i] = _text(member.get(c))
        cols["status"][i] = _status(member.get("status"))
        roles = normalize_roles(member.get("roles"))
        roles_col[i] = roles
        role_col[i] = context_role(roles)
        test_col[i] = TEST_USER in roles
        extra = {k: v for k, v in member.items() if k not in _KNOWN_FIELDS}
        if extra:
            extras_col[i] = json.dumps(extra, ensure_ascii=False, sort_keys=True, default=str)
        message = _first_message(member.get("message"))
        if message is not None:
            values = message.get("https://purl.imsglobal.org/spec/lti/claim/custom")
            if isinstance(values, dict):
                for name, value in values.items():
                    column = custom.setdefault(f"custom_{name}", [None] * n)
                    column[i] = value if isinstance(value, str) else json.dumps(value)
    ctx = context if isinstance(context, dict) else {}
    data: dict[str, Any] = {}
    for c in STRING_COLUMNS:
        data[c] = pd.array(cols[c], dtype="string")
    data["roles"] = pd.Series(roles_col, dtype=object)
    data["role"] = pd.array(role_col, dtype="string")
    data["is_instructor"] = pd.array([r == "Instructor" for r in role_col], dtype="boolean")
    data["is_teaching_assistant"] = pd.array(
        [r == "TeachingAssistant" for r in role_col], dtype="boolean"
    )
    data["is_learner"] = pd.array([r == "Learner" for r in role_col], dtype="boolean")
    data["is_test_user"] = pd.array(test_col, dtype="boolean")
    for c in ("id", "label", "title"):
        data[f"context_{c}"] = pd.array([_text(ctx.get(c))] * n, dtype="string")
    data["platform"] = pd.array([platform] * n, dtype="string")
    data["issuer"] = pd.array([issuer] * n, dtype="string")
    data["fetched_at"] = pd.Series([pd.Timestamp(fetched)] * n, dtype="datetime64[us, UTC]")
    data["extras"] = pd.array(extras_col, dtype="string")
    for name, values in sorted(custom.items()):
        data[name] = pd.array([_text(v) if v is not None else None for v in values], dtype="string")
    return pd.DataFrame(data, index=pd.RangeIndex(n))


def pseudonymize_frame(df: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """A copy with keyed-HMAC user ids and only the allow-listed columns (DESIGN §5)."""

    def pseudo(uid: object) -> str | None:
        if not isinstance(uid, str):
            return None
        return hmac.new(key, uid.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    keep = [c for c in PSEUDONYMIZED_COLUMNS if c in df.columns]
    out = df[keep].copy()
    out["user_id"] = pd.array([pseudo(u) for u in df["user_id"]], dtype="string")
    out.attrs = {k: v for k, v in df.attrs.items()}
    out.attrs["pseudonymized"] = True
    return out
