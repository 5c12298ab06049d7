"""The Workspace: the one object that ties the store, the tool key and the clients together.

Everything the package does for a user is a method here; the module-level functions of
``nrps_nb`` call the same methods on the default workspace (``$NRPS_NB_HOME``, else the
platformdirs user data directory).

Example::

    >>> ws = Workspace("/tmp/my-workspace")                                  # doctest: +SKIP
    >>> ws.add_platform("canvas", preset="canvas-cloud",
    ...                 client_id="10000000000123")                         # doctest: +SKIP
    >>> df = ws.fetch_roster("https://school.instructure.com/api/lti/courses/7/names_and_roles",
    ...                      platform="canvas")                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import os
import secrets
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import platformdirs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from . import history
from .errors import ConfigError, IncompleteRoster, LaunchTimeout, NrpsNbError, StoreError
from .frames import FrameBuilder, RosterPart, build_frame, members_to_frame, pseudonymize_frame
from .http import Lanes, run_sync, same_origin
from .keys import ToolKey
from .launch import Launch
from .nrps import Page, fetch_members
from .platforms import presets_frame
from .progress import CoursesProgress, RosterProgress
from .registry import Course, Platform, check_url, preset_field_hint, preset_urls
from .roles import role_filter_uri
from .store import KEY_NAME, PREVIOUS_KEY_NAME, Store

__all__ = ["ENV_HOME", "Workspace", "default_home"]

ENV_HOME = "NRPS_NB_HOME"
log = logging.getLogger(__name__)
CAPTURE_WINDOW = 600.0  # capture_launch() accepts launches received in the last 10 minutes
CAPTURE_POLL = 0.2


# Errors reach Python and command-line users alike: name both spellings.
_PASS_PLATFORM = "pass platform=NAME (--platform NAME on the command line)"


def default_home() -> Path:
    """``$NRPS_NB_HOME``, else the platformdirs user data directory for nrps_nb."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("nrps_nb", appauthor=False))


def _platform_key_to_jwk(value: object) -> dict[str, Any]:
    """A pasted platform key (JWK/JWKS dict or JSON, or a PEM public key) as a JWK(S) dict."""
    if isinstance(value, Mapping):
        data = dict(value)
    elif isinstance(value, str) and value.strip().startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            raise ConfigError(
                "the platform key is not valid JSON (expected a JWK or JWKS)"
            ) from None
    elif isinstance(value, str | bytes) and "BEGIN" in str(value):
        raw = value.encode() if isinstance(value, str) else value
        try:
            key = serialization.load_pem_public_key(raw)
        except ValueError:
            raise ConfigError("the platform key is not a PEM public key") from None
        if isinstance(key, rsa.RSAPublicKey):
            data = json.loads(RSAAlgorithm.to_jwk(key))
        elif isinstance(key, ec.EllipticCurvePublicKey):
            data = json.loads(ECAlgorithm.to_jwk(key))
        else:
            raise ConfigError("the platform key must be an RSA or EC public key")
    else:
        raise ConfigError("the platform key must be a JWK, a JWKS or a PEM public key")
    if not isinstance(data, dict) or not ("keys" in data or "kty" in data):
        raise ConfigError("the platform key is neither a JWK (with 'kty') nor a JWKS (with 'keys')")
    private = {"d", "p", "q", "dp", "dq", "qi"}
    for jwk in data.get("keys", [data]):
        if isinstance(jwk, dict) and private & set(jwk):
            raise ConfigError(
                "the platform key contains private key material; paste the public key"
            )
    return data


