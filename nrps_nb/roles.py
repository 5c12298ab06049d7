"""LTI role vocabulary: role URIs as platforms really send them, normalized in one place.

Platforms send full LIS v2 URIs (``.../membership#Learner``), but also short context role
names (``Learner``), LTI 1.1 URNs (``urn:lti:role:ims/lis/Instructor``), sub-roles
(``.../membership/Instructor#TeachingAssistant``) and, in very old Canvas, a lower-case
principal (``membership/instructor#...``). The NRPS client (role filters) and the roster
frame (``roles`` and ``role`` columns) both read roles through this module.

Example::

    >>> normalize_role("urn:lti:role:ims/lis/Learner")
    'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner'
    >>> has_role([TA_ROLE], normalize_role("Instructor"))  # a sub-role implies its principal
    True
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ConfigError

__all__ = [
    "CONTEXT_ROLES",
    "LIS",
    "MEMBERSHIP",
    "TA_ROLE",
    "TEST_USER",
    "context_role",
    "has_role",
    "normalize_role",
    "normalize_roles",
    "role_filter_uri",
]

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
MEMBERSHIP = LIS + "membership#"
_SUBROLE_PREFIX = LIS + "membership/"
TA_ROLE = _SUBROLE_PREFIX + "Instructor#TeachingAssistant"
TEST_USER = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"

CONTEXT_ROLES = (
    "Administrator",
    "ContentDeveloper",
    "Instructor",
    "Learner",
    "Mentor",
    "Manager",
    "Member",
    "Officer",
)
_CONTEXT_BY_LOWER = {r.lower(): r for r in CONTEXT_ROLES}
_SYSTEM_ROLES = {"sysadmin": "SysAdmin", "syssupport": "SysSupport", "creator": "Creator",
                 "accountadmin": "AccountAdmin", "user": "User", "none": "None",
                 "administrator": "Administrator"}  # fmt: skip
_INSTITUTION_ROLES = {r.lower(): r for r in (
    "Student", "Faculty", "Member", "Learner", "Instructor", "Mentor", "Staff", "Alumni",
    "ProspectiveStudent", "Guest", "Other", "Administrator", "Observer", "None",
)}  # fmt: skip
# Precedence of the one-word ``role`` column (DESIGN §5).
_ROLE_ORDER = ("Instructor", "Learner", "Mentor", "ContentDeveloper", "Administrator", "Member")


def _principal(name: str) -> str:
    return _CONTEXT_BY_LOWER.get(name.lower(), name)


def normalize_role(role: str) -> str:
    """A role as its full URI: short names, LTI 1.1 URNs and sub-role shorthands expanded.

    >>> normalize_role("Learner")
    'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner'
    >>> normalize_role("urn:lti:role:ims/lis/TeachingAssistant")
    'http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant'
    """
    r = role.strip()
    low = r.lower()
    if "://" in r:
        # Canonical case for the context principal (old Canvas sent membership/instructor#...).
        if low.startswith(MEMBERSHIP):
            return MEMBERSHIP + _principal(r[len(MEMBERSHIP) :])
        if low.startswith(_SUBROLE_PREFIX):
            principal, sep, sub = r[len(_SUBROLE_PREFIX) :].partition("#")
            if sep:
                return f"{_SUBROLE_PREFIX}{_principal(principal)}#{sub}"
        return r
    if low.startswith("urn:lti:") and r.endswith("/"):
        return r  # a bare vocabulary prefix names no role; keep it as sent
    if low.startswith("urn:lti:role:ims/lis/"):
        r = r[len("urn:lti:role:ims/lis/") :]
        low = r.lower()
    elif low.startswith("urn:lti:instrole:ims/lis/"):
        name = r[len("urn:lti:instrole:ims/lis/") :]
        return LIS + "institution/person#" + _INSTITUTION_ROLES.get(name.lower(), name)
    elif low.startswith("urn:lti:sysrole:ims/lis/"):
        name = r[len("urn:lti:sysrole:ims/lis/") :]
        return LIS + "system/person#" + _SYSTEM_ROLES.get(name.lower(), name)
    if low in ("teachingassistant", "instructor/teachingassistant"):
        return TA_ROLE
    if low in _CONTEXT_BY_LOWER:
        return MEMBERSHIP + _CONTEXT_BY_LOWER[low]
    for sep in ("/", "#"):  # sub-role shorthand: Learner/NonCreditLearner, Learner#NonCredit...
        principal, found, sub = r.partition(sep)
        if found and principal.lower() in _CONTEXT_BY_LOWER:
            return f"{_SUBROLE_PREFIX}{_CONTEXT_BY_LOWER[principal.lower()]}#{sub}"
    return r


def normalize_roles(roles: object) -> list[str]:
    """A member's roles as a list of full URIs (a single string or junk is tolerated)."""
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list | tuple):
        return []
    out: list[str] = []
    for role in roles:
        if isinstance(role, str) and role.strip():
            full = normalize_role(role)
            if full not in out:
                out.append(full)
    return out


# Words people type for a role that LTI names otherwise: named in the error, never guessed.
_ROLE_HINTS = {"teacher": "Instructor", "student": "Learner", "admin": "Administrator",
               "observer": "Mentor", "designer": "ContentDeveloper"}  # fmt: skip


def role_filter_uri(role: object) -> str:
    """The role URI to filter a roster by: ``Learner``, ``TA`` or a URI as given.

    A word that is no LTI role (``Teacher``) is a :class:`ConfigError` naming the roles there
    are, rather than a filter that silently matches nobody.

    >>> role_filter_uri("ta")
    'http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant'
    """
    if not isinstance(role, str) or not role.strip():
        raise ConfigError(f"a role filter must be a role name or URI, not {role!r}")
    role = role.strip()
    if role.lower() == "ta":
        return TA_ROLE
    uri = normalize_role(role)
    if "://" in uri or uri.lower().startswith("urn:"):
        return uri
    hint = _ROLE_HINTS.get(role.lower())
    raise ConfigError(
        f"{role!r} is not an LTI role"
        + (f" (LTI calls it {hint!r})" if hint else "")
        + f"; filter by one of {', '.join(CONTEXT_ROLES)}, TA, a sub-role such as "
        "Instructor#TeachingAssistant, or a full role URI"
    )


def has_role(roles: Sequence[str], wanted: str) -> bool:
    """Whether normalized ``roles`` hold ``wanted`` (a full URI).

    A sub-role implies its principal (``membership/Instructor#TeachingAssistant`` is an
    Instructor), as LTI 1.3 says; the other way round does not hold.
    """
    if wanted in roles:
        return True
    if wanted.startswith(MEMBERSHIP):
        prefix = f"{_SUBROLE_PREFIX}{wanted[len(MEMBERSHIP) :]}#"
        return any(r.startswith(prefix) for r in roles)
    return False


def context_role(roles: Sequence[str]) -> str:
    """The member's most specific context role, short (DESIGN §5)."""
    names: set[str] = set()
    for role in roles:
        if role == TA_ROLE:
            return "TeachingAssistant"
        if role.startswith(MEMBERSHIP):
            names.add(role[len(MEMBERSHIP) :])
        elif role.startswith(_SUBROLE_PREFIX):
            names.add(role[len(_SUBROLE_PREFIX) :].split("#", 1)[0])
    for name in _ROLE_ORDER:
        if name in names:
            return name
    return "Other"
