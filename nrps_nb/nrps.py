"""The Names and Role Provisioning Services v2 client: pages of members, in order.

``fetch_members`` asks for the first page (with ``role``, ``limit`` and ``rlid`` merged into
the memberships URL's own query), then follows ``Link: rel="next"`` verbatim until there is
none. It keeps the ``rel="differences"`` URL (of the same origin only), refreshes the token
once on a 401, backs off on throttling, refuses to send the bearer token to another origin,
stops (with a warning) where a next link repeats a page, and de-duplicates members by
``user_id``. If a later page fails, ``IncompleteRoster`` carries
every member fetched so far and the URL to resume from.

Example::

    >>> result = await fetch_members(platform, key, url, role="Learner")   # doctest: +SKIP
    >>> result.pages, len(result.members)                                    # doctest: +SKIP
    (3, 250)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from .errors import (
    BadResponse,
    ConfigError,
    Forbidden,
    IncompleteRoster,
    NotAuthorized,
    NrpsNbError,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
)
from .http import get_client, links_by_rel, merge_query, same_origin, seconds_until
from .keys import ToolKey
from .oauth import NRPS_SCOPE, AccessToken, get_access_token, invalidate_token, require_scope
from .platforms import (
    advise_service_error,
    describe_error_body,
    family_of,
    is_token_refusal,
    rlid_ignored_hint,
)
from .registry import Platform, check_url
from .roles import has_role, normalize_roles, role_filter_uri

__all__ = [
    "NRPS_MEDIA_TYPE",
    "Page",
    "RetryPolicy",
    "RosterResult",
    "expand_role_filter",
    "fetch_members",
    "iter_pages",
]

NRPS_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
# Exactly the NRPS type, nothing else: Moodle's services.php compares the whole Accept header
# with the formats it serves and answers 400 to a list such as "<type>, application/json".
# Any Content-Type is read (Sakai answers application/json, Moodle 3.7 a misspelled type).
ACCEPT = NRPS_MEDIA_TYPE
MAX_PAGES = 100_000


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a throttled or failing GET (never a token POST).

    ``slow_below``/``slow_pause``: when a page's ``X-Rate-Limit-Remaining`` (Canvas's
    throttle budget) is below ``slow_below``, the next request waits first, up to
    ``slow_pause`` seconds as the budget nears zero, so that the platform can refill it
    before it throttles. Tests and benchmarks may replace ``DEFAULT_RETRY`` (read per call).
    """

    max_retries: int = 5
    budget: float = 120.0  # seconds in total spent waiting
    base_delay: float = 1.0
    max_delay: float = 30.0
    slow_below: float = 100.0
    slow_pause: float = 2.0


DEFAULT_RETRY = RetryPolicy()


@dataclass
class Page:
    url: str
    members: list[dict[str, Any]]
    next_url: str | None
    differences_url: str | None
    context: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)
    # Members the platform sent that do not hold the requested role (left out of ``members``).
    filtered_out: int = 0


@dataclass
class RosterResult:
    url: str
    members: list[dict[str, Any]]
    context: dict[str, Any] | None
    pages: int
    complete: bool
    differences_url: str | None
    warnings: list[str]


def expand_role_filter(role: str | None) -> str | None:
    """Expand a short context role (``Learner``, ``TA``) to its URI; keep URIs as given."""
    return None if role is None else role_filter_uri(role)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    return float(value) if value.isdigit() else seconds_until(value)


def _low_budget_pause(response: httpx.Response, retry: RetryPolicy) -> float:
    """The pause before the next request when ``X-Rate-Limit-Remaining`` runs low."""
    try:
        remaining = float(response.headers.get("x-rate-limit-remaining", ""))
    except ValueError:
        return 0.0
    if not remaining < retry.slow_below or retry.slow_below <= 0:  # also NaN
        return 0.0
    share = (retry.slow_below - max(0.0, remaining)) / retry.slow_below
    return min(retry.slow_pause, retry.slow_pause * share)


def _is_canvas_throttle(response: httpx.Response) -> bool:
    return response.status_code == 403 and "rate limit exceeded" in response.text[:2000].lower()


def _error_body(response: httpx.Response) -> Any:
    """The parsed JSON error body, else its text."""
    try:
        return response.json()
    except ValueError:
        return response.text


def _has_rlid(url: str) -> bool:
    return any(name == "rlid" for name, _ in parse_qsl(urlsplit(url).query))


_Parsed = tuple[list[dict[str, Any]], dict[str, Any] | None, str | None, list[str]]


