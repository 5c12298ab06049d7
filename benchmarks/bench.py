"""Side-by-side roster-fetch benchmarks: nrps_nb vs pylti1p3 vs a bare-httpx lower bound.

Run:  python benchmarks/bench.py            (full sizes, about a minute)
      python benchmarks/bench.py --quick    (small sizes, a smoke run)

Every system fetches the same pages from the same sandbox LMS, which runs in its own process
with injected latency, so the client processes are measured alone. Scenarios (issue 5):

  (a) one course of 20,000 members, 50 per page, 20 ms latency: sequential paging.
  (b) 300 courses of 40 members, 50 ms latency: many courses at once (median of 5 runs).
  (c) token requests per run (counted on the client side).
  (d) peak memory for 100,000 members, relative to the final DataFrame's deep memory usage.

The lower bound is what the network costs: bare httpx GETs of the same pages (and, for (b),
the same concurrency), with no parsing and no DataFrame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nrps_nb import Workspace  # noqa: E402
from nrps_nb import oauth as nrps_oauth  # noqa: E402

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ACCEPT = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


@dataclass
class Sandbox:
    proc: subprocess.Popen[str]
    info: dict[str, Any]
    urls: dict[str, str]

    def url(self, course: str) -> str:
        return self.urls[course]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=20)


def start_sandbox(
    courses: list[tuple[str, int]], latency: float, tool_jwk: dict[str, Any], profile: str
) -> Sandbox:
    """The sandbox LMS in a subprocess (so it does not share the GIL with the client).

    The timed scenarios use the Canvas profile: its next links (``page=N&per_page=50``) survive
    pylti1p3's lower-casing of the Link header, which breaks on case-sensitive cursors such as
    the plain sandbox's (see the README).
    """
    code = (
        "import json,sys,signal,threading\n"
        "from nrps_nb.sandbox import SandboxServer, SandboxConfig, CourseSpec\n"
        "a=json.loads(sys.argv[1])\n"
        "cs=tuple(CourseSpec(c,c,c,n) for c,n in a['courses'])\n"
        "s=SandboxServer(SandboxConfig(tool_jwk=a['jwk'],courses=cs,latency=a['latency'],"
        "profile=a['profile'],max_page_size=1000)).start()\n"
        "urls={c: s.memberships_url(c) for c,_ in a['courses']}\n"
        "print(json.dumps({'info': s.info(), 'urls': urls}),flush=True)\n"
        "ev=threading.Event(); signal.signal(signal.SIGTERM, lambda *_: ev.set()); ev.wait()\n"
        "s.stop()\n"
    )
    args = json.dumps({"courses": courses, "latency": latency, "jwk": tool_jwk, "profile": profile})
    proc = subprocess.Popen(
        [sys.executable, "-c", code, args], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    data = json.loads(proc.stdout.readline())
    return Sandbox(proc, data["info"], data["urls"])


# -- the lower bound -------------------------------------------------------------------------


def _assertion(ws: Workspace, info: dict[str, Any]) -> str:
    now = int(time.time())
    claims = {"iss": info["client_id"], "sub": info["client_id"],
              "aud": info.get("token_audience") or info["auth_token_url"],
              "iat": now, "exp": now + 300, "jti": os.urandom(8).hex()}  # fmt: skip
    return jwt.encode(claims, ws.key.private_key, algorithm="RS256", headers={"kid": ws.key.kid})


async def _bare_token(client: httpx.AsyncClient, ws: Workspace, info: dict[str, Any]) -> str:
    r = await client.post(info["auth_token_url"], data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _assertion(ws, info), "scope": NRPS_SCOPE})  # fmt: skip
    return str(r.json()["access_token"])


async def _bare_pages(client: httpx.AsyncClient, url: str, token: str) -> int:
    pages = 0
    next_url: str | None = url
    while next_url:
        r = await client.get(next_url, headers={"Authorization": f"Bearer {token}",
                                                "Accept": ACCEPT})  # fmt: skip
        pages += 1
        next_url = r.links.get("next", {}).get("url")
    return pages


def lower_bound(ws: Workspace, sb: Sandbox, urls: list[str], concurrency: int) -> tuple[float, int]:
    """Bare httpx at its fastest: ``concurrency`` workers, each with its own client.

    One shared ``AsyncClient`` with ``concurrency`` connections is much slower here (2.6-3.0 s
    instead of about 0.7 s for scenario (b)): httpcore rescans its whole pool whenever a request
    starts or ends. nrps_nb uses the same one-client-per-lane layout (``nrps_nb.http.Lanes``),
    so the lower bound does too.
    """

    tls = httpx.create_ssl_context()  # built once, outside the timing (it loads the CA bundle)

    async def main() -> None:
        clients = [httpx.AsyncClient(verify=tls) for _ in range(concurrency)]
        try:
            token = await _bare_token(clients[0], ws, sb.info)
            queue = list(reversed(urls))

            async def worker(client: httpx.AsyncClient) -> None:
                while queue:
                    await _bare_pages(client, queue.pop(), token)

            await asyncio.gather(*(worker(c) for c in clients))
        finally:
            for c in clients:
                await c.aclose()

    t0 = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - t0, 1


# -- pylti1p3, driven the way its docs show ---------------------------------------------------


def pylti1p3_fetch(ws: Workspace, sb: Sandbox, urls: list[str]) -> tuple[float, int]:
    import requests
    from cryptography.hazmat.primitives import serialization
    from pylti1p3.names_roles import NamesRolesProvisioningService
    from pylti1p3.registration import Registration
    from pylti1p3.service_connector import ServiceConnector

    pem = ws.key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()  # fmt: skip
    reg = (
        Registration()
        .set_issuer(sb.info["issuer"])
        .set_client_id(sb.info["client_id"])
        .set_auth_token_url(sb.info["auth_token_url"])
        .set_auth_login_url(sb.info["auth_login_url"])
        .set_key_set_url(sb.info["key_set_url"])
        .set_tool_private_key(pem)
        .set_tool_public_key(ws.tool_public_pem())
    )
    session = requests.Session()
    posts = 0
    original = session.post

    def counting_post(*args: Any, **kwargs: Any) -> Any:
        nonlocal posts
        posts += 1
        return original(*args, **kwargs)

    session.post = counting_post  # type: ignore[method-assign]
    connector = ServiceConnector(reg, requests_session=session)
    t0 = time.perf_counter()
    frames = []
    for url in urls:
        service = NamesRolesProvisioningService(
            connector, {"context_memberships_url": url, "service_versions": ["2.0"]}
        )
        frames.append(pd.DataFrame(service.get_members()))
    df = pd.concat(frames, ignore_index=True)
    elapsed = time.perf_counter() - t0
    assert len(df) > 0
    return elapsed, posts


# -- nrps_nb ------------------------------------------------------------------------------------


def nrps_nb_fetch(
    ws: Workspace, sb: Sandbox, urls: list[str], concurrency: int, limit: int | None
) -> tuple[float, int, pd.DataFrame]:
    nrps_oauth.clear_token_cache()
    before = nrps_oauth.token_request_count()
    t0 = time.perf_counter()
    if len(urls) == 1:
        df = ws.fetch_roster(urls[0], platform="sandbox", limit=limit)
    else:
        df = ws.fetch_rosters(urls, concurrency=concurrency, limit=limit)
    elapsed = time.perf_counter() - t0
    return elapsed, nrps_oauth.token_request_count() - before, df


# -- memory -------------------------------------------------------------------------------------


def memory_scenario(ws: Workspace, sb: Sandbox, url: str) -> dict[str, float]:
    nrps_oauth.clear_token_cache()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    df = ws.fetch_roster(url, platform="sandbox", limit=1000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    frame = float(df.memory_usage(deep=True).sum())
    return {"members": len(df), "frame_mb": frame / 2**20, "peak_mb": (peak - base) / 2**20,
            "ratio": (peak - base) / frame}  # fmt: skip


# -- the run ------------------------------------------------------------------------------------


def register(ws: Workspace, sb: Sandbox) -> None:
    info = sb.info
    if "sandbox" in {p.name for p in ws.store.list_platforms()}:
        ws.store.delete_platform("sandbox")
    ws.add_platform(
        "sandbox",
        issuer=info["issuer"],
        client_id=info["client_id"],
        auth_login_url=info["auth_login_url"],
        auth_token_url=info["auth_token_url"],
        token_audience=info.get("token_audience"),
        key_set_url=info["key_set_url"],
        deployment_ids=[info["deployment_id"]],
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5, help="runs of (b); the median counts")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    big, n_courses, huge = (
        (200, 8, 1_000)
        if args.smoke
        else (2_000, 60, 10_000)
        if args.quick
        else (20_000, 300, 100_000)
    )
    ws = Workspace(tempfile.mkdtemp(prefix="nrps_nb-bench-"))
    jwk = ws.tool_jwks()["keys"][0]
    rows: list[dict[str, Any]] = []

    # (a) one big course, sequential pages
    sb = start_sandbox([("big", big)], 0.020, jwk, "canvas")
    try:
        register(ws, sb)
        url = sb.url("big")
        lb, lb_tokens = lower_bound(ws, sb, [url + "?per_page=50"], 1)
        ours, ours_tokens, df = nrps_nb_fetch(ws, sb, [url], 1, 50)
        assert df.attrs["pages"] == math.ceil(len(df) / 50), (len(df), df.attrs["pages"])
        theirs, their_tokens = pylti1p3_fetch(ws, sb, [url + "?per_page=50"])
    finally:
        sb.stop()
    rows.append({"scenario": f"(a) 1 course x {big:,}, 50/page, 20 ms",
                 "lower bound s": lb, "nrps_nb s": ours, "pylti1p3 s": theirs,
                 "nrps_nb / lower": ours / lb, "pylti1p3 / lower": theirs / lb,
                 "pylti1p3 / nrps_nb": theirs / ours,
                 "tokens (lb/nrps_nb/pylti1p3)": f"{lb_tokens}/{ours_tokens}/{their_tokens}"})  # fmt: skip

    # (b) many small courses, concurrently
    courses = [(f"c{i:03d}", 40) for i in range(n_courses)]
    sb = start_sandbox(courses, 0.050, jwk, "canvas")
    try:
        register(ws, sb)
        urls = [sb.url(c) for c, _ in courses]
        for u in urls:
            ws.add_course(u, platform="sandbox")
        # Sub-second runs on a shared 2-core machine are noisy: each system runs --repeat times,
        # interleaved, and the median counts (token counts are per run).
        lbs, ourss, theirss = [], [], []
        for _ in range(args.repeat):
            lb, lb_tokens = lower_bound(ws, sb, urls, args.concurrency)
            ours, ours_tokens, df = nrps_nb_fetch(ws, sb, urls, args.concurrency, None)
            assert df.attrs["complete"] and len(df) > 30 * n_courses, len(df)
            theirs, their_tokens = pylti1p3_fetch(ws, sb, urls)
            lbs.append(lb)
            ourss.append(ours)
            theirss.append(theirs)
        lb, ours, theirs = (statistics.median(x) for x in (lbs, ourss, theirss))
    finally:
        sb.stop()
    ideal = math.ceil(n_courses / args.concurrency) * 0.050
    rows.append({"scenario": f"(b) {n_courses} courses x 40, 50 ms, concurrency {args.concurrency}"
                             f", median of {args.repeat}",
                 "lower bound s": lb, "nrps_nb s": ours, "pylti1p3 s": theirs,
                 "nrps_nb / lower": ours / lb, "pylti1p3 / lower": theirs / lb,
                 "pylti1p3 / nrps_nb": theirs / ours, "ideal s": ideal,
                 "nrps_nb / ideal": ours / ideal, "lower / ideal": lb / ideal,
                 "tokens (lb/nrps_nb/pylti1p3)": f"{lb_tokens}/{ours_tokens}/{their_tokens}"})  # fmt: skip

    # (d) memory for a very large course
    sb = start_sandbox([("huge", huge)], 0.0, jwk, "sandbox")
    try:
        register(ws, sb)
        mem = memory_scenario(ws, sb, sb.url("huge"))
    finally:
        sb.stop()

    table = pd.DataFrame(rows).set_index("scenario")
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.2f}".format):  # fmt: skip
        print(table.T.to_string())
    print(
        f"\n(d) memory, {mem['members']:,} members: DataFrame {mem['frame_mb']:.1f} MiB, "
        f"peak during fetch {mem['peak_mb']:.1f} MiB above baseline = {mem['ratio']:.2f}x"
    )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "memory": mem}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
