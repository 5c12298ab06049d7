"""The shared HTTP layer: one httpx.AsyncClient per event loop, the sync facade, URLs, Links.

* ``get_client()``: the loop's client, with timeouts, a User-Agent and TLS verification on
  (or, inside ``client_lanes()``, the lane the current task holds).
* ``run_sync(coro)``: run a coroutine from sync code, on this thread when no loop runs, and on
  a private background loop inside Jupyter (ipykernel already runs one; never ``asyncio.run``
  there, never nest_asyncio).
* ``parse_link_header()``: RFC 8288 Link parsing that keeps URLs verbatim (httpx's
  ``Response.links`` mishandles ``;`` inside ``<...>``, multi-valued ``rel`` and Moodle's
  ``URL;rel=next``).
* ``merge_query()``: add query parameters to a URL that may already carry a query.

Example::

    >>> [(l.url, l.rels) for l in parse_link_header('<https://x/a?p=2>; rel="next last"')]
    [('https://x/a?p=2', ('next', 'last'))]
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import email.utils
import functools
import ssl
import threading
import time
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote_plus, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from . import __about__
from .errors import BadResponse, ConfigError, ServiceUnavailable
from .registry import check_url

__all__ = [
    "USER_AGENT",
    "Lanes",
    "Link",
    "client_lanes",
    "get_client",
    "CachedJson",
    "cache_lifetime",
    "get_json",
    "get_json_cached",
    "seconds_until",
    "links_by_rel",
    "merge_query",
    "parse_link_header",
    "run_sync",
    "same_origin",
]

T = TypeVar("T")

USER_AGENT = f"nrps_nb/{__about__.__version__} httpx/{httpx.__version__}"
# Read when a loop's client is created: tests that need a short timeout (a hanging platform)
# may monkeypatch ``nrps_nb.http.TIMEOUT`` before the fetch (the sync API makes a new client
# for every call; inside a running loop, call ``close_client()`` first).
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Keep as many idle connections as may be open: with fewer, concurrent course fetches would
# churn through new TCP (and TLS) connections.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)
_clients_lock = threading.Lock()
# The client a task of ``client_lanes()`` holds (None: the loop's shared client).
_lane: contextvars.ContextVar[httpx.AsyncClient | None] = contextvars.ContextVar(
    "nrps_nb_lane", default=None
)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi, or SSL_CERT_FILE/DIR), built once.

    Building it loads the CA bundle, about 50 ms; every client of the process shares it.
    """
    return httpx.create_ssl_context(verify=True)


def _new_client(limits: httpx.Limits) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=TIMEOUT,
        limits=limits,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        verify=_tls_context(),
    )


def get_client() -> httpx.AsyncClient:
    """The httpx client of the running event loop (a client cannot be shared between loops).

    Inside :func:`client_lanes`, the lane client the current task holds.
    """
    lane = _lane.get()
    if lane is not None and not lane.is_closed:
        return lane
    loop = asyncio.get_running_loop()
    with _clients_lock:
        client = _clients.get(loop)
        if client is None or client.is_closed:
            client = _new_client(LIMITS)
            _clients[loop] = client
    return client


class Lanes:
    """``n`` small clients handed out one per task: see :func:`client_lanes`."""

    def __init__(self, n: int) -> None:
        self._free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        self._all: list[httpx.AsyncClient] = []
        self._n = n

    @contextlib.asynccontextmanager
    async def lane(self) -> AsyncIterator[httpx.AsyncClient]:
        """Hold a lane for the duration of the block; ``get_client()`` returns it there."""
        if self._free.empty() and len(self._all) < self._n:
            # A few connections each: a lane's course pages and, now and then, a token request
            # to another host (Canvas's sso.canvaslms.com), without closing the page connection.
            client = _new_client(httpx.Limits(max_connections=4, max_keepalive_connections=4))
            self._all.append(client)
        else:
            client = await self._free.get()
        token = _lane.set(client)
        try:
            yield client
        finally:
            _lane.reset(token)
            self._free.put_nowait(client)

    async def aclose(self) -> None:
        for client in self._all:
            await client.aclose()