def _parse_body(response: httpx.Response, url: str) -> _Parsed:
    """Members, context, in-body next URL and warnings of a membership container.

    The legacy NRPS v1 / LIS JSON-LD shape (``pageOf.membershipSubject``) is read too.
    """
    warnings: list[str] = []
    raw = response.content
    if not raw.strip():
        return [], None, None, warnings  # Sakai sends an empty body for an empty site
    ctype = response.headers.get("content-type", "").lower()
    try:
        body = json.loads(raw)
    except ValueError:
        looks_html = "html" in ctype or raw.lstrip()[:1] == b"<"
        what = "an HTML page (a login page or an error page?)" if looks_html else "not JSON"
        raise BadResponse(
            f"{url} answered {what} instead of a membership container; check that the "
            "memberships URL is the context_memberships_url from the LTI launch",
            url=url,
            status=response.status_code,
        ) from None
    if not isinstance(body, dict):
        raise BadResponse(f"{url} answered JSON that is not a membership container", url=url)
    members: Any = body.get("members")
    context: Any = body.get("context")
    next_in_body: str | None = None
    if members is None and isinstance(body.get("pageOf"), dict):
        # NRPS v1 / LIS JSON-LD: pageOf.membershipSubject.membership[]; then the same member
        # checks as NRPS v2 (an entry without a usable userId is skipped, not kept as "").
        subject = body["pageOf"].get("membershipSubject")
        subject = subject if isinstance(subject, dict) else {}
        entries = subject.get("membership")
        entries = entries if isinstance(entries, list) else []
        members = [_from_lis(m) for m in entries if isinstance(m, dict)]
        context_id = subject.get("contextId")
        context = (
            {"id": str(context_id)} if isinstance(context_id, str | int) and context_id else None
        )
        next_in_body = body.get("nextPage") if isinstance(body.get("nextPage"), str) else None
        warnings.append("the platform answered the legacy LIS membership format")
    if members is None:
        raise BadResponse(f"{url} answered JSON without a 'members' array", url=url)
    if not isinstance(members, list):
        raise BadResponse(f"{url} answered a 'members' value that is not an array", url=url)
    good: list[dict[str, Any]] = []
    skipped = 0
    for member in members:
        if not isinstance(member, dict):
            skipped += 1
            continue
        uid = member.get("user_id")
        if isinstance(uid, bool) or not isinstance(uid, str | int) or uid == "":
            skipped += 1
            continue
        if not isinstance(uid, str):
            member = {**member, "user_id": str(uid)}  # some platforms send numbers
        good.append(member)
    if skipped:
        warnings.append(f"{skipped} member entries without a usable user_id were skipped ({url})")
    return good, context if isinstance(context, dict) else None, next_in_body, warnings


def _from_lis(m: dict[str, Any]) -> dict[str, Any]:
    member = m.get("member")
    person: dict[str, Any] = member if isinstance(member, dict) else {}
    roles = m.get("role") or []
    return {
        "user_id": person.get("userId"),  # checked like an NRPS v2 user_id by the caller
        "name": person.get("name"),
        "given_name": person.get("givenName"),
        "family_name": person.get("familyName"),
        "email": person.get("email"),
        "lis_person_sourcedid": person.get("sourcedId"),
        "status": str(m.get("status", "Active")).rsplit("#", 1)[-1],
        "roles": roles if isinstance(roles, list) else [roles],
    }


