"""Many courses at once (fetch_rosters / `nrps-nb roster --all`) against the sandbox over loopback."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import sqlite3
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from nrps_nb import ConfigError, NrpsNbError, Workspace, history, http
from nrps_nb.http import client_lanes, get_client
from nrps_nb.sandbox import CourseSpec, SandboxConfig, SandboxServer
from nrps_nb.server import ReceiverServer

from .helpers import Scripted, add_scripted_platform, respond, scripted_server

COURSES = tuple(CourseSpec(f"c{i:02d}", f"Course {i}", f"C{i:02d}", 3 + i) for i in range(12))


@pytest.fixture
def lms(ws: Workspace, receiver: ReceiverServer) -> Iterator[SandboxServer]:
    config = SandboxConfig(tool_url=receiver.base_url, courses=COURSES, latency=0.05)
    with SandboxServer(config) as server:
        info = server.info()
        ws.add_platform("sandbox", preset="sandbox", base_url=info["issuer"],
                        client_id=info["client_id"], deployment_ids=[info["deployment_id"]])  # fmt: skip
        yield server


def urls(server: SandboxServer) -> list[str]:
    return [server.memberships_url(c.course_id) for c in COURSES]


def test_one_frame_bounded_concurrency_one_token(ws: Workspace, lms: SandboxServer) -> None:
    df = ws.fetch_rosters(urls(lms), concurrency=3, progress=False)
    stats = lms.stats
    # At most 3 requests at once, and really several at once (12 courses, 50 ms each).
    assert 2 <= stats["nrps_max_in_flight"] <= 3, stats
    assert stats["token_requests"] == 1
    assert stats["nrps_requests"] == len(COURSES)  # each course fits one (largest) page
    assert len(df) == sum(c.size for c in COURSES)
    assert df.attrs["complete"] is True
    status = df.attrs["status"]
    assert status["ok"].all() and status["members"].tolist() == [c.size for c in COURSES]

    with ws.store.transaction() as con:  # every course got its snapshot (saved in batches)
        counted = con.execute("SELECT course_id, members FROM snapshots ORDER BY course_id")
        snaps = [tuple(r) for r in counted.fetchall()]
    assert sorted(n for _, n in snaps) == sorted(c.size for c in COURSES)
    assert len({cid for cid, _ in snaps}) == len(COURSES)

    # The one frame is exactly the single-course frames end to end (same rows, order, dtypes).
    singles = pd.concat([ws.fetch_roster(u, progress=False) for u in urls(lms)], ignore_index=True)
    pd.testing.assert_frame_equal(df.drop(columns="fetched_at"),
                                  singles.drop(columns="fetched_at"))  # fmt: skip
    assert str(df["fetched_at"].dtype) == "datetime64[us, UTC]"
    for course in COURSES:
        rows = df[df["context_label"] == course.label]
        expected = [str(m["user_id"]) for m in lms.course_members(course.course_id)]
        assert sorted(rows["user_id"].tolist()) == sorted(expected)
        assert set(rows["context_title"]) == {course.title}


def test_a_failing_course_keeps_the_others(ws: Workspace, lms: SandboxServer) -> None:
    bad = lms.memberships_url("c00").replace("/c00/", "/no-such-course/")
    assert bad != lms.memberships_url("c00")
    seen: dict[str, pd.DataFrame | NrpsNbError] = {}
    df = asyncio.run(
        ws.afetch_rosters(
            [*urls(lms)[:4], bad],
            concurrency=2,
            progress=False,
            on_course=lambda c, r: seen.__setitem__(c.context_memberships_url, r),
        )
    )
    assert df.attrs["complete"] is False
    status = df.attrs["status"].set_index("memberships_url")
    assert not status.loc[bad, "ok"] and "404" in status.loc[bad, "error"]
    assert status.loc[bad, "error"].startswith("BadResponse")
    assert len(df) == sum(c.size for c in COURSES[:4])  # nothing fetched is lost
    # on_course gets each course's own frame (with its attrs) or its error.
    assert isinstance(seen[bad], NrpsNbError)
    first = seen[urls(lms)[0]]
    assert isinstance(first, pd.DataFrame) and len(first) == COURSES[0].size
    assert first.attrs["memberships_url"] == urls(lms)[0]


def _two_courses_one_breaks_midway() -> Scripted:
    """/a: one complete page; /b: a page (with its context), then page 2 fails once (400)."""
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t", "expires_in": 3600}))
    script.add("/a", respond(200, {"members": [{"user_id": "a1", "name": "Ann"}]}))
    script.add("/b", respond(200, {"context": {"id": "ctx-b", "label": "BIO 2"},
                                   "members": [{"user_id": "b1", "name": "Bea"}]},
                             {"Link": '</b2>; rel="next"'}))  # fmt: skip
    script.add("/b2", respond(400, {"error": "broken page"}),
               respond(200, {"members": [{"user_id": "b2", "name": "Bo"}]}))  # fmt: skip
    return script


@pytest.mark.parametrize("pseudonymize", [False, True])
def test_a_course_that_fails_midway_keeps_what_it_fetched(
    tmp_path: Path, pseudonymize: bool
) -> None:
    """Not in the frame of complete rosters, but not lost: attrs["incomplete"] has its members
    so far as a frame with provenance, and resumes it."""
    ws = Workspace(tmp_path / "ws")
    with scripted_server(_two_courses_one_breaks_midway()) as server:
        add_scripted_platform(ws, server)
        a, b = server.base_url + "/a", server.base_url + "/b"
        df = ws.fetch_rosters([a, b], platform="lms", pseudonymize=pseudonymize, progress=False)
        assert len(df) == 1 and not df.attrs["complete"]
        status = df.attrs["status"].set_index("memberships_url")
        assert status.loc[b, "members"] == 1 and status.loc[b, "pages"] == 1
        assert not status.loc[b, "ok"] and "400" in status.loc[b, "error"]
        (course_id, partial), *_ = df.attrs["incomplete"].items()
        assert course_id == status.loc[b, "course_id"]
        frame = partial.frame
        assert len(frame) == 1 and frame.attrs["complete"] is False
        # Pseudonymized, the raw members are not kept (attrs travel into pickles too), so a
        # resume starts over; otherwise it continues at page 2.
        resume_at = None if pseudonymize else server.base_url + "/b2"
        assert frame.attrs["resume_url"] == partial.resume_url == resume_at
        assert (b"Bea" in pickle.dumps(df)) is not pseudonymize
        assert frame["context_label"].tolist() == ["BIO 2"]
        assert frame["platform"].tolist() == ["lms"]
        assert ("name" in frame.columns) is not pseudonymize
        if pseudonymize:
            assert "b1" not in set(frame["user_id"])
        # pandas deep-copies attrs on every operation: that must work, and stay cheap.
        assert df.head().attrs["incomplete"][course_id] is partial
        resumed = ws.fetch_roster(course_id, resume=partial, pseudonymize=pseudonymize)
        assert len(resumed) == 2 and resumed.attrs["complete"]


def test_pseudonymized_many_courses(ws: Workspace, lms: SandboxServer) -> None:
    df = ws.fetch_rosters(urls(lms)[:3], pseudonymize=True, progress=False)
    assert "name" not in df.columns and "email" not in df.columns
    real = {str(m["user_id"]) for c in COURSES[:3] for m in lms.course_members(c.course_id)}
    assert len(df) == len(real) and not real & set(df["user_id"])


def test_concurrency_must_be_positive(ws: Workspace, lms: SandboxServer) -> None:
    with pytest.raises(ConfigError, match="concurrency"):
        ws.fetch_rosters(urls(lms), concurrency=0)


def test_cli_all_courses_with_concurrency(
    ws: Workspace, lms: SandboxServer, tmp_path: Path
) -> None:
    for u in urls(lms):
        ws.add_course(u, platform="sandbox")
    out = tmp_path / "all.json"
    result = subprocess.run(
        [sys.executable, "-m", "nrps_nb.cli", "roster", "--platform", "sandbox", "--all",
         "--concurrency", "2", "--output", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "NRPS_NB_HOME": str(ws.home)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert len(rows) == sum(c.size for c in COURSES)
    assert {r["context_label"] for r in rows} == {c.label for c in COURSES}
    assert lms.stats["nrps_max_in_flight"] <= 2


def test_lanes_hand_out_their_own_verifying_clients() -> None:
    async def main() -> None:
        shared = get_client()
        async with client_lanes(2) as lanes:
            async with lanes.lane() as a, lanes.lane() as b:
                assert a is not b and get_client() is b  # the innermost lane holds
            async with lanes.lane() as again:
                assert again in (a, b)  # lanes are reused, never more than 2
                assert get_client() is again
        assert get_client() is shared and a.is_closed and b.is_closed
        await shared.aclose()

    asyncio.run(main())
    tls = http._tls_context()
    assert tls.verify_mode == ssl.CERT_REQUIRED and tls.check_hostname


def test_a_new_url_that_yields_nothing_is_not_kept(ws: Workspace, lms: SandboxServer) -> None:
    good = urls(lms)[0]
    typo = good.replace("/c00/", "/c0o/")
    known = ws.add_course(urls(lms)[1].replace("/c01/", "/gone/"), platform="sandbox")
    df = ws.fetch_rosters([good, typo, known.id], platform="sandbox", progress=False)
    status = df.attrs["status"]
    assert status["ok"].tolist() == [True, False, False]
    assert pd.isna(status["course_id"][1]) and status["course_id"][2] == known.id
    kept = set(ws.courses()["memberships_url"])
    assert good in kept and typo not in kept  # the new typo is forgotten ...
    assert known.context_memberships_url in kept  # ... a course added on purpose is not
    with pytest.raises(NrpsNbError, match="404"):
        ws.fetch_roster(typo, platform="sandbox")
    assert typo not in set(ws.courses()["memberships_url"])
    ws.remove_course(known.id)
    assert known.context_memberships_url not in set(ws.courses()["memberships_url"])


@pytest.mark.parametrize("text", ["htp:/127.0.0.1:8766/x", "127.0.0.1/api/lti/courses/1"])
def test_a_malformed_url_is_called_so(ws: Workspace, lms: SandboxServer, text: str) -> None:
    with pytest.raises(ConfigError, match=r"is not a memberships URL.*https://"):
        ws.fetch_roster(text, platform="sandbox")
    with pytest.raises(ConfigError, match="no known course has context id 'STAT'"):
        ws.fetch_roster("STAT", platform="sandbox")


def test_a_workspace_that_cannot_store_snapshots_still_returns_the_roster(
    ws: Workspace, lms: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:  # a full disk is hard to arrange
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(history, "record_snapshot", disk_full)
    with pytest.warns(RuntimeWarning, match="not recorded as a snapshot"):
        df = ws.fetch_rosters(urls(lms)[:3], progress=False)
    assert len(df) == sum(c.size for c in COURSES[:3]) and df.attrs["complete"]
    assert "disk is full" in df.attrs["warnings"][0]
    with pytest.warns(RuntimeWarning, match="not recorded as a snapshot"):
        one = ws.fetch_roster(urls(lms)[0], progress=False)
    assert len(one) == COURSES[0].size
    assert any("roster_changes()" in w for w in one.attrs["warnings"])


def test_reading_or_removing_an_unknown_url_adds_nothing(ws: Workspace, lms: SandboxServer) -> None:
    typo = urls(lms)[0].replace("/c00/", "/c0o/")
    with pytest.raises(ConfigError, match="is not a known course"):
        ws.roster_changes(typo, platform="sandbox")
    with pytest.raises(ConfigError, match="is not a known course"):
        ws.remove_course(typo, platform="sandbox")
    with pytest.raises(ConfigError, match="nrps-nb courses"):
        ws.roster_changes(99)
    assert ws.courses().empty


def test_module_level_changes_and_removal(
    ws: Workspace, lms: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nrps_nb

    monkeypatch.setenv("NRPS_NB_HOME", str(ws.home))
    url = urls(lms)[0]
    nrps_nb.fetch_roster(url, platform="sandbox", progress=False)
    (gone,) = [str(m["user_id"]) for m in lms.course_members("c00")][-1:]
    lms.mutate("c00", drop=[gone])
    nrps_nb.fetch_roster(url, platform="sandbox", progress=False)
    events = nrps_nb.roster_changes(url)
    assert events[["user_id", "event"]].values.tolist() == [[gone, "left"]]
    nrps_nb.remove_course(url)
    assert url not in set(nrps_nb.courses()["memberships_url"])


def test_each_courses_provenance_and_warnings_survive_the_merge(ws: Workspace) -> None:
    """fetch_rosters keeps what fetch_roster would say per course (DESIGN §5 attrs): pages,
    differences URL and warnings in the status table, the warnings in the frame's attrs named
    by course, and the pseudonymized mark."""
    from .helpers import Scripted, add_scripted_platform, respond, scripted_server

    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t0k", "token_type": "Bearer"}))
    everyone = {"members": [{"user_id": "1", "roles": ["Instructor"]},
                            {"user_id": "2", "roles": ["Learner"]}]}  # fmt: skip
    script.add("/ignores", respond(200, everyone, {"Link": '</ignores2>; rel="next"'}))
    script.add("/ignores2", respond(200, {"members": [{"user_id": "3", "roles": ["Learner"]}]}))
    script.add("/honours", respond(200, {"members": [{"user_id": "4", "roles": ["Learner"]}]},
                                   {"Link": '</diff>; rel="differences"'}))  # fmt: skip
    with scripted_server(script) as server:
        add_scripted_platform(ws, server)
        urls = [server.base_url + "/ignores", server.base_url + "/honours"]
        df = ws.fetch_rosters(urls, platform="lms", role="Learner", pseudonymize=True)
    status = df.attrs["status"].set_index("memberships_url")
    assert status["pages"].tolist() == [2, 1]
    assert status.loc[urls[1], "differences_url"] == server.base_url + "/diff"
    assert any("role filter" in w for w in status.loc[urls[0], "warnings"])
    assert status.loc[urls[1], "warnings"] == []
    (named,) = [w for w in df.attrs["warnings"] if "role filter" in w]
    assert named.startswith(f"course {status.loc[urls[0], 'course_id']}: ")  # which course
    assert df.attrs["pseudonymized"] is True and df.attrs["role_filter"] == "Learner"
    assert len(df) == 3  # the instructor left out on our side too
