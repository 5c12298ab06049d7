"""Deterministic synthetic courses: members shaped like Canvas / NRPS 2.0 member objects."""

from __future__ import annotations

import copy
import functools
import hashlib
import random
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .config import CourseSpec
from .profiles import Profile, course_ids, shape_member
from .vocab import ROLE_INSTRUCTOR, ROLE_LEARNER, ROLE_TEACHING_ASSISTANT, ROLE_TEST_USER

EMAIL_DOMAIN = "sandbox-university.example"

# Latin-script names, many with diacritics, apostrophes, particles and hyphens on purpose:
# they are what breaks naive CSV/encoding/sorting code in a client.
GIVEN_NAMES: tuple[str, ...] = (
    "José", "Zoë", "Łukasz", "Søren", "Ólafur", "Ayşe", "Mārtiņš", "Amélie", "Björn", "Chloé",
    "Dafydd", "Eóin", "François", "Gülşen", "Håkon", "Inés", "Jürgen", "Kateřina", "Laia",
    "Maëlle", "Niamh", "Oğuz", "Paweł", "Renée", "Siobhán", "Tomáš", "Úrsula", "Zsófia",
    "Ana", "Ben", "Carla", "David", "Emma", "Felix", "Grace", "Hannah", "Ivan", "Julia",
    "Kofi", "Leila", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Samuel", "Tariq",
    "Uma", "Victor", "Wanjiru", "Xavier", "Yara", "Zain",
)  # fmt: skip
FAMILY_NAMES: tuple[str, ...] = (
    "García", "O'Brien", "Nguyễn", "Müller", "Kowalski", "Yılmaz", "Bērziņš", "Jónsdóttir",
    "Øvergård", "Dvořák", "Şahin", "Ní Bhriain", "van der Berg", "de la Cruz", "Smith-Jones",
    "Lefèvre", "Nowak", "Pérez", "Schäfer", "Żukowska", "Andersson", "Brown", "Chen", "Diallo",
    "Evans", "Fischer", "Gonzalez", "Hernández", "Ivanova", "Johnson", "Khan", "Lee", "Martin",
    "Okafor", "Patel", "Rossi", "Singh", "Tanaka", "Walker", "Young", "D'Angelo", "MacLeod",
)  # fmt: skip
# (family, given, romanised family, romanised given); written family-first, without a space.
EAST_ASIAN_NAMES: tuple[tuple[str, str, str, str], ...] = (
    ("王", "芳", "wang", "fang"),
    ("李", "娜", "li", "na"),
    ("张", "伟", "zhang", "wei"),
    ("陈", "静", "chen", "jing"),
    ("田中", "花子", "tanaka", "hanako"),
    ("佐藤", "健", "sato", "ken"),
    ("김", "민준", "kim", "minjun"),
    ("박", "서연", "park", "seoyeon"),
)
# (given, family, romanised given, romanised family) in other scripts, written given-first.
OTHER_SCRIPT_NAMES: tuple[tuple[str, str, str, str], ...] = (
    ("Анна", "Иванова", "anna", "ivanova"),
    ("Дмитрий", "Смирнов", "dmitry", "smirnov"),
    ("Νίκος", "Παπαδόπουλος", "nikos", "papadopoulos"),
    ("ليلى", "حداد", "layla", "haddad"),
    ("אורי", "כהן", "uri", "cohen"),
    ("अनन्या", "शर्मा", "ananya", "sharma"),
)

# Letters that NFKD does not decompose into an ASCII base letter.
_ASCII_FOLD = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ı": "i", "ß": "ss", "đ": "d", "æ": "ae", "þ": "th"}
)


