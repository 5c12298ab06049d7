"""NRPS 2.0 membership service.

The plain sandbox pages with opaque, HMAC-protected cursors. A platform profile pages the
way its LMS does (Canvas page/per_page, Moodle limit/from, Sakai start/limit, Open edX
limit/page, limit/offset elsewhere), with that LMS's Link format, media type, role-filter
and rlid handling and error shapes (``profiles.py`` says which).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from .base import BaseHandler
from .faults import CANVAS_THROTTLE_TEXT, ERROR_KINDS, GARBAGE_PAGE
from .profiles import LIS_V2_MEDIA_TYPE, Profile, nrps_message
from .roster import Course, member_section
from .signing import InvalidToken
from .state import AccessTokens, Platform
from .vocab import (
    LIS,
    LTI_CLAIM,
    NRPS_MEDIA_TYPE,
    ROLE_INSTRUCTOR,
    ROLE_LEARNER,
    ROLE_TEACHING_ASSISTANT,
    SCOPE_NRPS,
)

CURSOR_PURPOSE = "nrps_cursor"
_ACCEPTABLE = frozenset({NRPS_MEDIA_TYPE, "application/json", "application/*", "*/*"})


class NrpsError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def normalize_role(value: str) -> str:
    """A full role URI for a URI or a short context role (``Learner``, ``TeachingAssistant``)."""
    if "://" in value or value.startswith("urn:"):
        return value
    if value == "TeachingAssistant":
        return ROLE_TEACHING_ASSISTANT
    if "#" in value:  # short sub-role, e.g. Instructor#TeachingAssistant
        principal, _, sub = value.partition("#")
        return f"{LIS}/membership/{principal}#{sub}"
    return f"{LIS}/membership#{value}"


def accepts_nrps(accept: str) -> bool:
    """Whether an ``Accept`` header admits the NRPS container (or JSON, or anything)."""
    if not accept.strip():
        return True
    for part in accept.split(","):
        media, *params = part.split(";")
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and media.strip().lower() in _ACCEPTABLE:
            return True
    return False


def with_message(member: dict[str, Any]) -> dict[str, Any]:
    message = {
        LTI_CLAIM + "message_type": "LtiResourceLinkRequest",
        LTI_CLAIM + "custom": {"section": member_section(member["user_id"])},
    }
    return {**member, "message": [message]}


def _filtered(platform: Platform, course: Course, role: str | None) -> Sequence[dict[str, Any]]:
    if role is None:
        return course.members  # a tuple: pages are slices, no copy of a 100k roster
    key = (course.course_id, role)
    cached = platform.role_filter_cache.get(key)
    if cached is None:
        cached = [m for m in course.members if role in m["roles"]]
        platform.role_filter_cache[key] = cached
    return cached


def _role_members(
    platform: Platform, course: Course, mode: str, role: str | None
) -> Sequence[dict[str, Any]]:
    """The members a role filter selects, the way the profile's platform filters."""
    if role is None or mode == "ignored":
        return course.members
    key = (course.course_id, f"{mode}:{role}")
    cached = platform.role_filter_cache.get(key)
    if cached is None:
        if mode == "moodle":
            # Moodle tells only Instructor (moodle/course:manageactivities) from Learner
            # (everyone else); any other role filters nothing.
            if role == ROLE_INSTRUCTOR:
                cached = [m for m in course.members if ROLE_INSTRUCTOR in m["roles"]]
            elif role == ROLE_LEARNER:
                cached = [m for m in course.members if ROLE_INSTRUCTOR not in m["roles"]]
            else:
                cached = list(course.members)
        else:
            cached = [m for m in course.members if role in m["roles"]]
        platform.role_filter_cache[key] = cached
    return cached


def _changed(
    platform: Platform, course: Course, generation: int, role: str | None
) -> list[dict[str, Any]]:
    """The differences listing: members changed after ``generation`` (removed: Deleted)."""
    changed = platform.changed_since(course, generation)
    if role is None:
        return changed
    return [m for m in changed if role in m["roles"]]


