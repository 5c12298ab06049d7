"""Load: 500 launches from 50 concurrent clients against `nrps-nb serve` over loopback.

Every launch must be stored exactly once and claimed exactly once by a kernel that claims
while the launches arrive; no request may fail (no "database is locked" surfacing). The
latency figures are printed and written to test-artifacts/load.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from nrps_nb import Workspace
from nrps_nb.demo import _FormParser
from nrps_nb.sandbox import CourseSpec, SandboxConfig, SandboxServer

LAUNCHES = 500
CLIENTS = 50
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _one_launch(client: httpx.AsyncClient, url: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    page = await client.get(url)
    parser = _FormParser()
    parser.feed(page.text)
    action, _, fields = parser.forms[0]
    done = await client.post(action, data=fields)
    return done.status_code, time.perf_counter() - t0


def test_500_launches_from_50_clients(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    ws = Workspace(home)
    ws.init()
    port = _free_port()
    tool_url = f"http://127.0.0.1:{port}"
    course = CourseSpec("load", "Load Test", "LOAD 1", LAUNCHES + 20)
    with SandboxServer(SandboxConfig(tool_url=tool_url, courses=(course,))) as sandbox:
        info = sandbox.info()
        ws.add_platform("sandbox", preset="sandbox", base_url=info["issuer"],
                        client_id=info["client_id"], deployment_ids=[info["deployment_id"]])  # fmt: skip
        serve = subprocess.Popen(
            [sys.executable, "-m", "nrps_nb.cli", "serve", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NRPS_NB_HOME": str(home)},
        )  # fmt: skip
        try:
            assert serve.stdout is not None
            assert "launch receiver" in serve.stdout.readline()
            users = [
                m["user_id"] for m in sandbox.course_members("load") if m.get("status") == "Active"
            ][:LAUNCHES]
            assert len(users) == LAUNCHES

            claimed: list[int] = []
            stop = threading.Event()

            def kernel() -> None:  # claims while launches arrive, like capture_launch()
                reader = Workspace(home)
                while not stop.is_set() or len(claimed) < LAUNCHES:
                    row = reader.store.claim_launch(since=0)
                    if row is None:
                        if stop.is_set():
                            break
                        time.sleep(0.01)
                        continue
                    claimed.append(row["id"])

            claimer = threading.Thread(target=kernel)
            claimer.start()

            async def load() -> list[tuple[int, float]]:
                gate = asyncio.Semaphore(CLIENTS)
                limits = httpx.Limits(max_connections=CLIENTS * 2)
                async with httpx.AsyncClient(follow_redirects=True, timeout=60, limits=limits) as c:

                    async def run(user: str) -> tuple[int, float]:
                        async with gate:
                            return await _one_launch(c, sandbox.launch_url("load", user))

                    return await asyncio.gather(*(run(u) for u in users))

            t0 = time.perf_counter()
            results = asyncio.run(load())
            wall = time.perf_counter() - t0
            stop.set()
            claimer.join(timeout=60)
        finally:
            serve.send_signal(signal.SIGTERM)
            _out, err = serve.communicate(timeout=30)

    statuses = [s for s, _ in results]
    latencies = sorted(t for _, t in results)
    launches = ws.launches()
    figures = {
        "launches": LAUNCHES,
        "clients": CLIENTS,
        "wall_s": round(wall, 2),
        "throughput_per_s": round(LAUNCHES / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
        "stored": len(launches),
        "claimed": len(claimed),
    }
    print("\nload:", json.dumps(figures))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(figures, indent=1))
    assert statuses == [200] * LAUNCHES
    assert len(launches) == LAUNCHES
    assert (
        sorted(launches["user"])
        == sorted(m["name"] for m in sandbox.course_members("load") if m["user_id"] in set(users))
        or launches["launch_id"].is_unique
    )
    assert sorted(claimed) == sorted(launches["launch_id"].tolist())  # each claimed exactly once
    assert "locked" not in err.lower() and "Traceback" not in err
