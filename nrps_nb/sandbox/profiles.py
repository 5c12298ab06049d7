"""Platform profiles: the sandbox LMS behaving like Canvas, Moodle, Blackboard, D2L, Sakai,
Schoology or Open edX.

Each profile reproduces what its LMS documents (or what its source code does) on the
platform side: URL layout, issuer, id formats, the launch's claims, the token endpoint's
audience and error shapes, and NRPS behaviour (page sizes and paging parameters, Link
header format, role forms, media type, fields per privacy level, rlid and role-filter
handling, error shapes). The sources are the ones of ``specs/CHECKLIST.md`` §3, read
for the platform side and written out here independently of nrps_nb's client (which must
not be imported by the sandbox). Where a platform's behaviour is not documented, the
profile says *unverified* and picks the spec's behaviour.

This module is data plus pure functions over member dicts; ``roster``, ``oidc``, ``tokens``
and ``nrps`` apply it.

Example::

    >>> PROFILES["moodle"].memberships_path
    '/mod/lti/services.php/CourseSection/{course}/bindings/{deployment_id}/memberships'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .vocab import (
    CONTEXT_TYPE_COURSE_OFFERING,
    LIS,
    LTI_CLAIM,
    NRPS_MEDIA_TYPE,
    ROLE_INSTRUCTOR,
    ROLE_LEARNER,
    ROLE_TEACHING_ASSISTANT,
    ROLE_TEST_USER,
    SCOPE_NRPS,
)

__all__ = ["DEFAULT_PROFILE", "PRIVACY_LEVELS", "PROFILES", "Profile"]

DEFAULT_PROFILE = "sandbox"
# Canvas's names for the privacy levels; each profile maps them to its own settings
# (Moodle "Share launcher's name/email", Sakai sendname/sendemailaddr, Open edX PII sharing).
PRIVACY_LEVELS = ("anonymous", "name_only", "email_only", "public")

ROLE_ADMINISTRATOR = f"{LIS}/membership#Administrator"
INSTITUTION_ADMIN = f"{LIS}/institution/person#Administrator"
SYSTEM_ADMIN = f"{LIS}/system/person#Administrator"
CONTEXT_TYPE_COURSE_SECTION = f"{LIS}/course#CourseSection"
LIS_V2_MEDIA_TYPE = "application/vnd.ims.lis.v2.membershipcontainer+json"

_NAME = ("name", "given_name", "family_name")
_SAME_ROLES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "instructor": (ROLE_INSTRUCTOR,),
        "ta": (ROLE_INSTRUCTOR, ROLE_TEACHING_ASSISTANT),
        "test_user": (ROLE_LEARNER, ROLE_TEST_USER),
        "learner": (ROLE_LEARNER,),
    }
)


def _roles(**kinds: tuple[str, ...]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({**_SAME_ROLES, **kinds})


@dataclass(frozen=True)
class Profile:
    """How one LMS family behaves, as far as an NRPS tool can see."""

    name: str
    title: str
    product_family_code: str
    issuer: str | None = None  # None: the sandbox's base URL
    # URL paths; {course} is the course's id in URLs, {client_id}/{deployment_id} the tool's.
    auth_path: str = "/auth"
    token_path: str = "/token"
    jwks_path: str = "/jwks"
    memberships_path: str = "/api/lti/courses/{course}/memberships"
    client_id: str = "nrps-nb-sandbox-tool"
    deployment_id: str = "sandbox-deployment-1"
    course_ids: str = "slug"  # how course, context and resource link ids look
    # people
    user_ids: str = "uuid"  # uuid | numeric | hex | d2l | sakai | schoology
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _SAME_ROLES)
    admin_roles: tuple[str, ...] = ()  # extra roles of the course's first instructor
    launch_roles: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # kind -> extra roles sent in launches only (institution/system roles)
    always_fields: tuple[str, ...] = ()  # member fields at every privacy level
    name_fields: tuple[str, ...] = _NAME
    email_fields: tuple[str, ...] = ("email",)
    public_fields: tuple[str, ...] = ()
    only_active: bool = False  # inactive enrolments are left out of NRPS and launches
    # launch
    login_method: str = "GET"  # how the login initiation reaches the tool
    login_extras: tuple[tuple[str, str], ...] = ()
    send_azp: bool = False
    send_nbf: bool = False
    context_type: str = CONTEXT_TYPE_COURSE_OFFERING
    nrps_versions: tuple[str, ...] = ("2.0",)
    nrps_claim_scope: bool = False  # Blackboard's non-standard scope array in the claim
    # token endpoint
    assertion_audience: str | None = None  # None: the token URL
    check_audience: bool = True
    check_issuer: bool = True  # iss must be the client_id
    token_type: str = "Bearer"
    client_error: tuple[str, int] = ("invalid_client", 401)
    error_descriptions: bool = True  # OAuth errors carry error_description
    # NRPS
    media_type: str = NRPS_MEDIA_TYPE
    accept_exact: bool = False  # Moodle: Accept must be exactly one served type (or */*)
    paging: str = "cursor"  # cursor | canvas | from | offset | start | page
    default_page_size: int | None = 50  # None: everything in one page without limit
    max_page_size: int | None = 100  # None: no cap
    link_style: str = "rfc8288"  # rfc8288 | bare (URL;rel=next)
    canvas_rels: bool = False  # current/first/last rels next to next
    next_keeps_role: bool = True
    next_when_full: bool = False  # Moodle 3.7/3.8: next link on every full page
    role_filter: str = "exact"  # exact | moodle (Instructor/Learner only) | ignored
    rlid: str = "message"  # message | ignored | refused
    rlid_unknown_status: int = 400
    differences: bool = False
    context_fields: tuple[str, ...] | None = ("id", "label", "title")  # None: no context
    empty_body_when_empty: bool = False
    unauthorized_status: int = 401  # missing or bad bearer token
    missing_scope_status: int = 401
    error_shape: str = "oauth"  # oauth | canvas | moodle | sakai | openedx
    enrollment_limit: int | None = None  # Open edX refuses rosters of bigger courses
    notes: str = ""

    def paths(self) -> dict[str, str]:
        return {
            "auth": self.auth_path,
            "token": self.token_path,
            "jwks": self.jwks_path,
            "memberships": self.memberships_path,
        }


_MOODLE = Profile(
    # moodle/moodle mod/lti/services.php, .../memberships/classes/local/service/
    # memberships.php, resources/contextmemberships.php, ltiservice/response.php,
    # mod/lti/token.php.
    name="moodle",
    title="Moodle",
    product_family_code="moodle",
    auth_path="/mod/lti/auth.php",
    token_path="/mod/lti/token.php",
    jwks_path="/mod/lti/certs.php",
    memberships_path=(
        "/mod/lti/services.php/CourseSection/{course}/bindings/{deployment_id}/memberships"
    ),
    client_id="AbCdEf1234567890",
    deployment_id="3",
    course_ids="moodle",
    user_ids="numeric",
    # Moodle knows two roles here: Instructor (moodle/course:manageactivities, so
    # editing teachers: the sandbox's TAs) and Learner (everyone else).
    roles=_roles(ta=(ROLE_INSTRUCTOR,), test_user=(ROLE_LEARNER,)),
    admin_roles=(INSTITUTION_ADMIN, SYSTEM_ADMIN),
    always_fields=("lis_person_sourcedid",),
    only_active=True,
    login_method="POST",
    send_azp=False,
    context_type=CONTEXT_TYPE_COURSE_SECTION,
    nrps_versions=("1.0", "2.0"),
    check_audience=False,  # token.php does not check aud
    client_error=("invalid_client", 400),
    error_descriptions=False,
    accept_exact=True,
    paging="from",
    default_page_size=None,
    max_page_size=None,
    link_style="bare",
    next_keeps_role=False,
    role_filter="moodle",
    rlid_unknown_status=404,
    unauthorized_status=401,
    error_shape="moodle",
    notes=(
        "Everything in one page unless limit is sent; limit/from paging with a "
        "bare `URL;rel=next` link that drops the role filter; Accept must be "
        "exactly the NRPS (or LIS) type; role filters only tell Instructor from "
        "Learner; rlid is the activity id (404 when unknown)."
    ),
)


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        p.name: p
        for p in (
            Profile(
                name="sandbox",
                title="nrps_nb sandbox",
                product_family_code="nrps_nb_sandbox",
                send_azp=True,
                public_fields=("picture", "middle_name", "lis_person_sourcedid"),
                always_fields=("lti11_legacy_user_id",),
                notes="The plain NRPS 2.0 platform: opaque cursor paging, everything per spec.",
            ),
            Profile(
                # instructure/canvas-lms names_and_roles_controller.rb, memberships_provider.rb,
                # names_and_roles_serializer.rb, advantage_services.rb, lib/api.rb.
                name="canvas",
                title="Canvas (Instructure)",
                product_family_code="canvas",
                issuer="https://canvas.instructure.com",
                auth_path="/api/lti/authorize_redirect",
                token_path="/login/oauth2/token",
                jwks_path="/api/lti/security/jwks",
                memberships_path="/api/lti/courses/{course}/names_and_roles",
                client_id="10000000000002",
                deployment_id="7:d3a2504bba5184799a38f141e8df2335cfa8206d",
                course_ids="canvas",
                launch_roles=MappingProxyType(
                    {
                        "instructor": (f"{LIS}/institution/person#Instructor",),
                        "ta": (f"{LIS}/institution/person#Instructor",),
                        "learner": (f"{LIS}/institution/person#Student",),
                        "test_user": (),
                    }
                ),
                always_fields=("lti11_legacy_user_id",),
                name_fields=(*_NAME, "lis_person_sourcedid"),
                public_fields=("picture",),
                only_active=True,
                login_method="POST",
                login_extras=(("canvas_environment", "prod"), ("canvas_region", "us-east-1")),
                send_azp=True,
                client_error=("invalid_request", 400),
                paging="canvas",
                default_page_size=50,
                max_page_size=50,
                canvas_rels=True,
                rlid_unknown_status=400,
                error_shape="canvas",
                notes=(
                    "Pages of 50 (limit is capped at 50 and replaced by page/per_page in next "
                    "links), current/next/first/last links, only active enrolments, TA = "
                    "Instructor + TeachingAssistant, Test Student = Learner + TestUser."
                ),
            ),
            _MOODLE,
            replace(
                _MOODLE,
                name="moodle-3.8",
                title="Moodle 3.7/3.8",
                media_type="application/vnd.ims.lti-nprs.v2.membershipcontainer+json",
                accept_exact=False,
                next_when_full=True,
                context_fields=None,
                notes=(
                    "Moodle as the 3.7/3.8 releases answered: no context object, the "
                    "misspelled media type application/vnd.ims.lti-nprs.v2..., and a next link "
                    "on every full page (the last page can be empty)."
                ),
            ),
            Profile(
                # blackboard/anthologydevdocs docs/blackboard/lti/1.3/*; BBDN-LTI-Tool-Provider-
                # Node names-roles.js; hypothesis/lms (rlid echoed in next links).
                name="blackboard",
                title="Blackboard Learn (Anthology)",
                product_family_code="BlackboardLearn",
                issuer="https://blackboard.com",
                auth_path="/api/v1/gateway/oidcauth",
                token_path="/api/v1/gateway/oauth2/jwttoken",
                jwks_path="/.well-known/jwks.json",
                memberships_path="/learn/api/v1/lti/external/namesandroles/{course}",
                client_id="baaf7da8-f99a-42ca-a72f-292cfd0eb27d",
                deployment_id="86e8b331-a6cd-486c-b006-9893c749e242",
                course_ids="blackboard",
                user_ids="hex",
                roles=_roles(test_user=(ROLE_TEST_USER,)),  # Student Preview: TestUser only
                launch_roles=MappingProxyType({"instructor": (f"{LIS}/institution/person#Staff",)}),
                check_issuer=False,  # "any value identifying your tool"
                token_type="bearer",
                nrps_claim_scope=True,
                paging="offset",
                default_page_size=100,  # unverified
                max_page_size=200,  # unverified
                differences=True,
                notes=(
                    "TestUser alone for the Student Preview user, limit/offset paging "
                    "(unverified names), next links echo rlid (a repeated rlid is refused), "
                    "a differences link on every page; inactive members are kept."
                ),
            ),
            Profile(
                # D2L launch dump; hypothesis/lms lms/product/d2l; chuckwight/chemvantage.
                name="d2l",
                title="D2L Brightspace",
                product_family_code="desire2learn",
                auth_path="/d2l/lti/authenticate",
                token_path="/core/connect/token",
                jwks_path="/d2l/.well-known/jwks",
                memberships_path=(
                    "/d2l/api/lti/nrps/2.0/deployment/{deployment_id}/orgunit/{course}/memberships"
                ),
                client_id="38b0c94e-5b1a-4e0f-9616-d3b77ab6874a",
                deployment_id="2ff21e97-79cf-4794-9244-5bfb55b7a330",
                course_ids="d2l",
                user_ids="d2l",
                roles=_roles(test_user=(ROLE_LEARNER,)),
                assertion_audience="https://api.brightspace.com/auth/token",
                send_nbf=True,
                paging="offset",
                default_page_size=100,  # unverified
                max_page_size=200,  # unverified
                notes=(
                    "Client assertions must have aud https://api.brightspace.com/auth/token; "
                    "user ids <tenant-guid>_<n>; launches carry nbf. Paging is unverified "
                    "(limit/offset here)."
                ),
            ),
            Profile(
                # sakaiproject/sakai LTI13Servlet.java handleNamesAndRoles, getSakaiAccessToken.
                name="sakai",
                title="Sakai",
                product_family_code="sakai",
                # Sakai's issuer and subjects carry the server URL; a fixed one keeps the
                # synthetic users stable before the sandbox knows its port.
                issuer="https://sakai.example.edu",
                auth_path="/imsoidc/lti13/oidc_auth",
                token_path="/imsblis/lti13/token/7",
                jwks_path="/imsblis/lti13/keyset",
                memberships_path="/imsblis/lti13/namesandroles/{course}",
                client_id="0dcf6a9c-1c1d-4c2b-a4c4-4d5b1d0c8f21",
                deployment_id="1",
                course_ids="sakai",
                user_ids="sakai",
                # One mapped role per member (unverified for TAs: the sub-role alone).
                roles=_roles(ta=(ROLE_TEACHING_ASSISTANT,), test_user=(ROLE_LEARNER,)),
                always_fields=("lti11_legacy_user_id", "lis_person_sourcedid"),
                only_active=True,
                media_type="application/json",
                paging="start",
                default_page_size=None,
                max_page_size=None,
                role_filter="ignored",
                rlid="ignored",
                context_fields=("id", "title"),
                empty_body_when_empty=True,
                unauthorized_status=403,
                missing_scope_status=400,
                error_shape="sakai",
                notes=(
                    "application/json, context without label, URL-form user ids, EID as "
                    "lis_person_sourcedid, start/limit paging; role and rlid are ignored; an "
                    "empty page is an empty body; a missing or bad token gets 403."
                ),
            ),
            Profile(
                # KTibow/schoology-docs-md 1-Apps Platform/9-LTI Apps.md; chemvantage.
                name="schoology",
                title="Schoology (PowerSchool)",
                product_family_code="schoology",
                issuer="https://schoology.schoology.com",
                auth_path="/lti-service/authorize-redirect",
                token_path="/lti-service/access-token",
                jwks_path="/lti-service/.well-known/jwks",
                memberships_path=(
                    "/lti-service/tool/{client_id}/services/names-roles/v2p0/membership/{course}"
                ),
                client_id="8409082949",
                deployment_id="8409082949-1",
                course_ids="schoology",
                user_ids="schoology",
                roles=_roles(ta=(ROLE_INSTRUCTOR,), test_user=(ROLE_LEARNER,)),
                paging="offset",
                default_page_size=100,
                max_page_size=100,  # "maximum 100 records per request"
                rlid="refused",
                notes="At most 100 members a page; the rlid filter is refused with HTTP 400.",
            ),
            Profile(
                # openedx/xblock-lti-consumer plugin/views.py (LtiNrpsContextMembershipViewSet),
                # lti_1p3/consumer.py, extensions/rest_framework/serializers.py.
                name="openedx",
                title="Open edX (xblock-lti-consumer)",
                product_family_code="openedx",
                auth_path="/api/lti_consumer/v1/launch/",
                token_path="/api/lti_consumer/v1/token/6ab3a0e1-4b4c-4f0e-9a2e-3c1f5d7b9e11",
                jwks_path=(
                    "/api/lti_consumer/v1/public_keysets/6ab3a0e1-4b4c-4f0e-9a2e-3c1f5d7b9e11"
                ),
                memberships_path="/api/lti_consumer/v1/lti/{course}/memberships",
                client_id="2b7d7c1e-0a4f-4d33-8f55-9d1c6e0b4a77",
                deployment_id="1",
                course_ids="openedx",
                roles=_roles(
                    instructor=(ROLE_ADMINISTRATOR, ROLE_INSTRUCTOR),
                    ta=(ROLE_INSTRUCTOR,),
                    test_user=(ROLE_LEARNER,),
                ),
                launch_roles=MappingProxyType(
                    {
                        kind: (f"{LIS}/system/person#None", f"{LIS}/institution/person#None")
                        for kind in ("instructor", "ta", "test_user", "learner")
                    }
                ),
                name_fields=("name", "email"),  # one PII switch for both
                email_fields=("name", "email"),
                only_active=True,
                check_audience=False,
                check_issuer=False,  # aud and iss are not enforced
                token_type="bearer",
                client_error=("invalid_client", 400),
                error_descriptions=False,
                paging="page",
                default_page_size=None,
                max_page_size=None,
                role_filter="ignored",
                rlid="ignored",
                context_fields=("id",),
                error_shape="openedx",
                enrollment_limit=1000,  # LTI_NRPS_ACTIVE_ENROLLMENT_LIMIT
                notes=(
                    "context {id} only, name and email only with PII sharing, everything "
                    "without limit (limit/page paging with it), role and rlid ignored, and "
                    "403 above_response_limit for courses over 1000 enrolments."
                ),
            ),
        )
    }
)


# -- ids ------------------------------------------------------------------------------------


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()


def course_ids(
    profile: Profile, slug: str, index: int, context_id: str, resource_link_id: str, label: str
) -> tuple[str, str, str]:
    """(id in URLs, context id, resource link id) of the ``index``-th course, per platform."""
    style = profile.course_ids
    if style == "canvas":  # numeric course id in URLs; the context id is an opaque hash
        return str(101 + index), context_id, resource_link_id
    if style == "moodle":  # course id (site is 1) and the lti activity's instance id
        path = str(2 + index)
        return path, path, str(5 + index)
    if style == "blackboard":  # primary keys like _4_1 and a 32-hex context id
        return f"_{4 + index}_1", context_id[:32], f"_{44 + index}_1"
    if style == "d2l":  # org unit ids; D2L link ids end with the org unit
        ou = str(2273803 + index)
        return ou, ou, f"sandbox-{17557021 + index}_{ou}"
    if style == "sakai":  # site ids, content placements
        return slug, slug, f"content:{6 + index}"
    if style == "schoology":  # section ids
        section = str(7660186912 + index)
        return section, section, str(5528413007 + index)
    if style == "openedx":  # LTI configuration ids; the context is the course key
        key = "".join(ch for ch in label if ch.isalnum()) or slug
        block = _digest(slug, "block")[:32]
        return (
            str(42 + index),
            f"course-v1:Sandbox+{key}+2026",
            f"block-v1:Sandbox+{key}+2026+type@lti_consumer+block@{block}",
        )
    return slug, context_id, resource_link_id


def user_id(profile: Profile, base_id: str, serial: int, issuer: str) -> str:
    """A member's user id (= launch ``sub``) in the platform's format."""
    style = profile.user_ids
    if style == "numeric":  # Moodle user ids; admin is 2
        return str(3 + serial)
    if style == "hex":  # Blackboard: 32 hex digits
        return base_id.replace("-", "")
    if style == "d2l":  # <tenant guid>_<user id>
        return f"ca4d7f6b-e6bf-43ef-a263-6e76d66678ef_{1826270 + serial}"
    if style == "sakai":  # <server>/user/<sakai user id>
        return f"{issuer}/user/{base_id}"
    if style == "schoology":
        return str(123456789 + serial)
    return base_id


# -- members ----------------------------------------------------------------------------------


def member_kind(roles: list[str]) -> str:
    """instructor, ta, test_user or learner, from the sandbox's own role lists."""
    if ROLE_TEST_USER in roles:
        return "test_user"
    if ROLE_TEACHING_ASSISTANT in roles:
        return "ta"
    if ROLE_INSTRUCTOR in roles:
        return "instructor"
    return "learner"