class _Fetcher:
    """One roster fetch: token handling, retries and the origin guard."""

    def __init__(
        self,
        platform: Platform,
        key: ToolKey,
        origin_url: str,
        *,
        allow_cross_origin: bool,
        retry: RetryPolicy,
    ) -> None:
        self.platform = platform
        self.key = key
        self.origin_url = origin_url
        self.allow_cross_origin = allow_cross_origin
        self.retry = retry
        self.token: AccessToken | None = None
        self.pause = 0.0  # before the next request: the platform's throttle budget is low

    def check(self, url: str) -> None:
        check_url(
            url, what="memberships URL", allow_insecure_http=self.platform.allow_insecure_http
        )
        if not self.allow_cross_origin and not same_origin(url, self.origin_url):
            raise BadResponse(
                f"the platform sent a next link to another origin ({url}); the access token is "
                f"only sent to the origin of {self.origin_url}. Pass allow_cross_origin=True if "
                "this platform really serves pages from there",
                url=url,
            )

    def _refusal(
        self, url: str, status: int, body: Any, suffix: str, token_refused: bool
    ) -> ServiceError:
        """The error for a request the platform refused for good (no retry helps)."""
        advice = advise_service_error(
            family_of(self.platform.preset), status, body, rlid_sent=_has_rlid(url)
        )
        if advice is not None:
            return advice.error(
                f"{url} answered HTTP {status}{suffix}; {advice.advice}", url=url, status=status
            )
        if token_refused:
            return NotAuthorized(
                f"{url} refused the access token (HTTP {status}{suffix}); check that the LMS "
                "registration grants Names and Role Provisioning",
                url=url,
                status=status,
            )
        if status == 403:
            return Forbidden(
                f"{url} forbids this request (HTTP 403{suffix}); check the tool's "
                "permissions and privacy settings in the LMS",
                url=url,
                status=status,
            )
        if status == 404:
            return BadResponse(
                f"{url} was not found (HTTP 404{suffix}); check the memberships URL",
                url=url,
                status=status,
            )
        if 300 <= status < 400:
            return BadResponse(
                f"{url} redirected (HTTP {status}); use the final memberships URL "
                "(nrps_nb does not follow redirects with an access token)",
                url=url,
                status=status,
            )
        return BadResponse(f"{url} answered HTTP {status}{suffix}", url=url, status=status)

    async def get(self, url: str) -> httpx.Response:
        self.check(url)
        if self.pause > 0:
            pause, self.pause = self.pause, 0.0
            await asyncio.sleep(pause)
        refreshed = False
        attempt = 0
        waited = 0.0
        while True:
            if self.token is None:
                self.token = await get_access_token(self.platform, self.key, [NRPS_SCOPE])
                require_scope(self.token, NRPS_SCOPE, self.platform)
            headers = {"Accept": ACCEPT, "Authorization": self.token.header}
            delay: float | None = None
            error: ServiceError
            try:
                response = await get_client().get(url, headers=headers)
            except httpx.ConnectError as exc:
                # Refused, or the name does not resolve: nothing listens there, and waiting does
                # not change that (timeouts and dropped connections are retried below).
                raise ServiceUnavailable(
                    f"cannot reach {url} ({type(exc).__name__}: the connection was refused or "
                    "the host name does not resolve); check the memberships URL and the network",
                    url=url,
                ) from None
            except httpx.TimeoutException:
                error = ServiceUnavailable(f"{url} did not answer in time", url=url)
            except httpx.HTTPError as exc:
                error = ServiceUnavailable(
                    f"cannot reach {url} ({type(exc).__name__}); check the memberships URL and "
                    "the network",
                    url=url,
                )
            else:
                status = response.status_code
                if status == 200:
                    self.pause = _low_budget_pause(response, self.retry)
                    return response
                body = _error_body(response)
                detail = describe_error_body(body)
                suffix = f": {detail}" if detail else ""
                token_refused = status == 401 or is_token_refusal(status, response.text)
                if token_refused and not refreshed:
                    invalidate_token(self.platform, [NRPS_SCOPE], self.token, self.key)
                    self.token = None
                    refreshed = True
                    continue
                if status == 429 or _is_canvas_throttle(response):
                    error = RateLimited(
                        f"{url} is throttling requests (HTTP {status}{suffix})",
                        url=url,
                        status=status,
                    )
                    delay = _retry_after(response)
                elif status in (500, 502, 503, 504):
                    error = ServiceUnavailable(
                        f"{url} is unavailable (HTTP {status}{suffix})", url=url, status=status
                    )
                    delay = _retry_after(response)
                else:
                    raise self._refusal(url, status, body, suffix, token_refused)
            attempt += 1
            if delay is None:
                delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
                delay *= 0.5 + random.random() / 2  # jitter
            if attempt > self.retry.max_retries or waited + delay > self.retry.budget:
                error.args = (f"{error.args[0]} (gave up after {attempt} attempts)",)
                raise error
            waited += delay
            await asyncio.sleep(delay)


