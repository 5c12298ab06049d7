"""Platform, deployment and course records, and presets for known LMS families.

A platform registration is keyed by ``(issuer, client_id)``: several LMS tenants share one
issuer (Canvas cloud, Blackboard, Schoology), so the issuer alone is not enough.

This module is the one place that knows each LMS's endpoints and quirks; the CLI, widgets
and notebooks all read presets from here.

Example::

    >>> p = preset_urls("moodle", base_url="https://moodle.example.edu")
    >>> p["auth_token_url"]
    'https://moodle.example.edu/mod/lti/token.php'
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError, InsecureURLError

__all__ = [
    "PRESETS",
    "Course",
    "Platform",
    "Preset",
    "check_url",
    "is_loopback_host",
    "preset_urls",
]


@dataclass(frozen=True)
class Preset:
    """Endpoints of one LMS family. ``{base}`` is replaced by the user's base URL."""

    name: str
    title: str
    issuer: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    token_audience: str | None = None
    needs_base_url: bool = False
    max_page_size: int | None = None  # None: the platform sends everything without a limit
    memberships_url_example: str = ""
    notes: str = ""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="canvas-cloud",
            title="Canvas (Instructure cloud)",
            issuer="https://canvas.instructure.com",
            auth_login_url="https://sso.canvaslms.com/api/lti/authorize_redirect",
            auth_token_url="https://sso.canvaslms.com/login/oauth2/token",
            key_set_url="https://sso.canvaslms.com/api/lti/security/jwks",
            max_page_size=50,
            memberships_url_example="https://SCHOOL.instructure.com/api/lti/courses/ID/names_and_roles",
            notes="One issuer for every institution; the client_id is the developer key id.",
        ),
        Preset(
            name="canvas-beta",
            title="Canvas (Instructure beta)",
            issuer="https://canvas.beta.instructure.com",
            auth_login_url="https://sso.beta.canvaslms.com/api/lti/authorize_redirect",
            auth_token_url="https://sso.beta.canvaslms.com/login/oauth2/token",
            key_set_url="https://sso.beta.canvaslms.com/api/lti/security/jwks",
            max_page_size=50,
            memberships_url_example="https://SCHOOL.beta.instructure.com/api/lti/courses/ID/names_and_roles",
        ),
        Preset(
            name="canvas-test",
            title="Canvas (Instructure test)",
            issuer="https://canvas.test.instructure.com",
            auth_login_url="https://sso.test.canvaslms.com/api/lti/authorize_redirect",
            auth_token_url="https://sso.test.canvaslms.com/login/oauth2/token",
            key_set_url="https://sso.test.canvaslms.com/api/lti/security/jwks",
            max_page_size=50,
            memberships_url_example="https://SCHOOL.test.instructure.com/api/lti/courses/ID/names_and_roles",
        ),
        Preset(
            name="canvas-selfhosted",
            title="Canvas (self-hosted)",
            # The default of config/security.yml; admins may change it (then pass --issuer).
            issuer="https://canvas.instructure.com",
            auth_login_url="{base}/api/lti/authorize_redirect",
            auth_token_url="{base}/login/oauth2/token",
            key_set_url="{base}/api/lti/security/jwks",
            needs_base_url=True,
            max_page_size=50,
            memberships_url_example="{base}/api/lti/courses/ID/names_and_roles",
            notes="The issuer stays https://canvas.instructure.com unless lti_iss was changed.",
        ),
        Preset(
            name="moodle",
            title="Moodle",
            issuer="{base}",
            auth_login_url="{base}/mod/lti/auth.php",
            auth_token_url="{base}/mod/lti/token.php",
            key_set_url="{base}/mod/lti/certs.php",
            needs_base_url=True,
            max_page_size=None,
            memberships_url_example=(
                "{base}/mod/lti/services.php/CourseSection/COURSE/bindings/TYPE/memberships"
            ),
            notes="The issuer is the site's wwwroot, e.g. https://moodle.example.edu.",
        ),
        Preset(
            name="sandbox",
            title="nrps_nb sandbox LMS (local)",
            issuer="{base}",
            auth_login_url="{base}/auth",
            auth_token_url="{base}/token",
            key_set_url="{base}/jwks",
            needs_base_url=True,
            max_page_size=100,
            memberships_url_example="{base}/api/lti/courses/ID/memberships",
            notes="Start it with `nrps-nb sandbox`; it prints every value below.",
        ),
    )
}