def shape_member(
    profile: Profile,
    base: Mapping[str, Any],
    *,
    serial: int,
    privacy: str,
    issuer: str,
    admin: bool,
) -> dict[str, Any]:
    """The member as the platform's NRPS service lists it (fields per privacy level)."""
    kind = member_kind(list(base["roles"]))
    roles = [*profile.roles[kind], *(profile.admin_roles if admin else ())]
    values: dict[str, Any] = dict(base)
    if profile.user_ids == "sakai":
        values["lti11_legacy_user_id"] = base["user_id"]  # the raw Sakai user id
        values["lis_person_sourcedid"] = str(base.get("email", base["user_id"])).split("@")[0]
    if profile.name.startswith("moodle"):
        values["lis_person_sourcedid"] = base.get("lis_person_sourcedid", "")
    name = privacy in ("name_only", "public")
    email = privacy in ("email_only", "public")
    allowed = [
        *profile.always_fields,
        *(profile.name_fields if name else ()),
        *(profile.email_fields if email else ()),
        *(profile.public_fields if privacy == "public" else ()),
    ]
    member: dict[str, Any] = {
        "status": base["status"],
        "user_id": user_id(profile, str(base["user_id"]), serial, issuer),
    }
    for key in allowed:
        if key in values and key not in member:
            member[key] = values[key]
    member["roles"] = roles
    return member