async def iter_pages(
    platform: Platform,
    key: ToolKey,
    url: str,
    *,
    role: str | None = None,
    limit: int | None = None,
    rlid: str | None = None,
    resume_url: str | None = None,
    allow_cross_origin: bool = False,
    retry: RetryPolicy | None = None,
) -> AsyncIterator[Page]:
    """Yield the pages of a roster in order (raises on the first failing page).

    With ``role``, members without that role are left out of every page on our side too:
    Moodle drops the role filter from its next links, Sakai and Open edX ignore it.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer, not {limit!r}")
    wanted = expand_role_filter(role)
    # Next links are followed verbatim: platforms that echo rlid (Blackboard) keep theirs.
    first = merge_query(url, {"role": wanted, "limit": limit, "rlid": rlid})
    retry = retry if retry is not None else DEFAULT_RETRY
    fetcher = _Fetcher(platform, key, url, allow_cross_origin=allow_cross_origin, retry=retry)
    seen: set[str] = set()
    pages = 0

    async def start(page_url: str) -> asyncio.Task[httpx.Response]:
        if page_url in seen:
            raise BadResponse(
                f"the platform's next link repeats a page already fetched ({page_url})"
            )
        if len(seen) >= MAX_PAGES:
            raise BadResponse(f"more than {MAX_PAGES} pages; stopping (a next-link loop?)")
        seen.add(page_url)
        task = asyncio.ensure_future(fetcher.get(page_url))
        # Let the request go out now, so that parsing this page overlaps with the network.
        for _ in range(3):
            await asyncio.sleep(0)
        return task

    pending_url = resume_url or first
    pending: asyncio.Task[httpx.Response] | None = await start(pending_url)
    try:
        while pending is not None:
            response = await pending
            page_url, pending = pending_url, None
            rels = links_by_rel(response.headers.get_list("link"), base_url=page_url)
            link_next = rels.get("next")
            if link_next is not None and link_next not in seen and len(seen) < MAX_PAGES:
                pending_url, pending = link_next, await start(link_next)  # prefetch
            members, context, next_in_body, warnings = _parse_body(response, page_url)
            if next_in_body is not None and not urlsplit(next_in_body).scheme:
                next_in_body = urljoin(page_url, next_in_body)  # relative, like a Link target
            next_url = link_next or next_in_body
            pages += 1
            differences = rels.get("differences")
            if (
                differences is not None
                and not allow_cross_origin
                and not same_origin(differences, url)
            ):
                # Fetching it later would send the access token there: not kept.
                warnings.append(
                    f"the platform's differences link points to another origin ({differences}); "
                    "it was not kept, so changes_only=True compares with the last snapshot"
                )
                differences = None
            prefetched = pending is not None and next_url == pending_url
            if next_url is not None and next_url in seen and not prefetched:
                # Checklist §2.7: a next link that repeats a page is the end of the roster.
                warnings.append(
                    f"page {pages}'s next link repeats a page already fetched ({next_url}); "
                    "stopped there"
                )
                next_url = None
            if next_url is not None and not members:
                warnings.append(f"page {pages} was empty but had a next link; stopped there")
                next_url = None
                if pending is not None:
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending
                    pending = None
            kept = members
            if wanted is not None:
                kept = [m for m in members if has_role(normalize_roles(m.get("roles")), wanted)]
            yield Page(
                url=page_url,
                members=kept,
                next_url=next_url,
                differences_url=differences,
                context=context,
                warnings=warnings,
                filtered_out=len(members) - len(kept),
            )
            if next_url is not None and pending is None:
                pending_url, pending = next_url, await start(next_url)
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


async def fetch_members(
    platform: Platform,
    key: ToolKey,
    url: str,
    *,
    role: str | None = None,
    limit: int | None = None,
    rlid: str | None = None,
    resume_url: str | None = None,
    allow_cross_origin: bool = False,
    retry: RetryPolicy | None = None,
    on_page: Callable[[Page, int], None] | None = None,
    initial_members: list[dict[str, Any]] | None = None,
) -> RosterResult:
    """Every member of the roster at ``url``; raises IncompleteRoster after a partial fetch."""
    members: list[dict[str, Any]] = list(initial_members or [])
    index: dict[str, int] = {m["user_id"]: i for i, m in enumerate(members)}
    context: dict[str, Any] | None = None
    differences_url: str | None = None
    warnings: list[str] = []
    duplicates = 0
    filtered_out = 0
    with_message = 0
    pages = 0
    current: str | None = resume_url or None
    try:
        async for page in iter_pages(
            platform,
            key,
            url,
            role=role,
            limit=limit,
            rlid=rlid,
            resume_url=resume_url,
            allow_cross_origin=allow_cross_origin,
            retry=retry,
        ):
            pages += 1
            current = page.next_url
            if context is None and page.context is not None:
                context = page.context
            if page.differences_url:
                differences_url = page.differences_url
            warnings.extend(page.warnings)
            filtered_out += page.filtered_out
            for member in page.members:
                if member.get("message"):
                    with_message += 1
                uid = member["user_id"]
                at = index.get(uid)
                if at is None:
                    index[uid] = len(members)
                    members.append(member)
                else:
                    duplicates += 1
                    members[at] = member  # a later page has the fresher entry
            if on_page is not None:
                on_page(page, len(members))
    except NrpsNbError as exc:
        if pages == 0 and not members:
            raise
        raise IncompleteRoster(
            f"the roster fetch stopped after {pages} page(s) and {len(members)} members: {exc}",
            members=members,
            resume_url=current,
            cause=exc,
            pages=pages,
            url=url,
        ) from None
    warnings = list(dict.fromkeys(warnings))  # a caveat every page repeats is said once
    if duplicates:
        warnings.append(f"{duplicates} duplicate members across pages were merged by user_id")
    if filtered_out:
        warnings.append(
            f"the platform sent {filtered_out} member(s) without the role "
            f"{expand_role_filter(role)} (it ignored or dropped the role filter); nrps_nb "
            "left them out"
        )
    if rlid is not None and members and not with_message:
        warnings.append(
            f"{rlid_ignored_hint(family_of(platform.preset))}: no member carries a message "
            "section, so this is the whole course roster and has no custom_ columns"
        )
    return RosterResult(
        url=url,
        members=members,
        context=context,
        pages=pages,
        complete=True,
        differences_url=differences_url,
        warnings=warnings,
    )
