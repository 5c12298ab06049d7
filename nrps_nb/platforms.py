"""What nrps_nb knows about each LMS: registration presets and the platforms' NRPS quirks.

This is the one place for that knowledge; the CLI (``nrps-nb platform presets``), the
widgets, the docs (``docs/connect-your-lms.md``) and the NRPS client's error messages all
read it from here. Sources are in ``specs/CHECKLIST.md`` §3; values marked *unverified*
there are marked so in the notes below.

A preset fills the fields of ``nrps-nb platform add``. ``{base}`` stands for the LMS's base
URL (``--base-url``); a field that is ``None`` has no fixed value and must be given (its
``field_hints`` entry says where the LMS shows it).

Example::

    >>> PRESETS["d2l"].token_audience
    'https://api.brightspace.com/auth/token'
    >>> family_of("canvas-beta")
    'canvas'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

from .errors import NotAuthorized, ResourceLinkRefused, RosterTooLarge, ServiceError

__all__ = [
    "PRESETS",
    "Preset",
    "ServiceErrorAdvice",
    "advise_service_error",
    "describe_error_body",
    "family_of",
    "is_token_refusal",
    "presets_frame",
    "rlid_ignored_hint",
    "TOOL_SETUP",
    "ToolSetup",
    "tool_setup",
]


@dataclass(frozen=True)
class Preset:
    """The registration values of one LMS family (DESIGN §8 ``platform add --preset``)."""

    name: str
    family: str
    title: str
    issuer: str
    auth_login_url: str
    auth_token_url: str | None
    key_set_url: str | None
    token_audience: str | None = None  # None: the token URL (RFC 7523's default)
    needs_base_url: bool = False
    # The largest NRPS page the platform serves: nrps_nb asks for it by default. None: no
    # documented cap, so nrps_nb sends no ``limit`` and follows the platform's next links.
    max_page_size: int | None = None
    page_size_note: str = ""
    memberships_url_example: str = ""
    notes: str = ""
    field_hints: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def required_fields(self) -> tuple[str, ...]:
        """The fields this preset cannot fill in (they must be given explicitly)."""
        return tuple(
            name for name in ("auth_token_url", "key_set_url") if getattr(self, name) is None
        )


_CANVAS_NOTE = (
    "One issuer for every institution on this Canvas environment; the client_id is the "
    "developer key's id. Canvas caps NRPS pages at 50 members."
)

PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        p.name: p
        for p in (
            Preset(
                name="canvas-cloud",
                family="canvas",
                title="Canvas (Instructure cloud, production)",
                issuer="https://canvas.instructure.com",
                auth_login_url="https://sso.canvaslms.com/api/lti/authorize_redirect",
                auth_token_url="https://sso.canvaslms.com/login/oauth2/token",
                key_set_url="https://sso.canvaslms.com/api/lti/security/jwks",
                max_page_size=50,
                page_size_note="limit is capped at 50",
                memberships_url_example=(
                    "https://SCHOOL.instructure.com/api/lti/courses/ID/names_and_roles"
                ),
                notes=_CANVAS_NOTE,
            ),
            Preset(
                name="canvas-beta",
                family="canvas",
                title="Canvas (Instructure cloud, beta)",
                issuer="https://canvas.beta.instructure.com",
                auth_login_url="https://sso.beta.canvaslms.com/api/lti/authorize_redirect",
                auth_token_url="https://sso.beta.canvaslms.com/login/oauth2/token",
                key_set_url="https://sso.beta.canvaslms.com/api/lti/security/jwks",
                max_page_size=50,
                page_size_note="limit is capped at 50",
                memberships_url_example=(
                    "https://SCHOOL.beta.instructure.com/api/lti/courses/ID/names_and_roles"
                ),
                notes="Beta is refreshed from production: register it separately.",
            ),
            Preset(
                name="canvas-test",
                family="canvas",
                title="Canvas (Instructure cloud, test)",
                issuer="https://canvas.test.instructure.com",
                auth_login_url="https://sso.test.canvaslms.com/api/lti/authorize_redirect",
                auth_token_url="https://sso.test.canvaslms.com/login/oauth2/token",
                key_set_url="https://sso.test.canvaslms.com/api/lti/security/jwks",
                max_page_size=50,
                page_size_note="limit is capped at 50",
                memberships_url_example=(
                    "https://SCHOOL.test.instructure.com/api/lti/courses/ID/names_and_roles"
                ),
                notes="Test is refreshed from production: register it separately.",
            ),
            Preset(
                name="canvas-selfhosted",
                family="canvas",
                title="Canvas (self-hosted)",
                # The default lti_iss of config/security.yml; many sites change it (--issuer).
                issuer="https://canvas.instructure.com",
                auth_login_url="{base}/api/lti/authorize_redirect",
                auth_token_url="{base}/login/oauth2/token",
                key_set_url="{base}/api/lti/security/jwks",
                needs_base_url=True,
                max_page_size=50,
                page_size_note="limit is capped at 50",
                memberships_url_example="{base}/api/lti/courses/ID/names_and_roles",
                notes=(
                    "The issuer is lti_iss of config/security.yml: https://canvas.instructure.com "
                    "unless the admin changed it (then pass --issuer, often the site's URL)."
                ),
            ),
            Preset(
                name="moodle",
                family="moodle",
                title="Moodle",
                issuer="{base}",
                auth_login_url="{base}/mod/lti/auth.php",
                auth_token_url="{base}/mod/lti/token.php",
                key_set_url="{base}/mod/lti/certs.php",
                needs_base_url=True,
                page_size_note="no cap: without limit the whole roster comes in one response",
                memberships_url_example=(
                    "{base}/mod/lti/services.php/CourseSection/COURSE/bindings/TYPE/memberships"
                ),
                notes=(
                    "The issuer is the site's wwwroot exactly (it may have a path). The "
                    "deployment id is the tool type id ('3')."
                ),
            ),
            Preset(
                name="blackboard",
                family="blackboard",
                title="Blackboard Learn (Anthology)",
                issuer="https://blackboard.com",
                auth_login_url="https://developer.anthology.com/api/v1/gateway/oidcauth",
                auth_token_url="https://developer.anthology.com/api/v1/gateway/oauth2/jwttoken",
                key_set_url="https://developer.anthology.com/.well-known/jwks.json",
                page_size_note="cap unverified: nrps_nb follows Learn's next links",
                memberships_url_example=(
                    "https://LEARN-HOST/learn/api/v1/lti/external/namesandroles/_COURSE_1"
                ),
                notes=(
                    "One issuer and one gateway for every Learn site; the client_id is the "
                    "Developer Portal's Application ID. If your portal shows "
                    "developer.blackboard.com URLs, pass those instead."
                ),
            ),
            Preset(
                name="d2l",
                family="d2l",
                title="D2L Brightspace",
                issuer="{base}",
                auth_login_url="{base}/d2l/lti/authenticate",
                auth_token_url="https://auth.brightspace.com/core/connect/token",
                key_set_url="{base}/d2l/.well-known/jwks",
                token_audience="https://api.brightspace.com/auth/token",
                needs_base_url=True,
                page_size_note="cap unverified: nrps_nb follows Brightspace's next links",
                memberships_url_example=(
                    "{base}/d2l/api/lti/nrps/2.0/deployment/DEPLOYMENT/orgunit/OU/memberships"
                ),
                notes=(
                    "Client assertions go to auth.brightspace.com with the audience "
                    "https://api.brightspace.com/auth/token, not the token URL."
                ),
            ),
            Preset(
                name="sakai",
                family="sakai",
                title="Sakai",
                issuer="{base}",
                auth_login_url="{base}/imsoidc/lti13/oidc_auth",
                auth_token_url=None,
                key_set_url="{base}/imsblis/lti13/keyset",
                needs_base_url=True,
                page_size_note="no cap unless the site sets NRPS paging",
                memberships_url_example="{base}/imsblis/lti13/namesandroles/SITE_ID",
                notes=(
                    "The issuer is the server URL (plus /deployment/ID when a non-default "
                    "deployment id is configured). Sakai ignores rlid and role filters."
                ),
                field_hints=MappingProxyType(
                    {
                        "auth_token_url": (
                            "Sakai's token URL ends with the tool's id: copy the OIDC token URL "
                            "(…/imsblis/lti13/token/TOOL_ID) from the tool's page in "
                            "Administration Workspace → External Tools"
                        ),
                    }
                ),
            ),
            Preset(
                name="schoology",
                family="schoology",
                title="Schoology (PowerSchool)",
                issuer="https://schoology.schoology.com",
                auth_login_url="https://lti-service.svc.schoology.com/lti-service/authorize-redirect",
                auth_token_url="https://lti-service.svc.schoology.com/lti-service/access-token",
                key_set_url="https://lti-service.svc.schoology.com/lti-service/.well-known/jwks",
                max_page_size=100,
                page_size_note="at most 100 records per request",
                memberships_url_example=(
                    "https://lti-service.svc.schoology.com/lti-service/tool/CLIENT_ID/services/"
                    "names-roles/v2p0/membership/SECTION_ID"
                ),
                notes="One issuer for every district. Schoology refuses the rlid filter.",
            ),
            Preset(
                name="openedx",
                family="openedx",
                title="Open edX (xblock-lti-consumer)",
                issuer="{base}",
                auth_login_url="{base}/api/lti_consumer/v1/launch/",
                auth_token_url=None,
                key_set_url=None,
                needs_base_url=True,
                page_size_note="no cap: without limit every member comes back",
                memberships_url_example="{base}/api/lti_consumer/v1/lti/CONFIG_ID/memberships",
                notes=(
                    "The issuer is the LMS root URL. Rosters of courses above the site's "
                    "LTI_NRPS_ACTIVE_ENROLLMENT_LIMIT (default 1000) are refused."
                ),
                field_hints=MappingProxyType(
                    {
                        "auth_token_url": (
                            "copy 'OAuth Token URL' (…/api/lti_consumer/v1/token/CONFIG_ID) "
                            "from the LTI component in Studio"
                        ),
                        "key_set_url": (
                            "copy 'Keyset URL' (…/api/lti_consumer/v1/public_keysets/"
                            "CONFIG_ID) from the LTI component in Studio"
                        ),
                    }
                ),
            ),
            Preset(
                name="sandbox",
                family="sandbox",
                title="nrps_nb sandbox LMS (local)",
                issuer="{base}",
                auth_login_url="{base}/auth",
                auth_token_url="{base}/token",
                key_set_url="{base}/jwks",
                needs_base_url=True,
                max_page_size=100,
                page_size_note="limit is capped at 100",
                memberships_url_example="{base}/api/lti/courses/ID/memberships",
                notes="Start it with `nrps-nb sandbox`; it prints every value.",
            ),
        )
    }
)


def family_of(preset: str | None) -> str | None:
    """The LMS family of a preset name (``canvas-beta`` → ``canvas``), or None."""
    found = PRESETS.get(preset) if preset else None
    return found.family if found is not None else None


def presets_frame() -> pd.DataFrame:
    """Every preset as one row: what ``nrps-nb platform presets`` shows."""
    rows = [
        {
            "preset": p.name,
            "family": p.family,
            "title": p.title,
            "issuer": p.issuer,
            "auth_login_url": p.auth_login_url,
            "auth_token_url": p.auth_token_url,
            "key_set_url": p.key_set_url,
            "token_audience": p.token_audience or "(the token URL)",
            "max_page_size": p.max_page_size,
            "page_size": p.page_size_note,
            "needs_base_url": p.needs_base_url,
            "needs": list(p.required_fields()),
            "notes": p.notes,
        }
        for p in PRESETS.values()
    ]
    df = pd.DataFrame(rows)
    df["max_page_size"] = df["max_page_size"].astype("Int64")
    return df


# -- NRPS errors, read the way each platform means them ------------------------------------

# Canvas's 400 messages when rlid does not name a link of this tool (memberships_provider.rb).
_CANVAS_RLID_MESSAGES = (
    "rlid",
    "resourcelink",
    "resource link",
    "not configured for external tool launches",
)
_REFUSED_TOKEN_BODIES = ("invalid_authorization", "signature_error", "token_parse_failure")


@dataclass(frozen=True)
class ServiceErrorAdvice:
    """How to report a refused NRPS request: the error type and what the user should do."""

    error: type[ServiceError]
    advice: str


def is_token_refusal(status: int, body_text: str) -> bool:
    """A 403 that means "bad or expired access token" (Sakai), to be handled like a 401."""
    if status != 403:
        return False
    text = body_text[:500].lower()
    return any(marker in text for marker in _REFUSED_TOKEN_BODIES)


def advise_service_error(
    family: str | None, status: int, body: Any, *, rlid_sent: bool
) -> ServiceErrorAdvice | None:
    """The platform-specific reading of a refused NRPS request, or None for the generic one.

    ``body`` is the parsed JSON body (or the text, or None); ``family`` comes from the
    platform's preset.
    """
    error_code = body.get("error") if isinstance(body, dict) else None
    message = _message_of(body).lower()
    if status == 403 and error_code == "above_response_limit":  # Open edX (views.py)
        return ServiceErrorAdvice(
            RosterTooLarge,
            "the course has more enrollments than this Open edX site lets the Names and Roles "
            "service return (LTI_NRPS_ACTIVE_ENROLLMENT_LIMIT, 1000 by default); paging does "
            "not help: ask the site operator to raise that setting",
        )
    if rlid_sent and status == 400:
        if family == "schoology":
            return ServiceErrorAdvice(
                ResourceLinkRefused,
                "Schoology does not support the rlid filter: fetch the section's roster "
                "without rlid",
            )
        if family == "canvas" or any(m in message for m in _CANVAS_RLID_MESSAGES):
            return ServiceErrorAdvice(
                ResourceLinkRefused,
                "Canvas accepts only the resource_link.id of a launch of this tool in this "
                "course (see launches()); the link may have been deleted, copied or bound to "
                "another tool. Launch nrps_nb from the link again, or fetch without rlid",
            )
        return ServiceErrorAdvice(
            ResourceLinkRefused,
            "the platform refused the rlid filter: pass the resource_link.id of a launch "
            "from this course (the resource_link_id of launches()), or fetch without rlid",
        )
    if rlid_sent and status == 404 and family == "moodle":
        return ServiceErrorAdvice(
            ResourceLinkRefused,
            "Moodle answers 404 when the rlid is not the id of an External tool activity in "
            "this course: pass the launch's resource_link_id (or check the memberships URL)",
        )
    if status in (401, 403) and family == "moodle":
        return ServiceErrorAdvice(
            NotAuthorized,
            "Moodle issued an access token but its service refused it. Most often a web "
            "server or proxy in front of Moodle drops the Authorization header: with Apache "
            'and PHP-FPM/FastCGI add `CGIPassAuth On` (or `SetEnvIf Authorization "(.*)" '
            "HTTP_AUTHORIZATION=$1`), with nginx pass the header on; ask the Moodle "
            "administrator. Also check that the tool's 'IMS LTI Names and Role Provisioning' "
            "setting is 'Use this service to retrieve members' information'",
        )
    if status == 401 and family == "canvas":
        return ServiceErrorAdvice(
            NotAuthorized,
            "enable 'Can retrieve user data associated with the context the tool is installed "
            "in' (the Names and Roles scope) on the developer key, and check that the token "
            "URL is on sso.canvaslms.com or on the same host as the memberships URL",
        )
    return None


def rlid_ignored_hint(family: str | None) -> str:
    """Why a roster fetched with rlid came back without any ``message`` section."""
    if family == "sakai":
        return "Sakai scopes NRPS to the site and ignores rlid"
    if family == "openedx":
        return "Open edX ignores rlid"
    return "the platform ignored rlid"


def describe_error_body(body: Any) -> str:
    """A short summary of an NRPS error body in any platform's shape ("" if none).

    OAuth-style ``{error, error_description}``, Canvas ``{errors: {type, message}}``, Moodle
    ``{status, reason, request}``, Open edX ``{error, explanation}``, or plain text (an HTML
    page is not worth quoting).
    """
    if isinstance(body, str):
        text = " ".join(body.split())
        return "" if text.startswith("<") else text[:200]
    if not isinstance(body, dict):
        return ""
    code = body.get("error") if isinstance(body.get("error"), str) else None
    text = _message_of(body)
    if code and text and text != code:
        return f"{code}: {text}"[:300]
    return (text or code or json.dumps(body, default=str))[:300]


def _message_of(body: Any) -> str:
    if isinstance(body, str):
        return body[:500]
    if not isinstance(body, dict):
        return ""
    for key in ("error_description", "message", "explanation", "reason"):
        value = body.get(key)
        if isinstance(value, str):
            return value
    errors = body.get("errors")
    if isinstance(errors, dict) and isinstance(errors.get("message"), str):
        return str(errors["message"])
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message", ""))
    return ""


# -- Registering nrps_nb in each LMS: where its form asks for the tool's values --------------

TOOL_VALUES = (
    "login_url",
    "redirect_uri",
    "target_link_uri",
    "jwks_url",
    "public_jwk",
    "public_pem",
)


@dataclass(frozen=True)
class ToolSetup:
    """Where an LMS registers an LTI 1.3 tool, and which of its form fields take which value.

    ``fields`` pairs the label of each field of the LMS's form with one of ``TOOL_VALUES``
    (the tool's URLs and public key, which ``PlatformSetup()`` and the setup page show);
    ``settings`` are the other choices on that form, ``afterwards`` where the LMS then shows
    the values nrps_nb needs back (client_id, deployment id, its own URLs).
    """

    where: str
    fields: tuple[tuple[str, str], ...]
    settings: tuple[str, ...] = ()
    afterwards: tuple[str, ...] = ()


TOOL_SETUP: Mapping[str, ToolSetup] = MappingProxyType(
    {
        "canvas": ToolSetup(
            where="Admin → Developer Keys → + Developer Key → + LTI Key (Method: Manual Entry)",
            fields=(
                ("Redirect URIs", "redirect_uri"),
                ("Target Link URI", "target_link_uri"),
                ("OpenID Connect Initiation Url", "login_url"),
                ("JWK Method 'Public JWK' → Public JWK", "public_jwk"),
                ("or JWK Method 'Public JWK URL' (if Canvas can reach it)", "jwks_url"),
            ),
            settings=(
                "LTI Advantage Services: turn on 'Can retrieve user data associated with the "
                "context the tool is installed in'",
                "Additional Settings → Privacy Level: Public (names and emails in rosters)",
                "Placements: Course Navigation; save the key and switch it ON",
            ),
            afterwards=(
                "client_id: the number in the key's Details column",
                "install it: course (or account) Settings → Apps → View App Configurations → "
                "+ App → Configuration Type 'By Client ID'",
                "deployment id: the app's gear menu → Deployment Id",
            ),
        ),
        "moodle": ToolSetup(
            where=(
                "Site administration → Plugins → Activity modules → External tool → Manage "
                "tools → configure a tool manually"
            ),
            fields=(
                ("Tool URL", "target_link_uri"),
                ("Public key type 'RSA key' → Public key", "public_pem"),
                ("or Public key type 'Keyset URL' → Public keyset", "jwks_url"),
                ("Initiate login URL", "login_url"),
                ("Redirection URI(s)", "redirect_uri"),
            ),
            settings=(
                "LTI version: LTI 1.3",
                "Default launch container: New window",
                "Services → IMS LTI Names and Role Provisioning: 'Use this service to retrieve "
                "members' information as per privacy settings'",
                "Privacy → Share launcher's name with tool / Share launcher's email with tool: "
                "Always",
            ),
            afterwards=(
                "save, then the tool's 'View configuration details' icon shows Platform ID "
                "(the issuer), Client ID, Deployment ID and Moodle's URLs",
                "add it to a course as an External tool activity and open it once",
            ),
        ),
        "blackboard": ToolSetup(
            where="Anthology Developer Portal → My Applications → Register LTI 1.3 tool",
            fields=(
                ("Login Initiation URL", "login_url"),
                ("Tool Redirect URL(s)", "redirect_uri"),
                ("Tool JWKS URL", "jwks_url"),
            ),
            settings=(
                "Domain(s): the host of the redirect URL",
                "in Learn: System Admin → Integrations → LTI Tool Providers → Register LTI "
                "1.3/Advantage Tool, with the portal's Application ID",
                "Institution Policies: send user name and email; allow the membership service",
            ),
            afterwards=(
                "client_id: the Application ID on the portal",
                "deployment id: shown in Learn once the tool is registered there",
            ),
        ),
        "d2l": ToolSetup(
            where="Admin Tools → Manage Extensibility → LTI Advantage → Register Tool (Standard)",
            fields=(
                ("Redirect URLs", "redirect_uri"),
                ("OpenID Connect Login URL", "login_url"),
                ("Target Link URI", "target_link_uri"),
                ("Keyset URL", "jwks_url"),
            ),
            settings=(
                "Extensions: tick Names and Role Provisioning Services",
                "then View Deployments → New Deployment: tick Name and Email under Security "
                "Settings and add the org units",
            ),
            afterwards=(
                "the tool's page shows the Client Id, Issuer and Brightspace's URLs",
                "the deployment's page shows the Deployment Id",
            ),
        ),
        "sakai": ToolSetup(
            where="Administration Workspace → External Tools → Install LTI 1.x Tool",
            fields=(
                ("Launch URL", "target_link_uri"),
                ("LTI 1.3 Tool OIDC Login Initiation URL", "login_url"),
                ("LTI 1.3 Tool Redirect Endpoint(s)", "redirect_uri"),
                ("LTI 1.3 Tool Keyset URL", "jwks_url"),
                ("or LTI 1.3 Tool Public Key", "public_pem"),
            ),
            settings=(
                "tick 'LTI 1.3'",
                "Services: let the tool retrieve the roster",
                "Privacy: send names and email addresses",
            ),
            afterwards=(
                "save: the tool's page shows the LTI 1.3 Client ID, Deployment ID, issuer and "
                "the token URL (…/imsblis/lti13/token/TOOL_ID)",
            ),
        ),
        "schoology": ToolSetup(
            where="App Center → Developer apps → Add App → LTI 1.3 App",
            fields=(
                ("OIDC Login Initiation URL", "login_url"),
                ("Redirect URL(s)", "redirect_uri"),
                ("Target Link URI", "target_link_uri"),
                ("JWK Set URL", "jwks_url"),
            ),
            settings=(
                "LTI Advantage services: Names and Role Provisioning",
                "install the app for the organisation, then add it to a course",
            ),
            afterwards=("the app's page shows the client ID; the install shows the deployment id",),
        ),
        "openedx": ToolSetup(
            where=(
                "Studio → a unit → Add New Component → Advanced → LTI Consumer → Edit (first add "
                '"lti_consumer" to Settings → Advanced Settings → Advanced Module List)'
            ),
            fields=(
                ("Tool Launch URL", "target_link_uri"),
                ("Tool Initiate Login URL", "login_url"),
                ('Registered Redirect URIs (a JSON list: ["…"])', "redirect_uri"),
                ("Tool Public Key Mode 'Public Key' → Tool Public Key", "public_pem"),
                ("or Tool Public Key Mode 'Keyset URL' → Tool Keyset URL", "jwks_url"),
            ),
            settings=(
                "LTI Version: LTI 1.3",
                "Enable LTI NRPS: True",
                "Request user's username / email: True",
            ),
            afterwards=(
                "save: the component shows the Client ID, Deployment ID, Keyset URL, Access "
                "Token URL and Login URL",
            ),
        ),
        "sandbox": ToolSetup(
            where="nothing to paste: the sandbox registers the tool itself",
            fields=(),
            settings=(
                "start it for the tool's base URL: nrps-nb sandbox --tool-url URL (or "
                "SandboxServer(SandboxConfig(tool_url=URL)) in Python)",
            ),
            afterwards=("it prints issuer, client_id, deployment_id and every URL",),
        ),
    }
)

_GENERIC_SETUP = ToolSetup(
    where="the LMS's form for an LTI 1.3 tool (developer key, external tool, registration)",
    fields=(
        ("OIDC login / initiation URL", "login_url"),
        ("Redirect URI(s)", "redirect_uri"),
        ("Target link URI / launch URL", "target_link_uri"),
        ("Public key (JWK)", "public_jwk"),
        ("or public key (PEM)", "public_pem"),
        ("or public keyset (JWKS) URL", "jwks_url"),
    ),
    settings=(
        "enable the Names and Role Provisioning Service",
        "open the tool in a new window",
    ),
    afterwards=(
        "the LMS then shows its issuer, the client_id, a deployment id and its auth, token "
        "and keyset URLs",
    ),
)


def tool_setup(preset: str | None) -> ToolSetup:
    """How to register nrps_nb in the LMS of ``preset`` (a generic recipe for unknown ones).

    >>> tool_setup("moodle").fields[0]
    ('Tool URL', 'target_link_uri')
    """
    return TOOL_SETUP.get(family_of(preset) or "", _GENERIC_SETUP)