@functools.cache  # the name pools are small; slugging every member is the hot spot
def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits only (for synthetic e-mail addresses)."""
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    return "".join(ch for ch in folded.lower() if ch.isascii() and ch.isalnum())


def stable_hash(text: str) -> int:
    """A hash of ``text`` that, unlike ``hash()``, is the same in every process."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Course:
    """A generated course. ``members`` are NRPS member dicts; treat them as read-only."""

    spec: CourseSpec
    context_id: str
    resource_link_id: str
    resource_link_title: str
    members: tuple[dict[str, Any], ...]
    index: Mapping[str, int]
    path_id: str = ""  # the course's id in the platform's URLs (default: course_id)
    # user_id -> the sandbox's own record of that person (a profile reshapes members)
    people: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def course_id(self) -> str:
        return self.spec.course_id

    @property
    def url_id(self) -> str:
        return self.path_id or self.spec.course_id

    def person(self, user_id: str) -> Mapping[str, Any]:
        """The sandbox's own record behind a member (itself without a profile)."""
        found = self.people.get(user_id)
        if found is not None:
            return found
        member = self.member(user_id)
        if member is None:
            raise KeyError(user_id)
        return member

    @property
    def instructor(self) -> dict[str, Any]:
        return self.members[0]

    def member(self, user_id: str) -> dict[str, Any] | None:
        i = self.index.get(user_id)
        return None if i is None else self.members[i]

    def members_copy(self) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self.members))

    def context(self) -> dict[str, str]:
        return {"id": self.context_id, "label": self.spec.label, "title": self.spec.title}


def role_label(member: Mapping[str, Any]) -> str:
    """Human label of a member's most specific context role (for HTML pages)."""
    roles = member["roles"]
    if ROLE_TEST_USER in roles:
        return "Test student"
    if ROLE_TEACHING_ASSISTANT in roles:
        return "Teaching assistant"
    if ROLE_INSTRUCTOR in roles:
        return "Instructor"
    return "Learner"


def member_section(user_id: str) -> str:
    """A deterministic per-member custom value (launch ``custom`` claim and NRPS messages)."""
    return "001" if ord(user_id[-1]) % 2 == 0 else "002"


