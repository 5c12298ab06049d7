"""The benchmark command runs in the test environment (tiny sizes): it must not rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_runs_and_reports_every_system(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "nrps_nb / lower" in result.stdout and "pylti1p3 / nrps_nb" in result.stdout
    data = json.loads(out.read_text())
    for row in data["rows"]:
        assert row["nrps_nb s"] > 0 and row["pylti1p3 s"] > 0 and row["lower bound s"] > 0
        assert row["tokens (lb/nrps_nb/pylti1p3)"] == "1/1/1"  # one token per platform and run
    assert data["memory"]["members"] > 0
