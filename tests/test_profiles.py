"""Every sandbox platform profile, end to end: launch, roster, paging, role filter, rlid.

Each profile runs the real thing over loopback HTTP: the sandbox LMS behaving like that
platform, the launch receiver (``nrps_nb.server.ReceiverServer``), a browser stand-in
(``drive_launch``), ``Workspace.capture_launch`` and ``fetch_roster``. The workspace is
registered with the preset a user would pick for that LMS, so presets and profiles are
checked against each other too. ``FEATURES`` is the profile × feature table.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nrps_nb import Launch, ResourceLinkRefused
from nrps_nb.cli import main as cli_main
from nrps_nb.sandbox.profiles import PROFILES as SANDBOX_PROFILES
from nrps_nb.sandbox.roster import member_section

from .profile_kit import COURSE, PROFILES, ProfileEnv, profile_env

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
INSTRUCTOR = LIS + "membership#Instructor"
LEARNER = LIS + "membership#Learner"
TA = LIS + "membership/Instructor#TeachingAssistant"
TEST_USER = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"

# profile -> what nrps_nb must make of it (the closing note's table is this dict).
#   rlid: custom = message with custom values; message = message without custom values;
#         ignored = whole roster and a warning; refused = ResourceLinkRefused.
#   role_filter: server = the platform filters; dropped = later pages lose it;
#                ignored = nrps_nb alone filters.
FEATURES: dict[str, dict[str, Any]] = {
    "sandbox": {"rlid": "custom", "role_filter": "server", "link": "rfc8288", "cap": 100},
    "canvas": {"rlid": "custom", "role_filter": "server", "link": "canvas", "cap": 50},
    "moodle": {"rlid": "message", "role_filter": "dropped", "link": "bare", "cap": None},
    "moodle-3.8": {"rlid": "message", "role_filter": "dropped", "link": "bare", "cap": None},
    "blackboard": {"rlid": "custom", "role_filter": "server", "link": "rfc8288", "cap": 200},
    "d2l": {"rlid": "custom", "role_filter": "server", "link": "rfc8288", "cap": 200},
    "sakai": {"rlid": "ignored", "role_filter": "ignored", "link": "rfc8288", "cap": None},
    "schoology": {"rlid": "refused", "role_filter": "server", "link": "rfc8288", "cap": 100},
    "openedx": {"rlid": "ignored", "role_filter": "ignored", "link": "rfc8288", "cap": None},
}


def test_every_sandbox_profile_is_tested() -> None:
    assert set(PROFILES) == set(SANDBOX_PROFILES) == set(FEATURES)


@pytest.fixture(scope="module", params=PROFILES)
def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProfileEnv]:
    with profile_env(request.param, tmp_path_factory.mktemp(request.param) / "ws") as e:
        yield e


@pytest.fixture(scope="module")
def launch(env: ProfileEnv) -> Launch:
    return env.launch()


def ids(df: pd.DataFrame) -> list[str]:
    return [str(u) for u in df["user_id"]]


def holds(member: dict[str, Any], role: str) -> bool:
    """The member holds ``role`` or a sub-role of it (a TA is an Instructor)."""
    principal = role.rsplit("#", 1)[-1]
    return role in member["roles"] or any(
        r.startswith(f"{LIS}membership/{principal}#") for r in member["roles"]
    )


def test_launch_is_captured_with_the_platforms_ids(env: ProfileEnv, launch: Launch) -> None:
    course = env.sandbox.course(COURSE)
    instructor = env.members()[0]
    assert launch.platform == env.profile
    assert launch.issuer == env.sandbox.info()["issuer"]
    assert launch.sub == instructor["user_id"]
    assert launch.context_id == course.context_id
    assert launch.resource_link_id == course.resource_link_id
    assert launch.context_memberships_url == env.sandbox.memberships_url(COURSE)
    assert launch.course is not None
    assert INSTRUCTOR in launch.roles


def test_roster_matches_the_platform(env: ProfileEnv, launch: Launch) -> None:
    expected = env.members()
    df = env.ws.fetch_roster(launch)
    assert ids(df) == [m["user_id"] for m in expected]
    assert df.attrs["complete"] is True
    by_id = df.set_index("user_id")
    for member in expected:
        row = by_id.loc[member["user_id"]]
        assert set(row["roles"]) == set(member["roles"])  # full URIs, as sent
        assert row["status"] == member.get("status", "Active")
        for column in ("name", "email", "given_name", "family_name"):
            value = None if pd.isna(row[column]) else row[column]
            assert value == (member.get(column) or None), column
    first = by_id.loc[expected[0]["user_id"]]
    assert first["role"] == "Instructor" and bool(first["is_instructor"])
    context = env.sandbox.course(COURSE).context()
    # Open edX sends the context id only, Sakai no label, Moodle 3.8 no context at all
    # (nrps_nb then uses what the launch said).
    assert set(df["context_id"]) == {context["id"]}
    assert set(df["context_title"]) == {context["title"]}


def test_principal_role_and_test_users(env: ProfileEnv, launch: Launch) -> None:
    df = env.ws.fetch_roster(launch).set_index("user_id")
    for member in env.members():
        row = df.loc[member["user_id"]]
        if TA in member["roles"]:
            assert row["role"] == "TeachingAssistant" and bool(row["is_teaching_assistant"])
        if TEST_USER in member["roles"]:
            assert bool(row["is_test_user"])
            # Blackboard's preview user is TestUser alone: no context role at all.
            assert row["role"] == ("Learner" if LEARNER in member["roles"] else "Other")
        if member["roles"] == [LEARNER]:
            assert row["role"] == "Learner" and bool(row["is_learner"])


def test_paging_follows_the_platforms_links(env: ProfileEnv, launch: Launch) -> None:
    expected = [m["user_id"] for m in env.members()]
    df = env.ws.fetch_roster(launch, limit=5)
    assert ids(df) == expected
    assert df.attrs["pages"] == math.ceil(len(expected) / 5)
    assert not [w for w in df.attrs["warnings"] if "duplicate" in w]


def test_default_page_size_is_the_presets_documented_cap(env: ProfileEnv, launch: Launch) -> None:
    cap = env.platform.max_page_size  # what nrps_nb asks for by default
    served = SANDBOX_PROFILES[env.profile].max_page_size
    if cap is None:  # no documented cap: nrps_nb sends no limit, the platform picks
        assert FEATURES[env.profile]["cap"] == served
    else:
        assert cap == served == FEATURES[env.profile]["cap"]
    df = env.ws.fetch_roster(launch)
    assert df.attrs["pages"] == 1  # 23 members fit one page everywhere


@pytest.mark.parametrize("role", ["Learner", "Instructor"])
def test_role_filter(env: ProfileEnv, launch: Launch, role: str) -> None:
    uri = LIS + "membership#" + role
    expected = [m["user_id"] for m in env.members() if holds(m, uri)]
    assert expected
    df = env.ws.fetch_roster(launch, role=role, limit=5)
    assert ids(df) == expected
    dropped = [w for w in df.attrs["warnings"] if "without the role" in w]
    if FEATURES[env.profile]["role_filter"] == "server":
        assert not dropped
    elif role == "Learner":  # the platform sent instructors too: nrps_nb left them out
        assert dropped


def test_moodle_drops_the_role_filter_on_later_pages(tmp_path: Path) -> None:
    with profile_env("moodle", tmp_path / "ws") as env:
        members = env.members()
        # Precondition: an instructor that only a later page (of 5) lists.
        assert any(INSTRUCTOR in m["roles"] for m in members[5:])
        launch = env.launch()
        df = env.ws.fetch_roster(launch, role="Learner", limit=5)
        assert ids(df) == [m["user_id"] for m in members if INSTRUCTOR not in m["roles"]]
        assert not df["is_instructor"].any()


def test_rlid(env: ProfileEnv, launch: Launch) -> None:
    rlid = launch.resource_link_id
    assert rlid is not None
    mode = FEATURES[env.profile]["rlid"]
    if mode == "refused":
        with pytest.raises(ResourceLinkRefused) as caught:
            env.ws.fetch_roster(launch, rlid=rlid)
        assert "Schoology does not support the rlid filter" in str(caught.value)
        return
    # limit=5: the next links already carry rlid (Blackboard refuses a repeated one).
    df = env.ws.fetch_roster(launch, rlid=rlid, limit=5)
    expected = [m["user_id"] for m in env.members()]
    assert ids(df) == expected
    assert df.attrs["rlid"] == rlid
    custom = sorted(c for c in df.columns if c.startswith("custom_"))
    ignored = [w for w in df.attrs["warnings"] if "ignores rlid" in w]
    if mode == "custom":
        assert "custom_section" in custom and not ignored
        assert df["custom_section"].tolist() == [member_section(u) for u in expected]
    elif mode == "message":  # Moodle: basic outcome claims, no custom values
        assert custom == [] and not ignored
        assert all("basicoutcome" in str(extras) for extras in df["extras"])
    else:
        assert custom == [] and len(ignored) == 1


def test_canvas_unexpanded_variables_are_na(tmp_path: Path) -> None:
    with profile_env("canvas", tmp_path / "ws") as env:
        launch = env.launch()
        df = env.ws.fetch_roster(launch, rlid=launch.resource_link_id).set_index("user_id")
        people = env.sandbox.course(COURSE)
        without_sis = [m for m in env.members() if "lis_person_sourcedid" not in m]
        assert without_sis  # the Test Student has no SIS id: Canvas sends "$Person.sourcedId"
        for member in env.members():
            value = df.loc[member["user_id"], "custom_person_sourcedid"]
            expected = people.person(member["user_id"]).get("lis_person_sourcedid")
            assert (None if pd.isna(value) else value) == expected


@pytest.mark.parametrize("profile", PROFILES)
def test_anonymous_privacy_sends_no_names(profile: str, tmp_path: Path) -> None:
    with profile_env(profile, tmp_path / "ws", privacy="anonymous") as env:
        launch = env.launch()
        assert launch.user_name is None
        df = env.ws.fetch_roster(launch)
        assert ids(df) == [m["user_id"] for m in env.members()]
        for column in ("name", "given_name", "family_name", "email", "picture"):
            assert df[column].isna().all(), column
        # Moodle and Sakai send the SIS id / login name at every privacy level.
        always = profile in ("moodle", "moodle-3.8", "sakai")
        assert df["lis_person_sourcedid"].notna().any() == always


def test_cli_roster_with_rlid_writes_custom_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with profile_env("canvas", tmp_path / "ws") as env:
        launch = env.launch()
        assert launch.context_memberships_url and launch.resource_link_id
        monkeypatch.setenv("NRPS_NB_HOME", str(env.ws.home))
        out = tmp_path / "roster.csv"
        argv = ["roster", "--platform", "canvas", "--url", launch.context_memberships_url,
                "--rlid", launch.resource_link_id, "--limit", "7", "--output", str(out)]  # fmt: skip
        assert cli_main(argv) == 0, capsys.readouterr().err
        with out.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert [r["user_id"] for r in rows] == [m["user_id"] for m in env.members()]
        assert rows[0]["custom_section"] == member_section(rows[0]["user_id"])
        assert json.loads(rows[0]["roles"]) == env.members()[0]["roles"]


@pytest.mark.parametrize("profile", ["moodle", "blackboard"])
def test_cli_sandbox_profile(profile: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nrps_nb.cli", "sandbox", "--port", "0", "--profile", profile],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert info["profile"] == profile
    if profile == "moodle":
        assert info["auth_token_url"].endswith("/mod/lti/token.php")
        assert info["deployment_id"] == "3"
        assert (
            "/mod/lti/services.php/CourseSection/2/bindings/3/memberships"
            in (info["memberships_url"])
        )
    else:
        assert info["issuer"] == "https://blackboard.com"
        assert info["memberships_url"].endswith("/learn/api/v1/lti/external/namesandroles/_4_1")


def test_cli_sandbox_unknown_profile_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main(["sandbox", "--profile", "webct"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'webct'" in err and "moodle" in err