class Workspace:
    """A directory with the workspace database and the tool key (DESIGN §3)."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.store = Store(self.home)

    def __repr__(self) -> str:
        return f"Workspace(home={str(self.home)!r})"

    def _repr_html_(self) -> str:
        """A summary for notebooks: counts and names, never a key (showing it creates none)."""
        e = html.escape
        platforms = self.store.list_platforms()
        courses = self.store.list_courses()
        launches = self.store.list_launches()
        unclaimed = sum(1 for r in launches if r["claimed_at"] is None)
        key = (
            f"tool key id <code>{e(self.key.kid)}</code>"
            if self.key_path.exists()
            else "no tool key yet (created on first use)"
        )
        if self.previous_key_path.exists():
            key += " (the previous key is still published: retire it once every LMS has the new)"
        return (
            f"<b>nrps_nb workspace</b> <code>{e(str(self.home))}</code><br>"
            f"{len(platforms)} platform(s): {e(', '.join(p.name for p in platforms) or 'none')}"
            f"<br>{len(courses)} course(s); {len(launches)} launch(es), {unclaimed} unclaimed"
            f"<br>{key}"
        )

    # -- the tool key ---------------------------------------------------------------------------

    @property
    def key_path(self) -> Path:
        return self.home / KEY_NAME

    @property
    def previous_key_path(self) -> Path:
        return self.home / PREVIOUS_KEY_NAME

    @property
    def key(self) -> ToolKey:
        """The tool key, created (RSA 2048, mode 0600) on first use.

        Read through its file each time (parsed once per process, then cached by path, size
        and mtime), so a key rotated by another process (``nrps-nb keys rotate`` while a
        receiver or a notebook runs) is the one used from then on.
        """
        return ToolKey.load_or_create(self.key_path)

    def init(self) -> ToolKey:
        """Create the workspace and the tool key if they do not exist yet."""
        return self.key

    def tool_jwks(self) -> dict[str, Any]:
        """The tool's public key set, for the LMS (or its JWKS URL): the current key first,
        then, after :meth:`rotate_key`, the previous one until :meth:`retire_previous_key`.

        >>> Workspace("/tmp/ws").tool_jwks()["keys"][0]["kty"]              # doctest: +SKIP
        'RSA'
        """
        current = self.key
        keys = [current.public_jwk()]
        try:
            previous = self._previous_key()
        except ConfigError as exc:  # the current key must stay published whatever happens
            log.warning("the previous tool key is not published: %s", exc)
            previous = None
        if previous is not None and previous.kid != current.kid:
            keys.append(previous.public_jwk())
        return {"keys": keys}

    def _previous_key(self) -> ToolKey | None:
        if not self.previous_key_path.exists():
            return None
        return ToolKey.load(self.previous_key_path)

    def rotate_key(self) -> ToolKey:
        """Replace the tool key with a new one, keeping the old one published (not used).

        LMSs that read the tool's JWKS URL (Canvas, Blackboard, D2L, Moodle with a keyset URL)
        pick the new key up by themselves, from the first assertion it signs; the old key stays
        in the JWKS so that nothing signed before breaks. Where a public key was pasted into the
        LMS (a PEM or a JWK), paste the new one (:meth:`tool_public_pem`). Once every LMS uses
        the new key, :meth:`retire_previous_key`. One rotation at a time: a second one before
        the retirement is refused, since it would drop a key an LMS may still hold.

        >>> new = ws.rotate_key(); new.kid                                    # doctest: +SKIP
        """
        replacement = ToolKey.generate()  # slow: before taking the lock
        # The workspace database's write lock serializes rotations across processes: two at
        # once would each publish a key the other one drops.
        with self.store.transaction():
            current = self.key
            previous = self._previous_key()
            if previous is not None and previous.kid != current.kid:
                raise ConfigError(
                    f"the previous tool key (kid {previous.kid}) is still published: retire it "
                    "first (`nrps-nb keys retire`, or retire_previous_key()) once every LMS "
                    f"uses the current key (kid {current.kid})"
                )
            current.save(self.previous_key_path)  # first, so that the old key is never lost
            replacement.save(self.key_path)
        log.info("tool key rotated: kid %s replaces kid %s", replacement.kid, current.kid)
        return self.key

    def retire_previous_key(self) -> str:
        """Stop publishing the key that :meth:`rotate_key` replaced; returns its kid (or a
        note that the file was unreadable: it is removed all the same)."""
        with self.store.transaction():
            try:
                previous = self._previous_key()
                kid = previous.kid if previous is not None else None
            except ConfigError:
                kid = "(unreadable)"
            if kid is None:
                raise ConfigError("there is no previous tool key to retire (nothing was rotated)")
            self.previous_key_path.unlink()
        return kid

    def tool_public_pem(self) -> str:
        """The tool's public key as PEM, for LMS forms that want one (Moodle)."""
        return self.key.public_pem()

    def pseudonym_key(self) -> bytes:
        """The workspace's HMAC key for pseudonymized user ids (created once, kept)."""
        return bytes.fromhex(self.store.set_meta_if_absent("pseudonym_key", secrets.token_hex(32)))

    # -- platforms ------------------------------------------------------------------------------

    def add_platform(
        self,
        name: str,
        *,
        issuer: str | None = None,
        client_id: str,
        auth_login_url: str | None = None,
        auth_token_url: str | None = None,
        key_set_url: str | None = None,
        platform_key: object = None,
        token_audience: str | None = None,
        deployment_ids: Iterable[str] = (),
        auto_deployments: bool = False,
        preset: str | None = None,
        base_url: str | None = None,
        allow_insecure_http: bool = False,
        replace: bool = False,
    ) -> Platform:
        """Register an LMS (one client_id of nrps_nb in it). Values given override the preset.

        >>> ws.add_platform("moodle", preset="moodle", base_url="https://moodle.example.edu",
        ...                 client_id="AbC123", deployment_ids=["3"])          # doctest: +SKIP
        """
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("the platform needs a name (e.g. 'canvas' or 'moodle')")
        if not isinstance(client_id, str) or not client_id.strip():
            raise ConfigError("the platform needs the client_id that the LMS gave nrps_nb")
        fields: dict[str, Any] = {}
        if preset is not None:
            fields = preset_urls(preset, base_url)
        elif base_url is not None:
            raise ConfigError("base_url only makes sense with a preset")
        given = {
            "issuer": issuer,
            "auth_login_url": auth_login_url,
            "auth_token_url": auth_token_url,
            "key_set_url": key_set_url,
            "token_audience": token_audience,
        }
        fields.update({k: v for k, v in given.items() if v is not None})
        for required, flag in (
            ("issuer", "--issuer"),
            ("auth_login_url", "--auth-login-url"),
            ("auth_token_url", "--auth-token-url"),
        ):
            if not fields.get(required):
                raise ConfigError(
                    f"platform {name!r} needs {required} ({flag}, or a --preset)"
                    + preset_field_hint(preset, required)
                )
        issuer_value = str(fields["issuer"])
        if issuer_value != issuer_value.strip() or not issuer_value:
            raise ConfigError(f"the issuer {issuer_value!r} has surrounding spaces")
        # LTI issuers are https URLs (compared verbatim with each id_token's iss).
        try:
            check_url(issuer_value, what="issuer", allow_insecure_http=allow_insecure_http)
        except ConfigError as exc:
            raise type(exc)(
                f"{exc}; give the issuer exactly as the LMS shows it in the tool's registration "
                "(e.g. https://canvas.instructure.com for Canvas cloud)"
            ) from None
        for field_name in ("auth_login_url", "auth_token_url", "key_set_url"):
            if fields.get(field_name):
                check_url(
                    fields[field_name],
                    what=field_name.replace("_", " "),
                    allow_insecure_http=allow_insecure_http,
                )
        static = _platform_key_to_jwk(platform_key) if platform_key is not None else None
        if static is None and not fields.get("key_set_url"):
            raise ConfigError(
                f"platform {name!r} needs its public keys: a key set URL (--key-set-url) or a "
                "static key (--platform-key FILE)" + preset_field_hint(preset, "key_set_url")
            )
        deployments = tuple(str(d) for d in deployment_ids)
        platform = Platform(
            name=name.strip(),
            issuer=issuer_value,
            client_id=client_id.strip(),
            auth_login_url=fields["auth_login_url"],
            auth_token_url=fields["auth_token_url"],
            key_set_url=fields.get("key_set_url") if static is None else None,
            platform_key=static,
            token_audience=fields.get("token_audience"),
            deployment_ids=deployments,
            auto_deployments=auto_deployments,
            preset=preset,
            max_page_size=fields.get("max_page_size"),
            allow_insecure_http=allow_insecure_http,
        )
        return self.store.save_platform(platform, replace=replace)

    def platform(self, name: str) -> Platform:
        return self.store.get_platform(name)

    def platforms(self) -> pd.DataFrame:
        """The registered platforms, one row each (no secrets: platforms hold none)."""
        rows = [
            {
                "name": p.name,
                "issuer": p.issuer,
                "client_id": p.client_id,
                "auth_login_url": p.auth_login_url,
                "auth_token_url": p.auth_token_url,
                "token_audience": p.audience,
                "key_set_url": p.key_set_url or "(static key)",
                "deployment_ids": list(p.deployment_ids),
                "auto_deployments": p.auto_deployments,
                "preset": p.preset,
            }
            for p in self.store.list_platforms()
        ]
        columns = [
            "name", "issuer", "client_id", "auth_login_url", "auth_token_url",
            "token_audience", "key_set_url", "deployment_ids", "auto_deployments", "preset",
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    @staticmethod
    def presets() -> pd.DataFrame:
        """The known LMS presets, one row each (see ``nrps_nb.platforms``)."""
        return presets_frame()

    # -- courses and launches -------------------------------------------------------------------

    def add_course(
        self,
        memberships_url: str,
        *,
        platform: str,
        context_id: str | None = None,
        context_label: str | None = None,
        context_title: str | None = None,
    ) -> Course:
        """Add a course by its memberships URL alone (no launch needed).

        >>> ws.add_course("https://school.instructure.com/api/lti/courses/7/names_and_roles",
        ...               platform="canvas")                                 # doctest: +SKIP
        """
        p = self.store.get_platform(platform)
        check_url(
            memberships_url, what="memberships URL", allow_insecure_http=p.allow_insecure_http
        )
        return self.store.upsert_course(
            p.name,
            memberships_url,
            context_id=context_id,
            context_label=context_label,
            context_title=context_title,
        )

    def courses(self, platform: str | None = None) -> pd.DataFrame:
        """The known courses (from launches and added by hand), one row each."""
        rows = [
            {
                "course_id": c.id,
                "platform": c.platform,
                "context_id": c.context_id,
                "context_label": c.context_label,
                "context_title": c.context_title,
                "memberships_url": c.context_memberships_url,
                "deployment_id": c.deployment_id,
                "source": c.source,
            }
            for c in self.store.list_courses(platform)
        ]
        columns = ["course_id", "platform", "context_id", "context_label", "context_title",
                   "memberships_url", "deployment_id", "source"]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def launches(self) -> pd.DataFrame:
        """The captured launches, oldest first (who launched which course, with which roles).

        ``status`` is ``valid``, or ``pending`` while a platform-storage launch waits for its
        browser's confirmation (not claimable), or ``rejected``.
        """
        rows = []
        for r in self.store.list_launches():
            rows.append(
                {
                    "launch_id": r["id"],
                    "received_at": pd.Timestamp(r["received_at"], unit="s", tz="UTC"),
                    "platform": r["platform"],
                    "deployment_id": r["deployment_id"],
                    "context_id": r["context_id"],
                    "context_label": r["context_label"],
                    "context_title": r["context_title"],
                    "memberships_url": r["context_memberships_url"],
                    "user": r["user_name"] or r["sub"],
                    "roles": [x.rsplit("#", 1)[-1] for x in json.loads(r["roles"])],
                    "course_id": r["course_id"],
                    "status": r["status"],
                    "claimed": r["claimed_at"] is not None,
                    "warnings": json.loads(r["warnings"]),
                }
            )
        columns = ["launch_id", "received_at", "platform", "deployment_id", "context_id",
                   "context_label", "context_title", "memberships_url", "user", "roles",
                   "course_id", "status", "claimed", "warnings"]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    async def acapture_launch(self, timeout: float = 120.0) -> Launch:
        """Claim the oldest unclaimed launch of the last 10 minutes, or wait for one."""
        deadline = time.monotonic() + timeout
        since = time.time() - CAPTURE_WINDOW
        while True:
            row = await asyncio.to_thread(self.store.claim_launch, since)
            if row is not None:
                course = self.store.get_course(row["course_id"]) if row["course_id"] else None
                return Launch.from_row(row, course)
            if time.monotonic() >= deadline:
                raise LaunchTimeout(
                    f"no launch arrived within {timeout:g} s; click the nrps_nb link in the "
                    "course, then call capture_launch() again"
                )
            await asyncio.sleep(CAPTURE_POLL)

    def capture_launch(self, timeout: float = 120.0) -> Launch:
        """Sync form of :meth:`acapture_launch`.

        >>> launch = ws.capture_launch(timeout=60)                            # doctest: +SKIP
        >>> launch.context_title                                              # doctest: +SKIP
        'Introduction to Statistics'
        """
        return run_sync(self.acapture_launch(timeout))

    # -- rosters --------------------------------------------------------------------------------

    def resolve_course(self, course: object, platform: str | None = None) -> Course:
        """A Course from a memberships URL, a course id, a context id or a courses() row.

        An unknown memberships URL is added as a course of ``platform``.
        """
        return self._resolve(course, platform)[0]

    def remove_course(self, course: object, *, platform: str | None = None) -> None:
        """Forget a course (its snapshots and change events too; its launches stay).

        >>> ws.remove_course(3)                                               # doctest: +SKIP
        """
        self.store.delete_course(self._resolve_known(course, platform, add_unknown=False).id)

    def _resolve(self, course: object, platform: str | None = None) -> tuple[Course, bool]:
        """The course, and whether this call added it (an unknown memberships URL)."""
        if isinstance(course, Course):
            return course, False
        if isinstance(course, Launch | pd.Series | Mapping | int) or "://" not in str(course):
            return self._resolve_known(course, platform), False
        before = self.store.find_courses(url=str(course).strip())
        if platform is not None:
            before = [c for c in before if c.platform == platform]
        if len(before) == 1:
            return before[0], False  # known: one query, not two
        found = self._resolve_known(course, platform)
        return found, not any(c.id == found.id for c in before)

    def _forget_if_new(self, c: Course, created: bool, exc: BaseException) -> bool:
        """A URL added by a fetch that got no member at all is not kept as a course (a typo
        would otherwise stay in courses() and break every later ``--all``). True if forgotten."""
        if created and not (isinstance(exc, IncompleteRoster) and exc.members):
            self.store.delete_course(c.id)
            return True
        return False

    def _resolve_known(
        self, course: object, platform: str | None = None, *, add_unknown: bool = True
    ) -> Course:
        """The course; an unknown memberships URL is added, or with ``add_unknown=False``
        refused (for calls that only read or remove)."""
        if isinstance(course, Course):
            return course
        if isinstance(course, Launch):
            if course.course is None:
                raise ConfigError(
                    "this launch carried no Names and Roles claim; enable NRPS for the tool"
                )
            return course.course
        if isinstance(course, pd.Series | Mapping):
            row = dict(course)
            if row.get("course_id") is not None and not pd.isna(row["course_id"]):
                return self._resolve_known(int(row["course_id"]))
            url = row.get("memberships_url")
            return self._resolve_known(
                url, platform or row.get("platform"), add_unknown=add_unknown
            )
        if isinstance(course, int) and not isinstance(course, bool):
            found = self.store.get_course(course)
            if found is None:
                raise ConfigError(
                    f"no course with course_id {course}; see courses() or `nrps-nb courses`"
                )
            return found
        if not isinstance(course, str) or not course.strip():
            raise ConfigError(
                "give the course as a memberships URL, a course_id, a context id or a row of "
                f"courses(), not {type(course).__name__}"
            )
        text = course.strip()
        if "://" in text:
            matches = self.store.find_courses(url=text)
            if platform is not None:
                matches = [c for c in matches if c.platform == platform]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                names = ", ".join(c.platform for c in matches)
                raise ConfigError(
                    f"{text} belongs to several platforms ({names}); {_PASS_PLATFORM}"
                )
            if not add_unknown:
                raise ConfigError(
                    f"{text} is not a known course; see courses() or `nrps-nb courses`"
                )
            if platform is None:
                known = self.store.list_platforms()
                if not known:
                    raise ConfigError(
                        f"{text} is not a known course and no LMS is registered yet: register "
                        "the one that serves it first (`nrps-nb platform add` or add_platform())"
                    )
                if len(known) != 1:
                    raise ConfigError(
                        f"{text} is not a known course; say which LMS serves it: {_PASS_PLATFORM}"
                    )
                platform = known[0].name
            return self.add_course(text, platform=platform)
        matches = self.store.find_courses(context_id=text)
        if platform is not None:
            matches = [c for c in matches if c.platform == platform]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            if "/" in text or ":" in text:  # meant as a URL, surely: say what is wrong with it
                raise ConfigError(
                    f"{text!r} is not a memberships URL (it must start with https://, or "
                    "http:// for a loopback sandbox) and no known course has it as context id"
                )
            raise ConfigError(
                f"no known course has context id {text!r}; pass its memberships URL instead"
            )
        raise ConfigError(f"several courses have context id {text!r}; {_PASS_PLATFORM}")

    async def afetch_roster(
        self,
        course: object,
        *,
        platform: str | None = None,
        role: str | None = None,
        limit: int | None = None,
        rlid: str | None = None,
        pseudonymize: bool = False,
        resume: IncompleteRoster | None = None,
        allow_cross_origin: bool = False,
        on_page: Callable[[Page, int], None] | None = None,
        progress: bool | None = None,
        changes_only: bool = False,
    ) -> pd.DataFrame:
        """The roster of ``course`` as a DataFrame (DESIGN §5); see :meth:`fetch_roster`.

        ``on_page(page, members_so_far)`` is called after each page; ``progress`` shows a
        ``tqdm.auto`` bar (None: in a notebook or on a terminal only; False: never).
        """
        if role is not None:
            role_filter_uri(role)  # a role that is no LTI role fails before anything is stored
        c, created = self._resolve(course, platform)
        try:
            return await self._afetch_roster(
                c, role=role, limit=limit, rlid=rlid, pseudonymize=pseudonymize, resume=resume,
                allow_cross_origin=allow_cross_origin, on_page=on_page, progress=progress,
                changes_only=changes_only,
            )  # fmt: skip
        except NrpsNbError as exc:
            self._forget_if_new(c, created, exc)
            raise

    async def _afetch_roster(
        self,
        c: Course,
        *,
        role: str | None,
        limit: int | None,
        rlid: str | None,
        pseudonymize: bool,
        resume: IncompleteRoster | None,
        allow_cross_origin: bool,
        on_page: Callable[[Page, int], None] | None,
        progress: bool | None,
        changes_only: bool,
    ) -> pd.DataFrame:
        p = self.store.get_platform(c.platform)
        if changes_only:
            if role is not None or rlid is not None or resume is not None:
                raise ConfigError(
                    "changes_only=True fetches the whole roster; drop role/rlid/resume"
                )
            return await self._afetch_changes(c, p, limit=limit, pseudonymize=pseudonymize,
                                              allow_cross_origin=allow_cross_origin)  # fmt: skip
        records: list[_Record] = []
        try:
            part, attrs = await self._afetch_part(
                c,
                p,
                role=role,
                limit=limit,
                rlid=rlid,
                resume=resume,
                allow_cross_origin=allow_cross_origin,
                on_page=on_page,
                progress=progress,
                records=records,
            )
        except IncompleteRoster as exc:
            self._pseudonymize_partial(exc, pseudonymize)
            raise
        # The snapshot is written on a worker thread while the frame is built (SQLite lets go
        # of the GIL while it writes); both are done before the frame is returned.
        saved = asyncio.ensure_future(asyncio.to_thread(self._save_records, records))
        try:
            df = build_frame([part])
        finally:
            unsaved = await _snapshot_saved(saved)
        df.attrs.update(attrs)
        if unsaved is not None:
            df.attrs["warnings"] = [*df.attrs["warnings"], unsaved]
        if pseudonymize:
            df = pseudonymize_frame(df, self.pseudonym_key())
        return df

    async def _afetch_part(
        self,
        c: Course,
        p: Platform,
        *,
        role: str | None,
        limit: int | None,
        rlid: str | None,
        resume: IncompleteRoster | None = None,
        allow_cross_origin: bool = False,
        on_page: Callable[[Page, int], None] | None = None,
        progress: bool | None = False,
        records: list[_Record] | _Saver,
    ) -> tuple[RosterPart, dict[str, Any]]:
        """One course's members, normalized page by page, and the frame's attrs (not built yet:
        ``fetch_rosters`` builds one frame of every course)."""
        builder = FrameBuilder()
        if resume is not None:
            builder.add(resume.members)
        first_context: list[dict[str, Any]] = []

        with _roster_bar(c, progress) as bar:

            def page_done(page: Page, members: int) -> None:
                # Runs while the next page is in flight: normalizing overlaps with the network.
                builder.add(page.members)
                if not first_context and page.context is not None:
                    first_context.append(page.context)
                if bar is not None:
                    bar.on_page(page, members)
                if on_page is not None:
                    on_page(page, members)

            try:
                result = await fetch_members(
                    p,
                    self.key,
                    c.context_memberships_url,
                    role=role,
                    limit=limit if limit is not None else p.max_page_size,
                    rlid=rlid,
                    resume_url=resume.resume_url if resume is not None else None,
                    initial_members=resume.members if resume is not None else None,
                    allow_cross_origin=allow_cross_origin,
                    on_page=page_done,
                )
            except IncompleteRoster as exc:
                # What was fetched, as a frame with the course's provenance (never a snapshot).
                if resume is not None:
                    exc.pages += resume.pages  # pages of every try, as a resume counts them
                context = _course_context(c, first_context[0] if first_context else None)
                exc.frame = build_frame(
                    [RosterPart(builder, context, p.name, p.issuer, datetime.now(UTC))]
                )
                # The error itself says what stopped the fetch: no warnings of its own.
                exc.frame.attrs.update(
                    _roster_attrs(c, p, role, rlid, pages=exc.pages, complete=False,
                                  resume_url=exc.resume_url, warnings=[])
                )  # fmt: skip
                raise
        page_context = result.context or {}
        record = _Record(
            course=c,
            context=dict(page_context) if c.context_id is None and page_context.get("id") else None,
            differences_url=result.differences_url,
            # Only a whole, unfiltered roster is a snapshot of the course.
            rows=builder.snapshot_rows() if role is None and rlid is None else None,
        )
        if isinstance(records, _Saver):
            records.add(record)  # fetch_rosters saves finished courses while others fetch
        else:
            records.append(record)  # fetch_roster saves it while the frame is built
        context = _course_context(c, page_context)
        part = RosterPart(builder, context, p.name, p.issuer, datetime.now(UTC))
        attrs = _roster_attrs(
            c, p, role, rlid,
            pages=result.pages + (resume.pages if resume is not None else 0),
            complete=result.complete, differences_url=result.differences_url,
            warnings=list(result.warnings),
        )  # fmt: skip
        return part, attrs

    def _save_records(self, records: list[_Record]) -> None:
        """Course metadata, differences URLs and snapshots of finished fetches: one transaction."""
        now = time.time()
        with self.store.transaction() as con:
            for r in records:
                ctx = r.context
                if ctx is not None:
                    con.execute(
                        "UPDATE courses SET context_id = COALESCE(context_id, ?),"
                        " context_label = COALESCE(context_label, ?),"
                        " context_title = COALESCE(context_title, ?), updated_at = ? WHERE id = ?",
                        (str(ctx["id"]), _opt(ctx.get("label")), _opt(ctx.get("title")), now,
                         r.course.id),
                    )  # fmt: skip
                # A differences URL is "changes since this fetch": keep it only with the
                # snapshot of the same fetch (a filtered fetch would skip changes before it).
                if r.differences_url and r.rows is not None:
                    con.execute(
                        "UPDATE courses SET differences_url = ? WHERE id = ?",
                        (r.differences_url, r.course.id),
                    )
                if r.rows is not None:
                    members = history.entries_from_rows(r.rows)
                    history.record_snapshot(con, r.course.id, members, source="fetch", at=now)

    async def _afetch_changes(
        self,
        c: Course,
        p: Platform,
        *,
        limit: int | None,
        pseudonymize: bool,
        allow_cross_origin: bool,
    ) -> pd.DataFrame:
        """The members that changed since the last snapshot (see :meth:`fetch_roster`)."""
        previous = history.last_snapshot(self.store, c.id)
        differences_url = c.differences_url
        warnings: list[str] = []
        if (
            differences_url
            and not allow_cross_origin
            and not same_origin(differences_url, c.context_memberships_url)
        ):
            # Kept by an older version, or edited in: the access token goes to the course's
            # origin only, so the last snapshot is the reference instead.
            warnings.append(
                f"the stored differences URL {differences_url} is on another origin than the "
                "course; it was not used (the roster was compared with the last snapshot)"
            )
            differences_url = None
        if previous is not None and differences_url:
            # The platform tells us what changed (removed members come back as Deleted).
            result = await fetch_members(
                p,
                self.key,
                differences_url,
                limit=None,
                allow_cross_origin=allow_cross_origin,
            )
            current = history.apply_differences(previous, result.members)
            changed_members = result.members
            source = "differences"
        else:
            result = await fetch_members(
                p,
                self.key,
                c.context_memberships_url,
                limit=limit if limit is not None else p.max_page_size,
                allow_cross_origin=allow_cross_origin,
            )
            current = history.entries_from_members(result.members)
            source = "fetch"
            changed_members = []
        with self.store.transaction() as con:
            changes = history.record_snapshot(con, c.id, current, source=source)
            con.execute(
                "UPDATE courses SET differences_url = ? WHERE id = ?",
                (result.differences_url or differences_url, c.id),
            )  # fmt: skip
        if source == "fetch":
            if previous is None:
                changed_members = result.members  # the first snapshot: everyone is new
            else:
                touched = {uid for uid, _e, _o, _n in changes}
                changed_members = [m for m in result.members if m["user_id"] in touched]
                changed_members += [
                    {"user_id": uid, "status": "Deleted", "roles": json.loads(previous[uid].roles)}
                    for uid, event, _o, _n in changes
                    if event == "left"
                ]
        context = dict(result.context or {})
        for k, v in (("id", c.context_id), ("label", c.context_label), ("title", c.context_title)):
            if v is not None:
                context.setdefault(k, v)
        df = members_to_frame(changed_members, context=context, platform=p.name, issuer=p.issuer)
        df.attrs.update(
            {
                "platform": p.name,
                "issuer": p.issuer,
                "course_id": c.id,
                "memberships_url": c.context_memberships_url,
                "pages": result.pages,
                "complete": True,
                "changes_only": True,
                "baseline": previous is None,
                "source": source,
                "events": len(changes),
                "differences_url": result.differences_url,
                "warnings": [*warnings, *result.warnings],
            }
        )
        if pseudonymize:
            df = pseudonymize_frame(df, self.pseudonym_key())
        return df

    def roster_changes(self, course: object, *, platform: str | None = None) -> pd.DataFrame:
        """Enrollment events of a course (joined, left, role_changed, status_changed), oldest
        first, one row each, from the snapshots of its fetches.

        >>> ws.fetch_roster(course); ...; ws.fetch_roster(course)             # doctest: +SKIP
        >>> ws.roster_changes(course)                                         # doctest: +SKIP
        """
        c = self._resolve_known(course, platform, add_unknown=False)
        return history.events(self.store, c.id)

    def fetch_roster(
        self,
        course: object,
        *,
        platform: str | None = None,
        role: str | None = None,
        limit: int | None = None,
        rlid: str | None = None,
        pseudonymize: bool = False,
        resume: IncompleteRoster | None = None,
        allow_cross_origin: bool = False,
        progress: bool | None = None,
        changes_only: bool = False,
    ) -> pd.DataFrame:
        """The roster of ``course`` as a pandas DataFrame, one row per member.

        ``course`` is a memberships URL, a course_id, a context id, a Launch or a row of
        ``courses()``. If the fetch fails midway, :class:`IncompleteRoster` carries the members
        so far; pass it back as ``resume=`` to continue where it stopped. ``progress``: a
        ``tqdm.auto`` bar of members and pages (None: in a notebook or on a terminal only).

        Every whole, unfiltered fetch is kept as a snapshot of the course. With
        ``changes_only=True`` the result holds only the members that changed since the last
        snapshot (left members as status ``Deleted``), using the platform's ``differences``
        link where it offers one; :meth:`roster_changes` lists the events.

        >>> df = ws.fetch_roster(launch, role="Learner")                      # doctest: +SKIP
        >>> df[["name", "role"]].head()                                       # doctest: +SKIP
        """
        c, created = self._resolve(course, platform)
        # The bar is made here, on the caller's thread, so that in Jupyter it shows in this cell.
        try:
            with _roster_bar(c, progress) as bar:
                return run_sync(
                    self.afetch_roster(
                        c,
                        role=role,
                        limit=limit,
                        rlid=rlid,
                        pseudonymize=pseudonymize,
                        resume=resume,
                        allow_cross_origin=allow_cross_origin,
                        on_page=bar.on_page if bar is not None else None,
                        progress=False,
                        changes_only=changes_only,
                    )
                )
        except NrpsNbError as exc:
            self._forget_if_new(c, created, exc)
            raise

    async def afetch_rosters(
        self,
        courses: object,
        *,
        platform: str | None = None,
        concurrency: int = 8,
        role: str | None = None,
        limit: int | None = None,
        rlid: str | Mapping[int, str] | None = None,
        pseudonymize: bool = False,
        progress: bool | None = None,
        on_course: Callable[[Course, pd.DataFrame | NrpsNbError], None] | None = None,
    ) -> pd.DataFrame:
        """Several rosters at once, concatenated; ``df.attrs["status"]`` has one row a course.

        ``platform`` says which LMS serves memberships URLs not known yet (as in
        :meth:`fetch_roster`). ``rlid`` names a resource link of one course; for several courses
        pass a mapping ``{course_id: rlid}`` (courses without an entry are fetched whole).
        ``on_course(course, frame_or_error)`` is called as each course finishes; ``progress``
        shows a bar of them. A memberships URL that this call added and that yielded no member
        at all is not kept as a course.

        A course that fails midway is not in the frame (which holds complete rosters only), but
        nothing it fetched is lost: ``df.attrs["incomplete"]`` maps its course_id to the
        :class:`IncompleteRoster`, whose ``frame`` holds its members so far and which resumes
        the fetch: ``ws.fetch_roster(course_id, resume=df.attrs["incomplete"][course_id])``.
        With ``pseudonymize=True`` it keeps the pseudonymized ``frame`` only (no raw members),
        so such a resume fetches the course from its first page.
        """
        items = _course_items(courses)
        with _courses_bar(len(items), progress) as bar:
            return await self._afetch_rosters(
                items,
                platform=platform,
                concurrency=concurrency,
                role=role,
                limit=limit,
                rlid=rlid,
                pseudonymize=pseudonymize,
                bar=bar,
                on_course=on_course,
            )

    async def _afetch_rosters(
        self,
        items: list[object],
        *,
        platform: str | None,
        concurrency: int,
        role: str | None,
        limit: int | None,
        rlid: str | Mapping[int, str] | None,
        pseudonymize: bool,
        bar: CoursesProgress | None,
        on_course: Callable[[Course, pd.DataFrame | NrpsNbError], None] | None = None,
    ) -> pd.DataFrame:
        if concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        if role is not None:
            role_filter_uri(role)  # one clear error, not one a course
        pairs = [self._resolve(c, platform) for c in items]
        resolved = [c for c, _ in pairs]
        created = {c.id for c, new in pairs if new}
        if isinstance(rlid, str):
            if len(resolved) != 1:
                raise ConfigError(
                    "an rlid names one resource link of one course; for several courses pass "
                    "rlid={course_id: rlid, ...}"
                )
            rlid = {resolved[0].id: rlid}
        rlids: Mapping[int, str] = rlid or {}
        # ``concurrency`` bounds the requests in flight per host; the pages of one course are
        # fetched in order, so a course holds one lane (one client) from its first page to its
        # last. Every course's members go into one frame at the end.
        lanes: dict[str, Lanes] = {}
        platforms: dict[str, Platform] = {}  # read once per call, not once per course
        saver = _Saver(self._save_records)
        forgotten: set[int] = set()  # new URLs that yielded nothing: not kept as courses

        async def one(c: Course) -> tuple[RosterPart, dict[str, Any]] | NrpsNbError:
            host = urlsplit(c.context_memberships_url).netloc.lower()
            pool = lanes.get(host)
            if pool is None:
                pool = lanes[host] = Lanes(concurrency)
            async with pool.lane():
                result: tuple[RosterPart, dict[str, Any]] | NrpsNbError
                try:
                    p = platforms.get(c.platform) or self.store.get_platform(c.platform)
                    platforms[c.platform] = p
                    result = await self._afetch_part(
                        c, p, role=role, limit=limit, rlid=rlids.get(c.id), records=saver
                    )
                except NrpsNbError as exc:
                    if self._forget_if_new(c, c.id in created, exc):
                        forgotten.add(c.id)
                    if isinstance(exc, IncompleteRoster):
                        self._pseudonymize_partial(exc, pseudonymize)
                    result = exc
            if bar is not None:
                bar.on_course(c, len(result[0].builder) if isinstance(result, tuple) else result)
            if on_course is not None:  # a frame of this course only when someone asks for it
                on_course(c, self._part_frame(result, pseudonymize))
            return result

        try:
            results = await asyncio.gather(*(one(c) for c in resolved))
        except BaseException:
            await saver.finish()  # what finished is kept
            raise
        finally:
            for pool in lanes.values():
                await pool.aclose()
        parts = [r[0] for r in results if isinstance(r, tuple)]
        # Each course's provenance (DESIGN §5 attrs) is a row of the status table; its warnings
        # are also in the frame's, named by course, so that no caveat is lost in the merge.
        rows: list[dict[str, Any]] = []
        warnings: list[str] = []
        incomplete: dict[int, IncompleteRoster] = {}
        for c, r in zip(resolved, results, strict=True):
            attrs = r[1] if isinstance(r, tuple) else {}
            fetched: int | None = len(r[0].builder) if isinstance(r, tuple) else None
            if isinstance(r, IncompleteRoster) and r.frame is not None:
                # Kept apart, not mixed into the complete rosters: resumable, and written by
                # the CLI with --partial (marked so). Pseudonymized: without the raw members
                # (attrs travel with the frame, into pickles too), so a resume starts over.
                incomplete[c.id] = _without_identities(r) if pseudonymize else r
                attrs, fetched = r.frame.attrs, len(r.frame)
            course_warnings = list(attrs.get("warnings", ()))
            warnings.extend(f"{_course_desc(c)}: {w}" for w in course_warnings)
            rows.append(
                {
                    "course_id": None if c.id in forgotten else c.id,
                    "memberships_url": c.context_memberships_url,
                    "platform": c.platform,
                    "ok": isinstance(r, tuple),
                    "members": fetched,
                    "pages": attrs.get("pages"),
                    "differences_url": attrs.get("differences_url"),
                    "warnings": course_warnings,
                    "error": None if isinstance(r, tuple) else f"{type(r).__name__}: {r}",
                }
            )
        status = pd.DataFrame(rows)
        if len(status):  # whole numbers with NA, not floats
            status = status.astype({"course_id": "Int64", "members": "Int64", "pages": "Int64"})
        df = build_frame(parts)  # while the last snapshots are written
        unsaved = await _snapshot_saved(saver.finish())
        if pseudonymize:
            df = pseudonymize_frame(df, self.pseudonym_key())
        df.attrs.update(
            {
                "status": status,
                "incomplete": incomplete,
                "complete": bool(status["ok"].all()) if len(status) else True,
                "role_filter": role,
                "warnings": [*warnings, *([unsaved] if unsaved is not None else [])],
            }
        )
        return df

    def _pseudonymize_partial(self, exc: IncompleteRoster, pseudonymize: bool) -> None:
        if pseudonymize and exc.frame is not None:
            exc.frame = pseudonymize_frame(exc.frame, self.pseudonym_key())  # attrs kept

    def _part_frame(
        self, result: tuple[RosterPart, dict[str, Any]] | NrpsNbError, pseudonymize: bool
    ) -> pd.DataFrame | NrpsNbError:
        if not isinstance(result, tuple):
            return result
        df = build_frame([result[0]])
        df.attrs.update(result[1])
        return pseudonymize_frame(df, self.pseudonym_key()) if pseudonymize else df

    def fetch_rosters(
        self,
        courses: object,
        *,
        platform: str | None = None,
        concurrency: int = 8,
        role: str | None = None,
        limit: int | None = None,
        rlid: str | Mapping[int, str] | None = None,
        pseudonymize: bool = False,
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """Sync form of :meth:`afetch_rosters`.

        >>> df = ws.fetch_rosters(ws.courses(), concurrency=8)                # doctest: +SKIP
        """
        items = _course_items(courses)
        # The bar is made here, on the caller's thread, so that in Jupyter it shows in this cell.
        with _courses_bar(len(items), progress) as bar:
            return run_sync(
                self._afetch_rosters(
                    items,
                    platform=platform,
                    concurrency=concurrency,
                    role=role,
                    limit=limit,
                    rlid=rlid,
                    pseudonymize=pseudonymize,
                    bar=bar,
                )
            )


def _without_identities(exc: IncompleteRoster) -> IncompleteRoster:
    """The error with its pseudonymized frame only: no raw members, no resume point."""
    safe = IncompleteRoster(
        str(exc), members=[], resume_url=None, cause=exc.cause, pages=exc.pages, url=exc.url,
        status=exc.status,
    )  # fmt: skip
    safe.frame = exc.frame.copy()  # attrs copied too
    safe.frame.attrs["resume_url"] = None
    return safe


def _course_context(c: Course, page_context: dict[str, Any] | None) -> dict[str, Any]:
    """The page's context, filled in with what the course record knows (the page's values
    win)."""
    context = dict(page_context or {})
    for k, v in (("id", c.context_id), ("label", c.context_label), ("title", c.context_title)):
        if v is not None or k not in context:
            context.setdefault(k, v)
    return context


def _roster_attrs(
    c: Course, p: Platform, role: str | None, rlid: str | None, **fetch: Any
) -> dict[str, Any]:
    """A roster frame's provenance (DESIGN §5 attrs): the course's, then the fetch's own."""
    return {
        "platform": p.name,
        "issuer": p.issuer,
        "course_id": c.id,
        "memberships_url": c.context_memberships_url,
        "role_filter": role,
        "rlid": rlid,
        **fetch,
    }


@contextlib.contextmanager
def _roster_bar(course: Course, progress: bool | None) -> Iterator[RosterProgress | None]:
    """A bar of one course's pages (None when ``progress`` is False), marked failed if the
    fetch raises."""
    bar = None if progress is False else RosterProgress(_course_desc(course), enabled=progress)
    try:
        yield bar
    except BaseException:
        if bar is not None:
            bar.close(failed=True)
        raise
    if bar is not None:
        bar.close()


@contextlib.contextmanager
def _courses_bar(total: int, progress: bool | None) -> Iterator[CoursesProgress | None]:
    """A bar of courses done (None when ``progress`` is False), closed however the fetch ends."""
    bar = None if progress is False else CoursesProgress(total, enabled=progress)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def _course_items(courses: object) -> list[object]:
    """The courses of a fetch_rosters call: a courses() frame, an iterable, or one course."""
    if isinstance(courses, pd.DataFrame):
        return [row for _, row in courses.iterrows()]
    if isinstance(courses, Iterable) and not isinstance(courses, str):
        return list(courses)
    return [courses]


def _course_desc(course: Course) -> str:
    """A short name for a course in a progress bar."""
    return (
        course.context_label or course.context_title or course.context_id or f"course {course.id}"
    )


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class _Record:
    """What a finished fetch teaches the workspace (saved in one transaction)."""

    course: Course
    context: dict[str, Any] | None
    differences_url: str | None
    rows: list[tuple[str, str, str, list[str]]] | None  # the snapshot (FrameBuilder rows)


async def _snapshot_saved(saving: Awaitable[None]) -> str | None:
    """Wait for a fetch's snapshot to be written; a workspace that cannot store it (disk full,
    read-only) costs the history of this fetch, not the roster just fetched: a warning."""
    try:
        await saving
    except StoreError as exc:
        message = (
            f"this fetch was not recorded as a snapshot ({exc}); the roster is complete, but "
            "roster_changes() and changes_only=True will not see it"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        return message
    return None


class _Saver:
    """Saves finished courses' records on a worker thread while other courses still fetch.

    One batch at a time, in order, each batch one transaction; the event loop only appends.
    ``finish()`` waits for the last batch and raises the first error, if any.
    """

    def __init__(self, save: Callable[[list[_Record]], None]) -> None:
        self._save = save
        self._pending: list[_Record] = []
        self._task: asyncio.Future[None] | None = None
        self._error: BaseException | None = None

    def add(self, record: _Record) -> None:
        self._pending.append(record)
        if self._task is None and self._error is None:
            self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending and self._error is None:
                batch, self._pending = self._pending, []
                try:
                    await asyncio.to_thread(self._save, batch)
                except Exception as exc:  # kept for finish(); later records are not saved
                    self._error = exc
        finally:
            self._task = None

    async def finish(self) -> None:
        task = self._task
        if task is not None:
            await task
        if self._pending and self._error is None:
            batch, self._pending = self._pending, []
            await asyncio.to_thread(self._save, batch)
        if self._error is not None:
            raise self._error
