"""NRPS 2.0 membership service with opaque, HMAC-protected page cursors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from .base import BaseHandler
from .roster import Course, member_section
from .signing import InvalidToken
from .state import Platform
from .vocab import LIS, LTI_CLAIM, NRPS_MEDIA_TYPE, ROLE_TEACHING_ASSISTANT, SCOPE_NRPS

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


def _filtered(platform: Platform, course: Course, role: str | None) -> list[dict[str, Any]]:
    if role is None:
        return list(course.members)
    key = (course.course_id, role)
    cached = platform.role_filter_cache.get(key)
    if cached is None:
        cached = [m for m in course.members if role in m["roles"]]
        platform.role_filter_cache[key] = cached
    return cached


class MembershipsHandler(BaseHandler):
    """``GET /api/lti/courses/<id>/memberships``."""

    def get(self, course_id: str) -> None:
        p = self.platform
        p.stats["nrps_requests"] += 1
        try:
            self._authorize()
            accept = self.request.headers.get("Accept")
            if accept is not None and not accepts_nrps(accept):
                raise NrpsError(
                    406, "not_acceptable", f"cannot produce {accept!r}; accept {NRPS_MEDIA_TYPE}"
                )
            course = p.courses.get(course_id)
            if course is None:
                raise NrpsError(404, "not_found", f"no course {course_id!r}")
            body, next_url = self._page(course)
        except NrpsError as err:
            self.send_json(err.status, {"error": err.error, "error_description": err.description})
            return
        if next_url is not None:
            self.set_header("Link", f'<{next_url}>; rel="next"')
        self.send_json(200, body, NRPS_MEDIA_TYPE)

    def _authorize(self) -> None:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.set_header("WWW-Authenticate", 'Bearer realm="nrps_nb sandbox"')
            raise NrpsError(
                401, "unauthorized", "an Authorization: Bearer access token is required"
            )
        found = self.platform.access_tokens.lookup(token.strip(), self.platform.now())
        if found is None:
            self.set_header(
                "WWW-Authenticate", 'Bearer realm="nrps_nb sandbox", error="invalid_token"'
            )
            raise NrpsError(401, "invalid_token", "the access token is unknown or expired")
        if SCOPE_NRPS not in found.scopes:
            # Canvas answers 401 here too (RFC 6750 would allow 403).
            self.set_header(
                "WWW-Authenticate",
                f'Bearer realm="nrps_nb sandbox", error="insufficient_scope", scope="{SCOPE_NRPS}"',
            )
            raise NrpsError(401, "insufficient_scope", f"the access token lacks {SCOPE_NRPS}")

    def _query(self, name: str) -> str | None:
        try:
            return self.single_argument(name)
        except ValueError as exc:
            raise NrpsError(400, "invalid_request", str(exc)) from exc

    def _page(self, course: Course) -> tuple[dict[str, Any], str | None]:
        p, cfg = self.platform, self.platform.config
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
            offset = self._open_cursor(raw_cursor, course, role, rlid)
        members = _filtered(p, course, role)
        if offset > len(members):
            raise NrpsError(400, "invalid_request", "cursor is past the end of the listing")
        page = members[offset : offset + limit]
        if rlid is not None:
            page = [with_message(m) for m in page]
        body = {
            "id": f"{p.base_url}{self.request.uri}",
            "context": course.context(),
            "members": page,
        }
        next_url = None
        if offset + limit < len(members):
            cursor = p.signer.seal(
                CURSOR_PURPOSE,
                {"c": course.course_id, "o": offset + limit, "r": role or "", "l": rlid or ""},
            )
            # Keep the caller's own parameters so that the next URL, followed verbatim,
            # continues exactly this listing.
            params = [("role", raw_role), ("limit", raw_limit), ("rlid", rlid), ("cursor", cursor)]
            query = urlencode([(k, v) for k, v in params if v is not None])
            next_url = f"{p.memberships_url(course.course_id)}?{query}"
        return body, next_url

    def _open_cursor(self, raw: str, course: Course, role: str | None, rlid: str | None) -> int:
        p = self.platform
        try:
            data = p.signer.open(CURSOR_PURPOSE, raw)
        except InvalidToken as exc:
            raise NrpsError(400, "invalid_request", f"invalid cursor ({exc})") from exc
        if (
            data.get("c") != course.course_id
            or data.get("r") != (role or "")
            or data.get("l") != (rlid or "")
        ):
            raise NrpsError(
                400,
                "invalid_request",
                "cursor belongs to a different listing (course, role or rlid)",
            )
        offset = data.get("o")
        if not isinstance(offset, int) or offset < 0:
            raise NrpsError(400, "invalid_request", "invalid cursor (offset)")
        return offset