def launch_roles(profile: Profile, member_roles: list[str], base_roles: list[str]) -> list[str]:
    """The roles of a launch: the member's roles plus institution/system roles."""
    extra = profile.launch_roles.get(member_kind(base_roles), ())
    return [*member_roles, *(r for r in extra if r not in member_roles)]


def nrps_message(
    profile: Profile, member: Mapping[str, Any], *, section: str, base: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``message`` entry of a member when the tool asks for a resource link (rlid)."""
    message: dict[str, Any] = {LTI_CLAIM + "message_type": "LtiResourceLinkRequest"}
    if profile.name.startswith("moodle"):
        # LTI 1.1 basic outcomes, when the activity has a grade item; no custom values.
        message["https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"] = {
            "lis_result_sourcedid": json.dumps(
                {"data": {"userid": member["user_id"]}, "hash": _digest(member["user_id"])}
            ),
            "lis_outcome_service_url": "/mod/lti/service.php",
        }
        return message
    custom: dict[str, Any] = {"section": section}
    if profile.name == "canvas":
        message["locale"] = "en"
        message["https://www.instructure.com/canvas_user_id"] = 1000 + (
            int(_digest(member["user_id"])[:6], 16) % 9000
        )
        message["https://www.instructure.com/canvas_user_login_id"] = base.get("email")
        # A custom parameter Canvas cannot expand stays as the literal variable.
        custom["person_sourcedid"] = base.get("lis_person_sourcedid", "$Person.sourcedId")
    message[LTI_CLAIM + "custom"] = custom
    return message


def launch_claims(
    profile: Profile,
    *,
    member: Mapping[str, Any],
    base: Mapping[str, Any],
    memberships_url: str,
    now: int,
) -> dict[str, Any]:
    """Claims this platform adds to (or changes in) a resource link launch."""
    claims: dict[str, Any] = {}
    nrps: dict[str, Any] = {
        "context_memberships_url": memberships_url,
        "service_versions": list(profile.nrps_versions),
    }
    if profile.nrps_claim_scope:
        nrps["scope"] = [SCOPE_NRPS]
    claims["https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"] = nrps
    if profile.send_nbf:
        claims["nbf"] = now - 5
    if profile.name == "canvas":
        claims["https://www.instructure.com/placement"] = None
        if "lis_person_sourcedid" not in base:  # Canvas leaves the variable unexpanded
            claims[LTI_CLAIM + "lis"] = {"person_sourcedid": "$Person.sourcedId"}
    elif profile.name.startswith("moodle"):
        claims[LTI_CLAIM + "ext"] = {"user_username": "sandbox-user", "lms": "moodle-2"}
        claims[LTI_CLAIM + "custom"] = {"context_memberships_url": memberships_url}
    elif profile.name == "blackboard":
        claims["https://blackboard.com/lti/claim/one_time_session_token"] = _digest(
            member["user_id"], now
        )[:32]
    elif profile.name == "d2l":
        numeric = str(member["user_id"]).rsplit("_", 1)[-1]
        claims["http://www.brightspace.com"] = {
            "tenant_id": "ca4d7f6b-e6bf-43ef-a263-6e76d66678ef",
            "user_id": int(numeric),
            "username": str(base.get("email", numeric)).split("@")[0],
        }
    return claims