@contextlib.asynccontextmanager
async def client_lanes(n: int) -> AsyncIterator[Lanes]:
    """At most ``n`` concurrent tasks, each with its own keep-alive client while it runs.

    httpcore's connection pool rescans every connection and waiting request whenever a request
    starts or ends, so one shared pool of 32 busy connections spends more time in that
    bookkeeping than on the network (300 one-page courses over 50 ms loopback: 2.9 s through one
    pool, 0.7 s through 32 lanes). A lane is a small pool of its own; holding one also bounds
    the concurrency, like a semaphore.

    >>> async with client_lanes(8) as lanes:                        # doctest: +SKIP
    ...     async with lanes.lane():
    ...         response = await get_client().get(url)
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    lanes = Lanes(n)
    try:
        yield lanes
    finally:
        await lanes.aclose()


async def close_client() -> None:
    """Close the running loop's client (called when a sync-facade loop ends)."""
    loop = asyncio.get_running_loop()
    with _clients_lock:
        client = _clients.pop(loop, None)
    if client is not None:
        await client.aclose()


# -- sync facade -------------------------------------------------------------------------------

_bg_loop: asyncio.AbstractEventLoop | None = None
_bg_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _bg_loop
    with _bg_lock:
        if _bg_loop is None or _bg_loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="nrps_nb-loop", daemon=True)
            thread.start()
            _bg_loop = loop
            atexit.register(_stop_background_loop, loop, thread)
        return _bg_loop


