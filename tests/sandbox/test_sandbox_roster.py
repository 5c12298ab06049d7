"""Synthetic rosters: deterministic, realistic role mix, non-ASCII names, fast."""

from __future__ import annotations

import time
import uuid

import pytest

from nrps_nb.sandbox import DEFAULT_COURSES, CourseSpec, SandboxConfig, SandboxServer
from nrps_nb.sandbox.roster import build_course

INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
TEST_USER = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"


def test_default_courses() -> None:
    assert [(c.course_id, c.title, c.label, c.size) for c in DEFAULT_COURSES] == [
        ("intro-stats", "Introduction to Statistics", "STAT 101", 250),
        ("seminar", "Research Seminar", "SEM 500", 8),
        ("big-lecture", "Big Lecture", "BIG 100", 3000),
    ]


def test_same_seed_same_members_different_seed_different() -> None:
    spec = DEFAULT_COURSES[0]
    assert build_course(spec, 7).members == build_course(spec, 7).members
    assert build_course(spec, 7).context_id == build_course(spec, 7).context_id
    assert build_course(spec, 7).members != build_course(spec, 8).members
    a = SandboxServer(SandboxConfig(seed=11)).course_members("seminar")
    b = SandboxServer(SandboxConfig(seed=11)).course_members("seminar")
    assert a == b


@pytest.mark.parametrize("spec", DEFAULT_COURSES, ids=lambda s: s.course_id)
def test_role_mix(spec: CourseSpec) -> None:
    members = build_course(spec, SandboxConfig().seed).members
    assert len(members) == spec.size
    assert members[0]["roles"] == [INSTRUCTOR]
    tas = [m for m in members if TA in m["roles"]]
    assert all(INSTRUCTOR in m["roles"] for m in tas)  # Canvas sends both
    assert 1 <= len(tas) <= max(1, round(spec.size * 0.03))
    tests = [m for m in members if TEST_USER in m["roles"]]
    assert len(tests) == 1 and tests[0]["roles"] == [LEARNER, TEST_USER]
    assert tests[0]["name"] == "Test Student" and "email" not in tests[0]
    learners = [m for m in members if m["roles"] == [LEARNER]]
    assert len(learners) == spec.size - 2 - len(tas)
    assert [m for m in members if m["roles"] == [INSTRUCTOR]] == [members[0]]


def test_member_fields() -> None:
    members = build_course(DEFAULT_COURSES[2], 1).members
    ids = [m["user_id"] for m in members]
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(i)) == i for i in ids)
    assert {m["status"] for m in members} == {"Active", "Inactive"}
    assert sum(m["status"] == "Inactive" for m in members) < len(members) * 0.05
    people = [m for m in members if TEST_USER not in m["roles"]]
    for m in people:
        assert m["name"] and m["given_name"] and m["family_name"]
        assert m["email"].isascii() and "@" in m["email"]
        assert m["picture"].startswith("https://")
    assert any("middle_name" in m for m in people)
    assert any("lti11_legacy_user_id" in m for m in people)
    assert any("lti11_legacy_user_id" not in m for m in people)
    assert any("lis_person_sourcedid" in m for m in people)
    assert len({m["email"] for m in people}) == len(people)


def test_non_ascii_names_present() -> None:
    names = {m["name"] for m in build_course(DEFAULT_COURSES[0], SandboxConfig().seed).members}
    assert sum(not n.isascii() for n in names) > 20
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names)  # CJK
    big = build_course(DEFAULT_COURSES[2], 3).members
    assert any("O'Brien" in m["name"] for m in big)


def test_course_spec_validation() -> None:
    with pytest.raises(ValueError, match="course_id"):
        CourseSpec("bad id/../x", "T", "L", 10)
    with pytest.raises(ValueError, match="at least 2"):
        CourseSpec("x", "T", "L", 1)
    with pytest.raises(ValueError, match="duplicate"):
        SandboxConfig(courses=(CourseSpec("x", "T", "L", 5), CourseSpec("x", "U", "M", 5)))


def test_hundred_thousand_members_is_fast() -> None:
    start = time.perf_counter()
    course = build_course(CourseSpec("huge", "Huge", "HUGE", 100_000), 5)
    assert len(course.members) == 100_000
    assert time.perf_counter() - start < 10


def test_course_members_is_a_copy() -> None:
    srv = SandboxServer(SandboxConfig(courses=DEFAULT_COURSES[1:2]))
    srv.course_members("seminar")[0]["name"] = "changed"
    assert srv.course_members("seminar")[0]["name"] != "changed"
    with pytest.raises(KeyError, match="nope"):
        srv.course_members("nope")


def test_campus_people_are_the_same_people_in_every_course_that_has_them() -> None:
    seed = SandboxConfig().seed
    courses = {spec.course_id: build_course(spec, seed) for spec in DEFAULT_COURSES}
    ids = {cid: {m["user_id"] for m in c.members} for cid, c in courses.items()}
    everywhere = ids["intro-stats"] & ids["seminar"] & ids["big-lecture"]
    assert len(everywhere) == 3
    assert len(ids["intro-stats"] & ids["big-lecture"]) == 40
    by_id = {cid: {m["user_id"]: m for m in c.members} for cid, c in courses.items()}
    for uid in ids["intro-stats"] & ids["big-lecture"]:
        a, b = by_id["intro-stats"][uid], by_id["big-lecture"][uid]
        same = ("name", "given_name", "family_name", "email", "roles")
        assert [a.get(k) for k in same] == [b.get(k) for k in same]
        assert a["roles"] == [LEARNER] and a["roles"] is not b["roles"]  # copies, not shared
    # Sizes and role mix are what the specs say; campus people are learners only.
    assert [len(c.members) for c in courses.values()] == [250, 8, 3000]
    emails = [m["email"] for c in courses.values() for m in c.members if "email" in m]
    per_person = {m["user_id"]: m["email"] for c in courses.values() for m in c.members
                  if "email" in m}  # fmt: skip
    assert len(set(emails)) == len(per_person)  # one e-mail per person, none shared by two


def test_campus_learners_are_validated_and_capped_by_the_course() -> None:
    with pytest.raises(ValueError, match="campus_learners"):
        CourseSpec("x", "X", "X", 10, campus_learners=-1)
    small = build_course(CourseSpec("tiny", "Tiny", "T 1", 4, campus_learners=50), 1)
    assert len(small.members) == 4  # only its 2 learner places were taken
