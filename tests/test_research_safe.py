"""Research-safe data: pseudonymized frames and their exports hold no identifier of the source
roster (DESIGN §5); exports in every format (Parquet with and without pyarrow); progress bars;
rich display that never shows a secret.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nrps_nb
from nrps_nb import Platform, Workspace
from nrps_nb.demo import drive_launch
from nrps_nb.export import write_frame
from nrps_nb.frames import PSEUDONYMIZED_COLUMNS
from nrps_nb.sandbox import SandboxServer

IDENTIFYING = (
    "user_id",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "email",
    "picture",
    "lis_person_sourcedid",
    "lti11_legacy_user_id",
)


def identifiers(members: list[dict[str, Any]]) -> set[str]:
    """Every identifying value of a source roster (names also split into their parts)."""
    found: set[str] = set()
    for m in members:
        for key in IDENTIFYING:
            value = m.get(key)
            if isinstance(value, str) and value:
                found.add(value)
                if key == "email":
                    found.add(value.split("@")[0])  # the local part alone identifies too
    return found


def leaks(text: str, secrets: set[str]) -> list[str]:
    """The identifiers found in ``text``: ids anywhere, name parts as whole words."""
    hits = []
    for value in secrets:
        if " " not in value and value.isalpha():  # a one-word name part: whole words only
            if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text):
                hits.append(value)
        elif value in text:
            hits.append(value)
    return hits


@pytest.fixture
def launched(ws: Workspace, sandbox: SandboxServer, platform: Platform) -> nrps_nb.Launch:
    drive_launch(sandbox.launch_url("intro-stats"))
    return ws.capture_launch(timeout=10)


def test_pseudonymized_frame_and_its_exports_hold_no_identifier(
    ws: Workspace, sandbox: SandboxServer, launched: nrps_nb.Launch, tmp_path: Path
) -> None:
    source = sandbox.course_members("intro-stats")
    secrets = identifiers(source)
    assert len(secrets) > 1000  # the scan looks for something real
    full = ws.fetch_roster(launched)
    # The scan finds identifiers where they are: in the ordinary frame and its CSV.
    assert leaks(full.to_csv(), secrets)

    df = ws.fetch_roster(launched, pseudonymize=True)
    assert list(df.columns) == [c for c in PSEUDONYMIZED_COLUMNS if c in full.columns]
    assert len(df) == len(source) and df["user_id"].is_unique
    assert df["user_id"].str.fullmatch(r"[0-9a-f]{32}").all()
    # Stable within the workspace (the key is kept there), so frames can be joined over time.
    again = ws.fetch_roster(launched, pseudonymize=True)
    assert list(again["user_id"]) == list(df["user_id"])
    # ... and different in another workspace.
    other = Workspace(tmp_path / "other").pseudonym_key()
    assert other != ws.pseudonym_key()

    cells = "\n".join(str(v) for row in df.itertuples(index=False) for v in row)
    assert leaks(cells, secrets) == []
    assert leaks(json.dumps(df.attrs, default=str), secrets) == []
    for suffix in (".csv", ".json"):
        path = write_frame(df, tmp_path / f"pseudo{suffix}")
        assert leaks(path.read_text(encoding="utf-8"), secrets) == [], suffix
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = write_frame(df, tmp_path / "pseudo.parquet")
    table = pq.read_table(path)
    values = "\n".join(str(v) for column in table.to_pydict().values() for v in column)
    metadata = json.dumps(
        {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    )
    assert leaks(values, secrets) == []
    assert leaks(metadata, secrets) == []
    assert len(table) == len(df)


def test_pseudonymize_on_every_fetch_function(
    ws: Workspace, sandbox: SandboxServer, launched: nrps_nb.Launch, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.setenv("NRPS_NB_HOME", str(ws.home))
    secrets = identifiers(sandbox.course_members("intro-stats"))
    frames = {
        "fetch_roster": nrps_nb.fetch_roster(launched, pseudonymize=True),
        "afetch_roster": asyncio.run(nrps_nb.afetch_roster(launched, pseudonymize=True)),
        "fetch_rosters": nrps_nb.fetch_rosters([launched.course], pseudonymize=True),
        "afetch_rosters": asyncio.run(nrps_nb.afetch_rosters(nrps_nb.courses(), pseudonymize=True)),
    }
    for name, df in frames.items():
        assert set(df.columns) <= set(PSEUDONYMIZED_COLUMNS), name
        assert leaks(df.to_csv(), secrets) == [], name
    # No course fetched: still the pseudonymized columns.
    empty = nrps_nb.fetch_rosters([], pseudonymize=True)
    assert set(empty.columns) <= set(PSEUDONYMIZED_COLUMNS)


def test_cli_pseudonymize_output_holds_no_identifier(
    ws: Workspace, sandbox: SandboxServer, launched: nrps_nb.Launch, tmp_path: Path
) -> None:
    out = tmp_path / "cli.csv"
    result = subprocess.run(
        [sys.executable, "-m", "nrps_nb.cli", "roster", "--platform", "sandbox", "--all",
         "--pseudonymize", "--output", str(out)],
        env={**os.environ, "NRPS_NB_HOME": str(ws.home)}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    secrets = identifiers(sandbox.course_members("intro-stats"))
    assert leaks(out.read_text(encoding="utf-8"), secrets) == []
    assert leaks(result.stdout + result.stderr, secrets) == []
    assert len(pd.read_csv(out)) == len(sandbox.course_members("intro-stats"))


# -- Parquet: an optional extra ----------------------------------------------------------------


def small_frame() -> pd.DataFrame:
    from nrps_nb.frames import members_to_frame

    df = members_to_frame(
        [{"user_id": "u1", "name": "Ada", "roles": ["Learner"]}], platform="p", issuer="https://i"
    )
    df.attrs["pages"] = 1
    return df


def test_parquet_with_pyarrow(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    df = small_frame()
    path = write_frame(df, tmp_path / "r.parquet")
    back = pd.read_parquet(path)
    assert list(back["user_id"]) == ["u1"]
    assert list(back["roles"].iloc[0]) == [
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
    ]


def test_parquet_without_pyarrow_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    with pytest.raises(nrps_nb.ConfigError) as info:
        write_frame(small_frame(), tmp_path / "r.parquet")
    assert "pip install 'nrps_nb[parquet]'" in str(info.value)
    assert not list(tmp_path.iterdir())  # no partial file left behind
    write_frame(small_frame(), tmp_path / "r.csv")  # the other formats still work


def test_picker_parquet_button_without_pyarrow(
    ws: Workspace, sandbox: SandboxServer, launched: nrps_nb.Launch, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import asyncio
    import importlib.util

    if importlib.util.find_spec("pyarrow") is not None:
        import pyarrow  # noqa: F401 - imported before it is hidden, so it can come back

    from nrps_nb.widgets import RosterPicker

    picker = RosterPicker(ws, export_dir=tmp_path)

    async def fetch() -> object:
        return await picker.fetch()

    assert asyncio.run(fetch()) is not None
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "pyarrow", None)  # as if the extra were not installed
        picker.parquet_button.click()
    assert "pip install &#x27;nrps_nb[parquet]&#x27;" in picker.export_status.value
    assert "✗" in picker.export_status.value
    pytest.importorskip("pyarrow")
    picker.parquet_button.click()
    assert "wrote" in picker.export_status.value
    assert picker.df is not None
    assert len(pd.read_parquet(tmp_path / "roster-STAT-101.parquet")) == len(picker.df)


def test_unknown_export_format(tmp_path: Path) -> None:
    with pytest.raises(nrps_nb.ConfigError, match=r"\.csv, \.json, \.parquet"):
        write_frame(small_frame(), tmp_path / "r.xlsx")


# -- progress bars -----------------------------------------------------------------------------


def test_progress_bar_from_plain_code(
    ws: Workspace, launched: nrps_nb.Launch, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.fetch_roster(launched)  # progress=None: stderr is no terminal here, so no bar
    assert capsys.readouterr().err == ""
    df = ws.fetch_roster(launched, progress=True)
    err = capsys.readouterr().err
    assert "STAT 101" in err and f"{len(df)}" in err and "page 3, done" in err
    ws.fetch_rosters(ws.courses(), progress=True)
    err = capsys.readouterr().err
    assert "rosters" in err and "1/1" in err and f"{len(df)} members" in err


def test_progress_bar_in_the_cli_on_a_terminal(
    ws: Workspace, launched: nrps_nb.Launch, tmp_path: Path
) -> None:
    """On a terminal `nrps-nb roster` shows a bar on stderr; piped (cron) it shows none."""
    out = tmp_path / "r.csv"
    args = [sys.executable, "-m", "nrps_nb.cli", "roster", "--platform", "sandbox", "--all",
            "--output", str(out)]  # fmt: skip
    env = {**os.environ, "NRPS_NB_HOME": str(ws.home)}
    piped = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert piped.returncode == 0 and "members/s" not in piped.stderr
    leader, follower = pty.openpty()
    # A fresh pty is 0 columns wide, and tqdm fits its bar into that: give it a real size.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        proc = subprocess.run(
            args, env=env, stderr=follower, stdout=subprocess.DEVNULL, timeout=120, check=False
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, text
    assert "STAT 101" in text and "250" in text and "page 3, done" in text and "wrote" in text


# -- rich display ------------------------------------------------------------------------------


def test_rich_display_never_shows_a_secret(
    ws: Workspace, launched: nrps_nb.Launch
) -> None:  # fmt: skip
    assert "no tool key yet" in ws._repr_html_()  # showing a workspace creates nothing
    assert not ws.key_path.exists()
    ws.init()
    html = "".join(
        [
            ws._repr_html_(),
            ws.platform("sandbox")._repr_html_(),
            launched._repr_html_(),
            launched.course._repr_html_() if launched.course else "",
            ws.platforms()._repr_html_() or "",
            ws.courses()._repr_html_() or "",
            ws.launches()._repr_html_() or "",
        ]
    )
    assert "PRIVATE KEY" not in html
    for line in ws.key_path.read_text().splitlines()[1:-1]:  # the private key's base64 lines
        assert line not in html
    assert ws.key.kid in html  # the key id is public, and useful
    assert "Introduction to Statistics (STAT 101)" in html
    assert "1 launch(es), 0 unclaimed" in html


def test_pseudonyms_join_the_same_person_across_courses(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    """Stable within a workspace: a person in two courses has one pseudonym in both, and
    different people have different pseudonyms (the sandbox's campus people take several
    courses)."""
    urls = [sandbox.memberships_url(c) for c in ("intro-stats", "seminar", "big-lecture")]
    plain = ws.fetch_rosters(urls, platform="sandbox")
    pseudo = ws.fetch_rosters(urls, platform="sandbox", pseudonymize=True)
    assert (plain["context_id"].tolist(), len(plain)) == (pseudo["context_id"].tolist(), 3258)
    pairs = set(zip(plain["user_id"], pseudo["user_id"], strict=True))
    assert len({p for p, _ in pairs}) == len({q for _, q in pairs}) == len(pairs)  # one-to-one
    courses = pseudo.groupby("user_id")["context_id"].nunique()
    # 3 people take all three courses, 37 two of them, everyone else one.
    assert courses.value_counts().to_dict() == {1: 3258 - 3 * 3 - 37 * 2, 2: 37, 3: 3}