def preset_urls(name: str, base_url: str | None = None) -> dict[str, Any]:
    """The registration fields of preset ``name`` (with ``{base}`` filled in)."""
    try:
        preset = PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(f"unknown preset {name!r}; known presets: {known}") from None
    if preset.needs_base_url:
        if not base_url:
            raise ConfigError(
                f"preset {name!r} needs the LMS base URL (--base-url https://lms.example.edu)"
            )
        base = check_url(base_url, what="base URL").rstrip("/")
    else:
        base = ""
    out: dict[str, Any] = {
        "issuer": preset.issuer.format(base=base),
        "auth_login_url": preset.auth_login_url.format(base=base),
        "auth_token_url": preset.auth_token_url.format(base=base),
        "key_set_url": preset.key_set_url.format(base=base),
        "token_audience": preset.token_audience,
        "max_page_size": preset.max_page_size,
    }
    return out


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and the loopback ranges 127.0.0.0/8 and ::1."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, what: str = "URL", allow_insecure_http: bool = False) -> str:
    """Return ``url`` if it is an absolute https URL (or http on loopback), else raise.

    >>> check_url("http://127.0.0.1:8766/token")
    'http://127.0.0.1:8766/token'
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"the {what} is empty; give an absolute https:// URL")
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"the {what} {url!r} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"the {what} {url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise InsecureURLError(
            f"the {what} {url!r} uses plain http:// to a non-loopback host; use https:// "
            "(or pass --allow-insecure-http / allow_insecure_http=True for a trusted test LMS)"
        )
    return url


@dataclass(frozen=True)
class Platform:
    """A platform registration: one LMS, one client_id of nrps_nb in it."""

    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str | None = None
    platform_key: dict[str, Any] | None = field(default=None, repr=False)
    token_audience: str | None = None
    deployment_ids: tuple[str, ...] = ()
    auto_deployments: bool = False
    preset: str | None = None
    max_page_size: int | None = None
    allow_insecure_http: bool = False

    @property
    def audience(self) -> str:
        """The ``aud`` of client assertions: the token URL unless the platform says otherwise."""
        return self.token_audience or self.auth_token_url

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
            for k, v in (
                ("issuer", self.issuer),
                ("client_id", self.client_id),
                ("auth login URL", self.auth_login_url),
                ("token URL", self.auth_token_url),
                ("token audience", self.audience),
                ("key set URL", self.key_set_url or "(static key)"),
                ("deployments", ", ".join(self.deployment_ids) or "(none yet)"),
            )
        )
        return f"<b>Platform {escape(self.name)}</b><table>{rows}</table>"

    def to_row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "auth_login_url": self.auth_login_url,
            "auth_token_url": self.auth_token_url,
            "key_set_url": self.key_set_url,
            "platform_key": json.dumps(self.platform_key) if self.platform_key else None,
            "token_audience": self.token_audience,
            "auto_deployments": int(self.auto_deployments),
            "preset": self.preset,
            "max_page_size": self.max_page_size,
            "allow_insecure_http": int(self.allow_insecure_http),
        }


@dataclass(frozen=True)
class Course:
    """A course (LTI context) whose roster can be fetched through its memberships URL."""

    id: int
    platform: str
    context_memberships_url: str
    context_id: str | None = None
    context_label: str | None = None
    context_title: str | None = None
    deployment_id: str | None = None
    source: str = "manual"
    differences_url: str | None = None