def _positive(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise NrpsError(400, "invalid_request", f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _link(profile: Profile, rels: list[tuple[str, str]]) -> str | None:
    if not rels:
        return None
    if profile.link_style == "bare":  # Moodle: URL;rel=next, no brackets, no quotes
        return ", ".join(f"{url};rel={rel}" for url, rel in rels)
    return ("," if profile.canvas_rels else ", ").join(f'<{url}>; rel="{rel}"' for url, rel in rels)


_CANVAS_TYPES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found"}


class MembershipsHandler(BaseHandler):
    """The memberships URL of a course (``/api/lti/courses/<id>/memberships`` in the sandbox;
    each profile uses its platform's path)."""

    _page_no = 1  # the 1-based page of the listing this request asked for
    _gone = False  # the client closed the connection

    _counted = False  # this request is in ``nrps_in_flight``

    async def prepare(self) -> None:
        # Requests in flight at once (latency included): tests check a client's concurrency.
        p = self.platform
        p.stats["nrps_in_flight"] += 1
        p.stats["nrps_max_in_flight"] = max(
            p.stats["nrps_max_in_flight"], p.stats["nrps_in_flight"]
        )
        self._counted = True
        await super().prepare()

    def on_finish(self) -> None:
        self._done_counting()

    def on_connection_close(self) -> None:
        self._gone = True
        self._done_counting()

    def _done_counting(self) -> None:
        if self._counted:
            self._counted = False
            self.platform.stats["nrps_in_flight"] -= 1

    async def get(self, url_id: str) -> None:
        p = self.platform
        p.stats["nrps_requests"] += 1
        try:
            if p.profile.accept_exact:  # Moodle routes by Accept before any resource runs
                self._check_accept()
            self._authorize()
            self._check_accept()
            course = p.courses_by_url_id.get(url_id)
            if course is None:
                raise NrpsError(404, "not_found", f"no course {url_id!r}")
            body: dict[str, Any] | None
            if p.profile.paging == "cursor":
                body, next_url, differences_url = self._page(course)
                rels = [(next_url, "next")] if next_url is not None else []
                if differences_url is not None:
                    rels.append((differences_url, "differences"))
                link = ", ".join(f'<{url}>; rel="{rel}"' for url, rel in rels) or None
            else:
                body, link = self._profile_page(course)
        except NrpsError as err:
            self._send_error(err)
            return
        faults = p.faults.due(self._page_no)
        for fault in faults:
            if fault.kind == "hang":
                await asyncio.sleep(fault.hang)
                if self._gone:
                    return
        for fault in faults:
            if fault.kind in ERROR_KINDS:
                retry_after = fault.retry_after_header()
                if retry_after is not None:
                    self.set_header("Retry-After", retry_after)
                if fault.kind == "canvas-403":
                    self._send_text(403, CANVAS_THROTTLE_TEXT)
                else:
                    phrase = HTTPStatus(fault.status).phrase
                    self._send_error(NrpsError(fault.status, "fault", f"{phrase} (sandbox fault)"))
                return
        cost = p.config.rate_limit_cost
        remaining = p.rate_limit_remaining(cost)
        if remaining is not None:
            if remaining < 0:  # Canvas: the bucket is empty
                self.set_header("X-Rate-Limit-Remaining", "0.0")
                self._send_text(403, CANVAS_THROTTLE_TEXT)
                return
            self.set_header("X-Request-Cost", f"{cost:g}")
            self.set_header("X-Rate-Limit-Remaining", f"{remaining:.2f}")
        elif p.profile.name == "canvas":
            self.set_header("X-Request-Cost", "0.0123")
            self.set_header("X-Rate-Limit-Remaining", "699.98")
        for fault in faults:
            if fault.kind == "foreign-next" and link is not None:
                link = link.replace(p.base_url, fault.url.rstrip("/"))
        if link is not None:
            self.set_header("Link", link)
        if any(f.kind == "garbage" for f in faults):
            self.set_status(200)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(GARBAGE_PAGE)
        elif body is None:  # Sakai: no members, no JSON at all
            self.set_status(200)
            self.set_header("Content-Type", "application/json")
            self.finish(b"")
        else:
            self.send_json(200, body, p.profile.media_type)
        if any(f.kind == "revoke" for f in faults):
            p.access_tokens = AccessTokens()  # every access token issued so far is void

    def _send_text(self, status: int, text: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(text)

    def _send_error(self, err: NrpsError) -> None:
        shape = self.platform.profile.error_shape
        reason = HTTPStatus(err.status).phrase
        if shape == "canvas":
            body: Any = {
                "errors": {
                    "type": _CANVAS_TYPES.get(err.status, "error"),
                    "message": err.description,
                }
            }
        elif shape == "moodle":  # mod/lti/classes/local/ltiservice/response.php send()
            request: dict[str, str] = {"method": "GET", "url": self.request.uri or ""}
            if "Accept" in self.request.headers:
                request["accept"] = self.request.headers["Accept"]
            body = {"status": err.status, "reason": reason, "request": request}
        elif shape == "sakai":  # LTI13Util.return400/return403: a short text
            self.set_status(err.status)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.set_header("X-Sakai-LTI13-Error-Detail", err.description)
            self.finish(err.error)
            return
        elif shape == "openedx":
            if err.error == "above_response_limit":
                body = {"error": err.error, "explanation": err.description}
            else:  # Django REST framework
                body = {"detail": err.description}
        else:
            body = {"error": err.error, "error_description": err.description}
        self.send_json(err.status, body)

    def _check_accept(self) -> None:
        profile = self.platform.profile
        accept = self.request.headers.get("Accept")
        if profile.paging == "cursor":
            if accept is not None and not accepts_nrps(accept):
                raise NrpsError(
                    406, "not_acceptable", f"cannot produce {accept!r}; accept {NRPS_MEDIA_TYPE}"
                )
        elif (
            profile.accept_exact
            and accept
            and "*/*" not in accept
            and accept not in (NRPS_MEDIA_TYPE, LIS_V2_MEDIA_TYPE)
        ):
            # mod/lti/services.php: in_array($accept, $resource->get_formats()), else 400.
            raise NrpsError(400, "invalid_request", f"no resource serves Accept {accept!r}")

    def _authorize(self) -> None:
        p = self.platform
        sakai = p.profile.error_shape == "sakai"
        header = self.request.headers.get("Authorization", "")
        if p.config.proxy_strips_authorization:
            header = ""  # a web server in front of the LMS dropped it
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.set_header("WWW-Authenticate", 'Bearer realm="nrps_nb sandbox"')
            raise NrpsError(
                p.profile.unauthorized_status,
                "invalid_authorization" if sakai else "unauthorized",
                "an Authorization: Bearer access token is required",
            )
        found = p.access_tokens.lookup(token.strip(), p.now())
        if found is None:
            self.set_header(
                "WWW-Authenticate", 'Bearer realm="nrps_nb sandbox", error="invalid_token"'
            )
            raise NrpsError(
                p.profile.unauthorized_status,
                "signature_error" if sakai else "invalid_token",
                "the access token is unknown or expired",
            )
        if SCOPE_NRPS not in found.scopes:
            # Canvas answers 401 here too (RFC 6750 would allow 403); Sakai 400.
            self.set_header(
                "WWW-Authenticate",
                f'Bearer realm="nrps_nb sandbox", error="insufficient_scope", scope="{SCOPE_NRPS}"',
            )
            raise NrpsError(
                p.profile.missing_scope_status,
                "insufficient_scope",
                "Scope roster not in access token"
                if sakai
                else f"the access token lacks {SCOPE_NRPS}",
            )

    def _profile_page(self, course: Course) -> tuple[dict[str, Any] | None, str | None]:
        """One page the way the profile's platform serves it: (body or None, Link value)."""
        p = self.platform
        profile, q = p.profile, self._query
        raw_role, rlid = q("role"), q("rlid")
        since = self._since()
        limit = _positive("limit", q("limit"))
        default_size, cap = p.page_sizes()
        if profile.rlid == "refused" and rlid is not None:
            raise NrpsError(400, "invalid_request", "the rlid parameter is not supported")
        if profile.rlid == "ignored":
            rlid = None
        if rlid is not None and rlid != course.resource_link_id:
            if profile.name == "canvas":  # memberships_provider.rb
                message = "Tool does not have access to rlid or rlid does not exist"
            else:
                message = f"rlid {rlid!r} is not a resource link of this course"
            raise NrpsError(profile.rlid_unknown_status, "invalid_request", message)
        limit_enrollments = p.config.enrollment_limit
        if limit_enrollments is not None and len(course.members) > limit_enrollments:
            raise NrpsError(
                403,
                "above_response_limit",
                "The number of retrieved users is bigger than the maximum allowed in the "
                "configuration.",
            )
        role = None
        if raw_role is not None and raw_role.strip() and profile.role_filter != "ignored":
            role = normalize_role(raw_role.strip())
        members = _role_members(p, course, profile.role_filter, role)
        if since is not None:
            members = _changed(p, course, since, None if profile.role_filter == "ignored" else role)
        total = len(members)
        base = p.memberships_url(course.course_id)
        # Page size and offset, and the query of the page after this one.
        scheme = profile.paging
        keep: list[tuple[str, str]] = []
        if profile.next_keeps_role and raw_role is not None and role is not None:
            keep.append(("role", raw_role))
        if rlid is not None:
            keep.append(("rlid", rlid))
        differences = f"{base}?{urlencode([*keep, ('since', p.stamps[-1])])}"
        if since is not None:
            keep.append(("since", p.stamps[since]))
        size: int | None
        if scheme == "canvas":
            size = min(
                limit or _positive("per_page", q("per_page")) or default_size or 50, cap or 50
            )
            page_no = _positive("page", q("page")) or 1
            offset = (page_no - 1) * size
        elif scheme == "page":  # Open edX: 1-based pages, only with limit
            size = min(limit, cap) if limit and cap else limit
            page_no = _positive("page", q("page")) or 1
            offset = (page_no - 1) * size if size else 0
        else:
            param = {"from": "from", "start": "start"}.get(scheme, "offset")
            raw_offset = q(param)
            offset = int(raw_offset) if raw_offset is not None and raw_offset.isdigit() else 0
            size = limit or default_size
            if size is not None and cap is not None:
                size = min(size, cap)
            if size is None:
                offset = 0  # Moodle and Sakai ignore the offset without a limit
        page = members[offset : offset + size] if size is not None else members[offset:]
        self._page_no = offset // size + 1 if size else 1
        more = size is not None and offset + size < total
        if profile.next_when_full:  # Moodle 3.7/3.8: every full page has a next link
            more = size is not None and len(page) == size
        rels: list[tuple[str, str]] = []

        def canvas_page(number: int, per_page: int) -> str:
            return f"{base}?{urlencode([*keep, ('page', number), ('per_page', per_page)])}"

        if scheme == "canvas" and size is not None:  # lib/api.rb: current, next, first, last
            rels.append((canvas_page(page_no, size), "current"))
            if more:
                rels.append((canvas_page(page_no + 1, size), "next"))
            rels.append((canvas_page(1, size), "first"))
            rels.append((canvas_page(max(1, math.ceil(total / size)), size), "last"))
        elif more and size is not None:
            if scheme == "from":  # memberships.php: the role filter is not carried over
                query = urlencode([("limit", size), ("from", offset + size), *keep])
            elif scheme == "start":  # LTI13Servlet: start and limit only
                query = f"start={offset + size}&limit={size}"
            elif scheme == "page":
                query = f"limit={size}&page={page_no + 1}"
            else:
                query = urlencode([*keep, ("limit", size), ("offset", offset + size)])
            rels.append((f"{base}?{query}", "next"))
        if p.differences_enabled:
            rels.append((differences, "differences"))
        if rlid is not None:
            page = [
                {
                    **m,
                    "message": [
                        nrps_message(
                            profile,
                            m,
                            section=member_section(m["user_id"]),
                            base=course.person(m["user_id"]),
                        )
                    ],
                }
                if m["status"] != "Deleted"
                else m
                for m in page
            ]
        if not page and profile.empty_body_when_empty:
            return None, _link(profile, rels)
        body: dict[str, Any] = {"id": f"{p.base_url}{self.request.uri}"}
        if profile.context_fields is not None:
            context = course.context()
            body["context"] = {k: context[k] for k in profile.context_fields}
        body["members"] = page
        return body, _link(profile, rels)

    def _query(self, name: str) -> str | None:
        try:
            return self.single_argument(name)
        except ValueError as exc:
            raise NrpsError(400, "invalid_request", str(exc)) from exc

    def _since(self) -> int | None:
        """The generation a differences request's ``since`` names (None: not one)."""
        p = self.platform
        raw = self._query("since")
        if raw is None:
            return None
        if not p.differences_enabled:
            raise NrpsError(400, "invalid_request", "this platform offers no differences")
        generation = p.generation_of(raw)
        if generation is None:
            raise NrpsError(400, "invalid_request", f"since {raw!r} is not a differences stamp")
        return generation

    def _page(self, course: Course) -> tuple[dict[str, Any], str | None, str | None]:
        """A page of the plain sandbox: (body, next URL, differences URL)."""
        p, cfg = self.platform, self.platform.config
        since = self._since()
        raw_role, raw_limit = self._query("role"), self._query("limit")
        rlid, raw_cursor = self._query("rlid"), self._query("cursor")
        if raw_role is not None and not raw_role.strip():
            raise NrpsError(400, "invalid_request", "role must not be empty")
        role = normalize_role(raw_role.strip()) if raw_role is not None else None
        limit = cfg.default_page_size
        if raw_limit is not None:
            if not raw_limit.isascii() or not raw_limit.isdigit() or int(raw_limit) < 1:
                raise NrpsError(
                    400, "invalid_request", f"limit must be a positive integer, got {raw_limit!r}"
                )
            limit = min(int(raw_limit), cfg.max_page_size)
        if rlid is not None and rlid != course.resource_link_id:
            raise NrpsError(
                400, "invalid_request", f"rlid {rlid!r} is not a resource link of this course"
            )
        offset = 0
        if raw_cursor is not None:
            offset = self._open_cursor(raw_cursor, course, role, rlid, since)
        members = _filtered(p, course, role) if since is None else _changed(p, course, since, role)
        self._page_no = offset // limit + 1
        if offset > len(members):
            raise NrpsError(400, "invalid_request", "cursor is past the end of the listing")
        page = members[offset : offset + limit]
        if rlid is not None:
            page = [with_message(m) if m["status"] != "Deleted" else m for m in page]
        body = {
            "id": f"{p.base_url}{self.request.uri}",
            "context": course.context(),
            "members": page,
        }
        next_url = differences_url = None
        base = p.memberships_url(course.course_id)
        stamp = p.stamps[since] if since is not None else None
        if offset + limit < len(members):
            cursor = p.signer.seal(
                CURSOR_PURPOSE,
                {"c": course.course_id, "o": offset + limit, "r": role or "", "l": rlid or "",
                 "s": since if since is not None else -1},
            )  # fmt: skip
            # Keep the caller's own parameters so that the next URL, followed verbatim,
            # continues exactly this listing.
            params = [("role", raw_role), ("limit", raw_limit), ("rlid", rlid), ("since", stamp),
                      ("cursor", cursor)]  # fmt: skip
            query = urlencode([(k, v) for k, v in params if v is not None])
            next_url = f"{base}?{query}"
        if p.differences_enabled:
            params = [("role", raw_role), ("rlid", rlid), ("since", p.stamps[-1])]
            differences_url = f"{base}?{urlencode([(k, v) for k, v in params if v is not None])}"
        return body, next_url, differences_url

    def _open_cursor(
        self, raw: str, course: Course, role: str | None, rlid: str | None, since: int | None
    ) -> int:
        p = self.platform
        try:
            data = p.signer.open(CURSOR_PURPOSE, raw)
        except InvalidToken as exc:
            raise NrpsError(400, "invalid_request", f"invalid cursor ({exc})") from exc
        if (
            data.get("c") != course.course_id
            or data.get("r") != (role or "")
            or data.get("l") != (rlid or "")
            or data.get("s", -1) != (since if since is not None else -1)
        ):
            raise NrpsError(
                400,
                "invalid_request",
                "cursor belongs to a different listing (course, role, rlid or since)",
            )
        offset = data.get("o")
        if not isinstance(offset, int) or offset < 0:
            raise NrpsError(400, "invalid_request", "invalid cursor (offset)")
        return offset
