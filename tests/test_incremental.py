"""Incremental sync over loopback: fetch, change the sandbox roster, fetch only the changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from nrps_nb import Workspace
from nrps_nb.history import _decode
from nrps_nb.sandbox import SandboxConfig, SandboxServer
from nrps_nb.sandbox.vocab import ROLE_LEARNER, ROLE_TEST_USER
from nrps_nb.server import ReceiverServer

from .profile_kit import COURSE as PROFILE_COURSE
from .profile_kit import profile_env

COURSE = "intro-stats"


@pytest.fixture(params=[True, False], ids=["differences", "snapshot-diff"])
def lms(request: pytest.FixtureRequest, ws: Workspace,
        receiver: ReceiverServer) -> Iterator[SandboxServer]:  # fmt: skip
    config = SandboxConfig(tool_url=receiver.base_url, differences=request.param)
    with SandboxServer(config) as server:
        info = server.info()
        ws.add_platform("sandbox", preset="sandbox", base_url=info["issuer"],
                        client_id=info["client_id"], deployment_ids=[info["deployment_id"]])  # fmt: skip
        yield server


def learners(server: SandboxServer, n: int) -> list[str]:
    found = [
        str(m["user_id"])
        for m in server.course_members(COURSE)
        if m["roles"] == [ROLE_LEARNER] and m["status"] == "Active"
    ]
    return found[:n]


def snapshots(ws: Workspace) -> int:
    with ws.store.transaction() as con:
        return int(con.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0])


def test_changes_only_returns_just_the_changed_members(ws: Workspace, lms: SandboxServer) -> None:
    url = lms.memberships_url(COURSE)
    differences = lms.config.differences
    first = ws.fetch_roster(url)
    assert len(first) == 250
    assert (first.attrs["differences_url"] is not None) == differences
    dropped, inactive, promoted = learners(lms, 5)[:2], learners(lms, 5)[2:3], learners(lms, 5)[3]
    added = lms.mutate(COURSE, drop=dropped, deactivate=inactive, add=3,
                       change_role={promoted: "TeachingAssistant"})  # fmt: skip
    assert len(added) == 3

    full_now = {str(m["user_id"]) for m in lms.course_members(COURSE)}
    assert not set(dropped) & full_now and set(added) <= full_now

    changes = ws.fetch_roster(url, changes_only=True)
    assert changes.attrs["source"] == ("differences" if differences else "fetch")
    assert changes.attrs["baseline"] is False
    by_id = changes.set_index("user_id")
    assert set(by_id.index) == {*dropped, *inactive, promoted, *added}
    assert by_id.loc[dropped, "status"].tolist() == ["Deleted", "Deleted"]
    assert by_id.loc[inactive[0], "status"] == "Inactive"
    assert by_id.loc[promoted, "role"] == "TeachingAssistant"
    assert set(by_id.loc[added, "status"]) == {"Active"}
    assert set(by_id.loc[added, "role"]) == {"Learner"}

    # Nothing changed since: nothing comes back.
    again = ws.fetch_roster(url, changes_only=True)
    assert len(again) == 0 and again.attrs["events"] == 0


def test_roster_changes_lists_events_with_timestamps(ws: Workspace, lms: SandboxServer) -> None:
    url = lms.memberships_url(COURSE)
    before = pd.Timestamp.now(tz="UTC")
    ws.fetch_roster(url)
    dropped, inactive, promoted = learners(lms, 3)
    added = lms.mutate(COURSE, drop=[dropped], deactivate=[inactive], add=2,
                       change_role={promoted: "Instructor"})  # fmt: skip
    time.sleep(0.01)
    ws.fetch_roster(url, changes_only=True)
    events = ws.roster_changes(url)
    after = pd.Timestamp.now(tz="UTC")
    got = {(uid, event, old, new) for uid, event, old, new in
           events[["user_id", "event", "old", "new"]].itertuples(index=False)}  # fmt: skip
    assert got == {
        (dropped, "left", "Learner", pd.NA),
        (inactive, "status_changed", "Active", "Inactive"),
        (promoted, "role_changed", "Learner", "Instructor"),
        *((uid, "joined", pd.NA, "Learner") for uid in added),
    }
    assert str(events["at"].dtype) == "datetime64[ns, UTC]"
    assert events["at"].between(before, after).all()


def test_full_fetch_after_a_change_records_the_events_too(
    ws: Workspace, lms: SandboxServer
) -> None:
    url = lms.memberships_url(COURSE)
    ws.fetch_roster(url)
    (gone,) = learners(lms, 1)
    lms.mutate(COURSE, drop=[gone])
    df = ws.fetch_roster(url)
    assert gone not in set(df["user_id"]) and len(df) == 249
    events = ws.roster_changes(url)
    assert events[["user_id", "event"]].values.tolist() == [[gone, "left"]]


def test_role_filtered_fetch_makes_no_snapshot(ws: Workspace, lms: SandboxServer) -> None:
    url = lms.memberships_url(COURSE)
    ws.fetch_roster(url, role="Learner")
    ws.fetch_roster(url, rlid=lms.course(COURSE).resource_link_id)
    assert snapshots(ws) == 0
    first = ws.fetch_roster(url, changes_only=True)  # no snapshot yet: everyone is new
    assert first.attrs["baseline"] is True and len(first) == 250
    assert snapshots(ws) == 1


def test_filtered_fetch_between_syncs_loses_no_change(ws: Workspace, lms: SandboxServer) -> None:
    # A role-filtered fetch after a change must not move the "changes since" point past it:
    # its differences link (changes since *that* fetch) has no snapshot to be applied to.
    url = lms.memberships_url(COURSE)
    ws.fetch_roster(url)
    (gone,) = learners(lms, 1)
    lms.mutate(COURSE, drop=[gone])
    ws.fetch_roster(url, role="Learner")
    changes = ws.fetch_roster(url, changes_only=True)
    assert changes["user_id"].tolist() == [gone]
    assert changes["status"].tolist() == ["Deleted"]


@pytest.mark.parametrize("lms", [True], indirect=True, ids=["differences"])
def test_differences_listing_of_the_sandbox(lms: SandboxServer, ws: Workspace) -> None:
    """The sandbox side: a differences URL lists exactly the changed members, paged."""
    url = lms.memberships_url(COURSE)
    first = ws.fetch_roster(url, limit=100)
    since_url = first.attrs["differences_url"]
    assert "since=" in since_url
    test_user = next(str(m["user_id"]) for m in lms.course_members(COURSE)
                     if ROLE_TEST_USER in m["roles"])  # fmt: skip
    added = lms.mutate(COURSE, add=120)
    lms.mutate(COURSE, drop=[test_user])
    changed = ws.fetch_roster(since_url, platform="sandbox", limit=50)
    assert changed["user_id"].tolist() == [*added, test_user]  # oldest change first
    assert changed.attrs["pages"] == 3
    assert changed["status"].tolist() == ["Active"] * 120 + ["Deleted"]


@pytest.mark.parametrize("profile", ["blackboard", "canvas"])
def test_changes_only_on_platform_profiles(tmp_path: Path, profile: str) -> None:
    # Blackboard sends differences links (inactive members kept); Canvas sends none and lists
    # active enrolments only, so a deactivated member "leaves" its listing.
    with profile_env(profile, tmp_path / "ws") as env:
        ws, sandbox = env.ws, env.sandbox
        url = sandbox.memberships_url(PROFILE_COURSE)
        ws.fetch_roster(url)
        base = [str(m["user_id"]) for m in env.members()]
        learner = [uid for uid, m in zip(base, env.members(), strict=True)
                   if len(m["roles"]) == 1 and m["roles"][0].endswith("#Learner")]  # fmt: skip
        gone, inactive, promoted = learner[:3]
        added = sandbox.mutate(PROFILE_COURSE, drop=[gone], deactivate=[inactive], add=1,
                               change_role={promoted: "TeachingAssistant"})  # fmt: skip
        changes = ws.fetch_roster(url, changes_only=True)
        assert changes.attrs["source"] == ("differences" if profile == "blackboard" else "fetch")
        status = dict(zip(changes["user_id"], changes["status"], strict=True))
        expected_inactive = "Inactive" if profile == "blackboard" else "Deleted"
        assert status == {gone: "Deleted", inactive: expected_inactive, promoted: "Active",
                          added[0]: "Active"}  # fmt: skip
        role = dict(zip(changes["user_id"], changes["role"], strict=True))
        assert role[promoted] == "TeachingAssistant"
        assert len(ws.fetch_roster(url, changes_only=True)) == 0


def test_snapshot_of_an_older_workspace_still_counts(ws: Workspace, lms: SandboxServer) -> None:
    """Snapshots were once stored a row per member (snapshot_members); now one compressed
    blob per snapshot. A workspace's old-form snapshot is still the baseline of the next fetch,
    and old snapshots are pruned from both tables."""
    url = lms.memberships_url(COURSE)
    ws.fetch_roster(url)
    with ws.store.transaction() as con:  # turn the stored snapshot into the old form
        (snap_id, blob) = con.execute("SELECT snapshot_id, data FROM snapshot_blobs").fetchone()
        rows = [(snap_id, u, e.role, e.status, e.roles) for u, e in _decode(blob).items()]
        con.executemany("INSERT INTO snapshot_members VALUES (?, ?, ?, ?, ?)", rows)
        con.execute("DELETE FROM snapshot_blobs")
    (gone,) = learners(lms, 1)
    lms.mutate(COURSE, drop=[gone])
    changed = ws.fetch_roster(url, changes_only=True)
    assert changed["user_id"].tolist() == [gone]
    assert changed["status"].tolist() == ["Deleted"]
    for _ in range(3):
        ws.fetch_roster(url)
    with ws.store.transaction() as con:
        left = con.execute("SELECT COUNT(*) FROM snapshot_members").fetchone()[0]
        blobs = con.execute("SELECT COUNT(*) FROM snapshot_blobs").fetchone()[0]
    assert (left, blobs, snapshots(ws)) == (0, 3, 3)


def test_snapshot_events_unchanged_reordered_emptied_and_refilled(
    ws: Workspace, lms: SandboxServer
) -> None:
    """record_snapshot skips decoding when the stored bytes are the same; every other case is
    still compared member by member, including an empty roster before and after."""
    from nrps_nb import history

    course = ws.add_course(lms.memberships_url(COURSE), platform="sandbox")
    a, b = history.Entry("Learner", "Active", "[]"), history.Entry("Instructor", "Active", "[]")

    def record(members: dict[str, history.Entry]) -> list[tuple[str, str]]:
        changes = history.save_snapshot(ws.store, course.id, members, source="fetch")
        return sorted((uid, event) for uid, event, _, _ in changes)

    assert record({}) == []  # the first snapshot: no events
    assert record({"1": a, "2": b}) == [("1", "joined"), ("2", "joined")]  # after an empty one
    assert record({"1": a, "2": b}) == []  # the same bytes
    assert record({"2": b, "1": a}) == []  # other order, same members
    assert record({"2": a}) == [("1", "left"), ("2", "role_changed")]
    assert record({}) == [("2", "left")]
    assert record({}) == []
    assert snapshots(ws) == 3  # pruned to the latest three, unchanged ones included


def test_a_differences_link_to_another_origin_never_gets_the_token(ws: Workspace) -> None:
    """The platform's differences link is followed later, with the access token: a link to
    another origin is not kept (a warning says so), and one already stored is not used."""
    from .helpers import Scripted, add_scripted_platform, respond, scripted_server

    script = Scripted()
    script.add("/token", respond(200, {"access_token": "SECRET-TOKEN", "expires_in": 3600}))
    script.add("/diff", respond(200, {"members": []}))
    with scripted_server(script) as server:
        foreign = server.base_url.replace("127.0.0.1", "localhost") + "/diff"
        assert foreign.startswith("http://localhost:")
        page = {"members": [{"user_id": "a", "roles": ["Learner"]}]}
        link = f'<{foreign}>; rel="differences"'
        script.add("/m", respond(200, page, {"Link": link + '\n</m2>; rel="next"'}))
        script.add("/m2", respond(200, {"members": [{"user_id": "b"}]}, {"Link": link}))
        add_scripted_platform(ws, server)
        url = server.base_url + "/m"
        df = ws.fetch_roster(url, platform="lms")
        assert df.attrs["differences_url"] is None
        assert len([w for w in df.attrs["warnings"] if "another origin" in w]) == 1  # not 1/page
        assert ws.store.find_courses(url=url)[0].differences_url is None
        changes = ws.fetch_roster(url, platform="lms", changes_only=True)
        assert changes.attrs["source"] == "fetch"  # compared with the snapshot

        # A foreign URL already in the store (an older version kept it): not used either.
        with ws.store.transaction() as con:
            con.execute("UPDATE courses SET differences_url = ?", (foreign,))
        changes = ws.fetch_roster(url, platform="lms", changes_only=True)
        assert changes.attrs["source"] == "fetch"
        assert any("another origin" in w for w in changes.attrs["warnings"])
    assert not [r for r in script.requests if r[1].startswith("/diff")]
    assert all(r[2].get("Host", "").startswith("127.0.0.1") for r in script.requests)