class PersonFactory:
    """Draws people from one course's random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serial = 0

    def _uuid(self) -> str:
        # str(uuid.UUID(int=n, version=4)), without the UUID object (the hot spot of 100k)
        n = self.rng.getrandbits(128)
        n = (n & ~(0xC000 << 48) | (0x8000 << 48)) & ~(0xF000 << 64) | (4 << 76)
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def person(
        self, roles: list[str], status: str = "Active", *, email_tag: str | None = None
    ) -> dict[str, Any]:
        rng = self.rng
        self.serial += 1
        middle: str | None = None
        kind = rng.random()
        if kind < 0.08:
            family, given, family_slug, given_slug = rng.choice(EAST_ASIAN_NAMES)
            name = family + given
        elif kind < 0.14:
            given, family, given_slug, family_slug = rng.choice(OTHER_SCRIPT_NAMES)
            name = f"{given} {family}"
        else:
            given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
            given_slug, family_slug = ascii_slug(given), ascii_slug(family)
            if rng.random() < 0.15:
                middle = rng.choice(GIVEN_NAMES)
            name = f"{given} {middle} {family}" if middle else f"{given} {family}"
        user_id = self._uuid()
        member: dict[str, Any] = {"status": status, "name": name, "given_name": given}
        member["family_name"] = family
        if middle:
            member["middle_name"] = middle
        tag = email_tag if email_tag is not None else str(self.serial)
        member["email"] = f"{given_slug}.{family_slug}{tag}@{EMAIL_DOMAIN}"
        member["picture"] = f"https://{EMAIL_DOMAIN}/avatars/{user_id}.png"
        member["user_id"] = user_id
        if rng.random() < 0.9:
            member["lis_person_sourcedid"] = f"SIS-{rng.randrange(10**7):07d}"
        if rng.random() < 0.75:
            member["lti11_legacy_user_id"] = f"{rng.getrandbits(160):040x}"
        member["roles"] = roles
        return member

    def test_student(self) -> dict[str, Any]:
        # Canvas's "Test Student" (student view) has no e-mail, picture or SIS id.
        return {
            "status": "Active",
            "name": "Test Student",
            "given_name": "Test",
            "family_name": "Student",
            "user_id": self._uuid(),
            "lti11_legacy_user_id": f"{self.rng.getrandbits(160):040x}",
            "roles": [ROLE_LEARNER, ROLE_TEST_USER],
        }


@functools.cache
def campus_person(seed: int, k: int) -> dict[str, Any]:
    """Campus person ``k``: a learner who is the same in every course that has them."""
    factory = PersonFactory(random.Random(seed + stable_hash(f"campus-person-{k}")))
    return factory.person([ROLE_LEARNER], email_tag=f".c{k}")


def build_course(spec: CourseSpec, seed: int) -> Course:
    """Generate ``spec``'s members; the same seed and spec always give the same course."""
    rng = random.Random(seed + stable_hash(spec.course_id))
    context_id = f"{rng.getrandbits(160):040x}"
    resource_link_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    factory = PersonFactory(rng)

    n_tas = max(1, round(spec.size * rng.uniform(0.01, 0.03))) if spec.size >= 8 else 0
    n_learners = spec.size - 2 - n_tas
    instructor = factory.person([ROLE_INSTRUCTOR])
    # TAs carry both roles, like Canvas (the sub-role alone does not imply Instructor to
    # every client, and a client must not count them twice).
    others = [factory.person([ROLE_INSTRUCTOR, ROLE_TEACHING_ASSISTANT]) for _ in range(n_tas)]
    others.append(factory.test_student())
    for _ in range(n_learners):
        status = "Inactive" if rng.random() < 0.02 else "Active"
        others.append(factory.person([ROLE_LEARNER], status))
    # Interleave roles so that paging and role filters are exercised on mixed pages.
    rng.shuffle(others)
    # Campus people take the places of the course's last own learners (keeping each place's
    # status), so that the rest of the roster, and its first pages, stay as they were.
    places = [i for i, m in enumerate(others) if m["roles"] == [ROLE_LEARNER]]
    for k, i in enumerate(reversed(places[len(places) - min(spec.campus_learners, len(places)) :])):
        person = campus_person(seed, k)  # cached: each course gets its own copy
        others[i] = {**person, "roles": list(person["roles"]), "status": others[i]["status"]}
    members = (instructor, *others)
    index = {m["user_id"]: i for i, m in enumerate(members)}
    if len(index) != len(members):  # 128-bit collisions: practically impossible, but fail loud
        raise RuntimeError(f"duplicate user ids generated for {spec.course_id}")
    return Course(
        spec=spec,
        context_id=context_id,
        resource_link_id=resource_link_id,
        resource_link_title=f"Roster tool ({spec.label})",
        members=members,
        index=index,
    )


def shape_course(course: Course, profile: Profile, *, index: int, privacy: str) -> Course:
    """``course`` as the platform of ``profile`` lists it (ids, roles, fields, statuses)."""
    path_id, context_id, resource_link_id = course_ids(
        profile, course.course_id, index, course.context_id, course.resource_link_id,
        course.spec.label,
    )  # fmt: skip
    members: list[dict[str, Any]] = []
    people: dict[str, Mapping[str, Any]] = {}
    for serial, base in enumerate(course.members):
        if profile.only_active and base["status"] != "Active":
            continue
        member = shape_member(
            profile, base, serial=serial, privacy=privacy, issuer=profile.issuer or "",
            admin=serial == 0,
        )  # fmt: skip
        members.append(member)
        people[member["user_id"]] = base
    return replace(
        course,
        context_id=context_id,
        resource_link_id=resource_link_id,
        members=tuple(members),
        index={m["user_id"]: i for i, m in enumerate(members)},
        path_id=path_id,
        people=people,
    )
