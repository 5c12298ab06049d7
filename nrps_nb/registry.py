"""Platform, deployment and course records, and presets for known LMS families.

A platform registration is keyed by ``(issuer, client_id)``: several LMS tenants share one
issuer (Canvas cloud, Blackboard, Schoology), so the issuer alone is not enough.

The presets themselves (each LMS's endpoints, token audience and page-size cap) and the
platforms' quirks live in ``nrps_nb.platforms``; ``preset_urls`` turns one into the fields
of a registration.

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

import httpx

from .errors import ConfigError, InsecureURLError
from .platforms import PRESETS, Preset

__all__ = [
    "PRESETS",
    "Course",
    "Platform",
    "Preset",
    "check_url",
    "is_loopback_host",
    "preset_field_hint",
    "preset_urls",
]


def preset_urls(name: str, base_url: str | None = None) -> dict[str, Any]:
    """The registration fields of preset ``name`` (with ``{base}`` filled in).

    A field the preset cannot know (Sakai's and Open edX's token URLs carry the tool's id)
    is ``None``: the caller must give it; :func:`preset_field_hint` says where to find it.
    """
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

    def fill(template: str | None) -> str | None:
        return template.format(base=base) if template is not None else None

    return {
        "issuer": fill(preset.issuer),
        "auth_login_url": fill(preset.auth_login_url),
        "auth_token_url": fill(preset.auth_token_url),
        "key_set_url": fill(preset.key_set_url),
        "token_audience": preset.token_audience,
        "max_page_size": preset.max_page_size,
    }


def preset_field_hint(preset: str | None, field_name: str) -> str:
    """Where the LMS of ``preset`` shows a value the preset cannot fill in ("" if nothing)."""
    found = PRESETS.get(preset) if preset else None
    hint = found.field_hints.get(field_name) if found is not None else None
    return f": {hint}" if hint else ""


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
    if any(ch.isspace() for ch in url):
        raise ConfigError(f"the {what} {url!r} contains a space; URLs have none")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
        httpx.URL(url)  # what httpx would refuse later (control characters, bad hosts, ...)
    except (ValueError, httpx.InvalidURL) as exc:
        reason = f" ({exc})" if isinstance(exc, httpx.InvalidURL) else ""
        raise ConfigError(f"the {what} {url!r} is not a valid URL{reason}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"the {what} {url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise InsecureURLError(
            f"the {what} {url!r} uses plain http:// to a non-loopback host; use https:// "
            "(or, for a trusted test LMS, register the platform with --allow-insecure-http / "
            "allow_insecure_http=True)"
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

    @property
    def display_name(self) -> str:
        """The course as "Title (LABEL)" where the LMS sent both, else what it did send."""
        if self.context_title and self.context_label:
            return f"{self.context_title} ({self.context_label})"
        return (
            self.context_title
            or self.context_label
            or self.context_id
            or self.context_memberships_url
        )

    def _repr_html_(self) -> str:
        from html import escape

        origin = "a launch" if self.source == "launch" else "added by its memberships URL"
        return (
            f"<b>Course {self.id}</b>: {escape(self.display_name)} on platform "
            f"<b>{escape(self.platform)}</b> ({escape(origin)})"
            f"<br>roster: <code>{escape(self.context_memberships_url)}</code>"
        )