def _stop_background_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if loop.is_closed():
        return
    with contextlib.suppress(Exception):  # best effort at interpreter exit
        asyncio.run_coroutine_threadsafe(close_client(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)


async def _run_and_close(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return await coro
    finally:
        await close_client()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, inside Jupyter or not."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_run_and_close(coro))
    # A loop already runs on this thread (ipykernel): hand the work to our own loop.
    future = asyncio.run_coroutine_threadsafe(coro, _background_loop())
    return future.result()


# -- URLs ----------------------------------------------------------------------------------------


def merge_query(url: str, params: Mapping[str, str | int | None]) -> str:
    """Add ``params`` to ``url``'s query, keeping every existing parameter as it was.

    A parameter given here replaces one of the same name already in the URL; ``None`` values
    are left out. The rest of the URL is kept byte for byte.

    >>> merge_query("https://m/memberships?ctx=44", {"limit": 50})
    'https://m/memberships?ctx=44&limit=50'
    """
    add = {k: str(v) for k, v in params.items() if v is not None}
    if not add:
        return url
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and unquote_plus(p.split("=", 1)[0]) not in add]
    query = "&".join([*kept, urlencode(add)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def same_origin(a: str, b: str) -> bool:
    """True when both URLs have the same scheme, host and port."""
    pa, pb = urlsplit(a), urlsplit(b)
    try:
        port_a = pa.port or {"http": 80, "https": 443}.get(pa.scheme)
        port_b = pb.port or {"http": 80, "https": 443}.get(pb.scheme)
    except ValueError:
        return False
    return (pa.scheme, (pa.hostname or "").lower(), port_a) == (
        pb.scheme,
        (pb.hostname or "").lower(),
        port_b,
    )


# -- Link header ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One link of a Link header: the target URL (verbatim) and its relation types."""

    url: str
    rels: tuple[str, ...]
    params: dict[str, str] = field(default_factory=dict, compare=False)


_WS = " \t\r\n"


def _parse_one(s: str) -> list[Link]:
    links: list[Link] = []
    i, n = 0, len(s)
    while i < n:
        while i < n and (s[i] in _WS or s[i] == ","):
            i += 1
        if i >= n:
            break
        if s[i] == "<":
            end = s.find(">", i + 1)
            if end < 0:
                break  # unterminated target: nothing usable follows
            url = s[i + 1 : end].strip()
            i = end + 1
        else:
            # Moodle's bare form: URL;rel=next (no angle brackets). The URL ends at the first ";".
            end = i
            while end < n and s[end] != ";":
                end += 1
            url = s[i:end].strip()
            i = end
        params: dict[str, str] = {}
        while True:
            while i < n and s[i] in _WS:
                i += 1
            if i >= n or s[i] != ";":
                break
            i += 1
            while i < n and s[i] in _WS:
                i += 1
            start = i
            while i < n and s[i] not in "=;," + _WS:
                i += 1
            name = s[start:i].lower()
            while i < n and s[i] in _WS:
                i += 1
            value = ""
            if i < n and s[i] == "=":
                i += 1
                while i < n and s[i] in _WS:
                    i += 1
                if i < n and s[i] == '"':
                    i += 1
                    buf: list[str] = []
                    while i < n and s[i] != '"':
                        if s[i] == "\\" and i + 1 < n:
                            i += 1
                        buf.append(s[i])
                        i += 1
                    i += 1  # closing quote (or end)
                    value = "".join(buf)
                else:
                    start = i
                    while i < n and s[i] not in ";,":
                        i += 1
                    value = s[start:i].strip()
            if name and name not in params:  # RFC 8288: the first occurrence of rel counts
                params[name] = value
        # Skip anything unexpected up to the next link.
        while i < n and s[i] != ",":
            i += 1
        rels = tuple(r.lower() for r in params.get("rel", "").split() if r)
        if url and rels and "anchor" not in params:
            links.append(Link(url=url, rels=rels, params=params))
    return links


def parse_link_header(
    values: str | Iterable[str] | None, base_url: str | None = None
) -> list[Link]:
    """Parse one or several Link header values; relative targets resolve against base_url."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[Link] = []
    for value in values:
        if not isinstance(value, str):
            continue
        for link in _parse_one(value):
            url = link.url
            if base_url is not None and not urlsplit(url).scheme:
                url = urljoin(base_url, url)
            out.append(Link(url=url, rels=link.rels, params=link.params))
    return out


def links_by_rel(values: str | Iterable[str] | None, base_url: str | None = None) -> dict[str, str]:
    """The first target URL of each relation type."""
    found: dict[str, str] = {}
    for link in parse_link_header(values, base_url):
        for rel in link.rels:
            found.setdefault(rel, link.url)
    return found


# -- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedJson:
    """A JSON document and how long HTTP caching lets it be reused (None: the answer says not)."""

    data: Any
    max_age: float | None


def cache_lifetime(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds a response may be reused: ``Cache-Control`` max-age, else ``Expires``; 0 for
    no-store / no-cache; None when the response says nothing.

    >>> cache_lifetime(httpx.Headers({"Cache-Control": "public, max-age=600"}))
    600.0
    """
    directives = {}
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    if "max-age" in directives:
        try:
            return max(0.0, float(int(directives["max-age"])))
        except ValueError:
            return None
    expires = headers.get("expires")
    if expires:
        left = seconds_until(expires, now)
        return 0.0 if left is None else left  # an invalid Expires: already expired (RFC 9111)
    return None


def seconds_until(http_date: str, now: float | None = None) -> float | None:
    """Seconds from ``now`` to an HTTP date (0 when past); None when it is not one.

    >>> seconds_until("Thu, 01 Jan 1970 00:01:40 GMT", now=0.0)
    100.0
    """
    try:
        when = email.utils.parsedate_to_datetime(http_date.strip()).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


async def get_json(url: str, *, allow_insecure_http: bool = False) -> Any:
    """GET a JSON document (a platform key set, a configuration); errors are nrps_nb's own."""
    return (await get_json_cached(url, allow_insecure_http=allow_insecure_http)).data


async def get_json_cached(url: str, *, allow_insecure_http: bool = False) -> CachedJson:
    """:func:`get_json`, with the lifetime the response's caching headers give it."""
    check_url(url, what="URL", allow_insecure_http=allow_insecure_http)
    try:
        response = await get_client().get(url, headers={"Accept": "application/json"})
    except httpx.TimeoutException:
        raise ServiceUnavailable(f"{url} did not answer in time", url=url) from None
    except httpx.InvalidURL as exc:
        raise ConfigError(f"invalid URL {url!r}: {exc}") from None
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            f"cannot reach {url}: {type(exc).__name__}: {exc}", url=url
        ) from None
    if response.status_code != 200:
        raise BadResponse(
            f"{url} answered HTTP {response.status_code}", url=url, status=response.status_code
        )
    try:
        data = response.json()
    except ValueError:
        ctype = response.headers.get("content-type", "?")
        raise BadResponse(f"{url} did not answer JSON (Content-Type {ctype})", url=url) from None
    return CachedJson(data, cache_lifetime(response.headers))
