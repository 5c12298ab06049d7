"""``PlatformSetup()``: register an LMS from a form, and see what to paste into the LMS.

Pick a preset (the list is ``nrps_nb.platforms.PRESETS``, read when the form is built, plus
"Custom"), type the LMS's base URL where the preset needs one, and the other fields fill in;
URL fields are checked as you type; Save registers the platform in the workspace. Below the
form: the tool's values for the LMS's own form (login URL, redirect URI, target link URI, JWKS
URL, public JWK and PEM), each with a Copy button, and where that LMS asks for them.

The form's logic is in plain functions (``preset_values``, ``field_error``, ``form_errors``)
so it is testable without a browser.

Example::

    >>> setup = PlatformSetup(preset="moodle")                              # doctest: +SKIP
    >>> setup.base_url.value = "https://moodle.example.edu"                 # doctest: +SKIP
    >>> setup.auth_token_url.value                                          # doctest: +SKIP
    'https://moodle.example.edu/mod/lti/token.php'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

import ipywidgets as w

from ..errors import ConfigError, NrpsNbError
from ..platforms import PRESETS, tool_setup
from ..registry import Platform, check_url, preset_field_hint, preset_urls
from ..workspace import Workspace
from ._common import (
    check_tool_url,
    copy_button,
    describe_error,
    detect_tool_url,
    message_html,
    resolve_workspace,
)

__all__ = ["CUSTOM", "PREFILLED", "PlatformSetup", "field_error", "form_errors", "preset_values"]

CUSTOM = "custom"
# The fields a preset fills in (and the user may still change).
PREFILLED = ("issuer", "auth_login_url", "auth_token_url", "key_set_url", "token_audience")
_URL_FIELDS = ("base_url", "issuer", "auth_login_url", "auth_token_url", "key_set_url")
_LABELS = {
    "name": "Name",
    "base_url": "LMS base URL",
    "client_id": "Client ID",
    "issuer": "Issuer",
    "auth_login_url": "Auth login URL",
    "auth_token_url": "Token URL",
    "key_set_url": "Key set URL",
    "token_audience": "Token audience",
    "deployment_ids": "Deployment ID(s)",
    "platform_key": "Platform key",
}
_PLACEHOLDERS = {
    "name": "a short name, e.g. canvas",
    "base_url": "https://lms.example.edu",
    "client_id": "the client ID the LMS gave nrps_nb",
    "issuer": "https://…",
    "auth_login_url": "https://…",
    "auth_token_url": "https://…",
    "key_set_url": "https://…",
    "token_audience": "(the token URL)",
    "deployment_ids": "comma-separated; optional",
    "platform_key": "instead of a key set URL: the LMS's public JWK, JWKS or PEM",
}
_WHAT = {
    "base_url": "base URL",
    "issuer": "issuer",
    "auth_login_url": "auth login URL",
    "auth_token_url": "token URL",
    "key_set_url": "key set URL",
}


def preset_values(preset: str, base_url: str = "") -> dict[str, str]:
    """The values preset ``preset`` fills in for ``base_url`` ('' where it cannot know one).

    >>> preset_values("moodle", "https://moodle.example.edu/")["key_set_url"]
    'https://moodle.example.edu/mod/lti/certs.php'
    >>> preset_values("moodle", "")["key_set_url"]
    ''
    """
    if preset == CUSTOM or preset not in PRESETS:
        return dict.fromkeys(PREFILLED, "")
    if PRESETS[preset].needs_base_url and field_error("base_url", base_url, required=True):
        return dict.fromkeys(PREFILLED, "")
    try:
        values = preset_urls(preset, base_url.strip() or None)
    except ConfigError:
        return dict.fromkeys(PREFILLED, "")
    return {k: str(values.get(k) or "") for k in PREFILLED}


def field_error(field: str, value: str, *, required: bool = False) -> str | None:
    """What is wrong with one field's value (None when nothing is).

    >>> field_error("auth_token_url", "moodle.example.edu/token")
    "the token URL 'moodle.example.edu/token' is not an absolute http(s) URL"
    """
    text = value.strip()
    if not text:
        return f"required: {_LABELS.get(field, field).lower()}" if required else None
    if field in _URL_FIELDS:
        try:
            check_url(text, what=_WHAT[field])
        except ConfigError as exc:
            return str(exc)
    elif field == "token_audience" and "://" in text:
        try:
            check_url(text, what="token audience")
        except ConfigError as exc:
            return str(exc)
    return None


def form_errors(values: Mapping[str, str], preset: str | None) -> dict[str, str]:
    """Every problem of a filled-in form, by field (empty when it can be saved)."""
    errors: dict[str, str] = {}
    found = PRESETS.get(preset or "")
    required = {"name", "client_id", "issuer", "auth_login_url", "auth_token_url"}
    if found is not None and found.needs_base_url:
        required.add("base_url")
    if not values.get("platform_key", "").strip():
        required.add("key_set_url")
    for field in _LABELS:
        problem = field_error(field, values.get(field, ""), required=field in required)
        if problem is not None:
            if field == "base_url" and found is not None and not values.get(field, "").strip():
                problem = f"{found.title} needs the LMS's base URL, e.g. https://lms.example.edu"
            elif field in PREFILLED and not values.get(field, "").strip():
                problem += preset_field_hint(preset, field)
            errors[field] = problem
    return errors


def _preset_options() -> list[tuple[str, str]]:
    return [(p.title, name) for name, p in PRESETS.items()] + [
        ("Custom (type every value)", CUSTOM)
    ]


def _deployments(text: str) -> list[str]:
    return [d.strip() for d in text.replace("\n", ",").split(",") if d.strip()]


class PlatformSetup(w.VBox):  # type: ignore[misc]
    """A form that registers an LMS in the workspace and shows what to paste into the LMS.

    ``tool_url`` is the tool's public base URL (login = BASE/login, redirect = BASE/launch);
    by default the Jupyter server extension's, when this kernel can tell it.
    """

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        preset: str | None = None,
        name: str | None = None,
        base_url: str = "",
        client_id: str = "",
        deployment_ids: Iterable[str] = (),
        tool_url: str | None = None,
    ) -> None:
        self.workspace = resolve_workspace(workspace)
        self.platform: Platform | None = None
        self.errors: dict[str, str] = {}
        self._prefilled: dict[str, str] = dict.fromkeys(PREFILLED, "")
        self._name_default = ""
        if tool_url is None:
            tool_url, self._tool_url_source = detect_tool_url()
        else:
            self._tool_url_source = "tool_url="
        self.tool_url = tool_url

        options = _preset_options()
        if preset is not None and preset not in dict((v, k) for k, v in options):
            raise ConfigError(
                f"unknown preset {preset!r}; known: {', '.join(PRESETS)}, or {CUSTOM!r}"
            )
        style = {"description_width": "9.5em"}
        wide = w.Layout(width="36em")
        self.preset = w.Dropdown(
            options=options, value=preset or options[0][1], description="LMS", style=style
        )
        # One text field a form field, each with its message to the right of it.
        self.fields: dict[str, w.Text | w.Textarea] = {}
        self.messages: dict[str, w.HTML] = {}
        self._rows: dict[str, w.HBox] = {}
        for field in _LABELS:
            kind = w.Textarea if field == "platform_key" else w.Text
            widget = kind(
                description=_LABELS[field],
                placeholder=_PLACEHOLDERS[field],
                style=style,
                layout=wide,
                continuous_update=True,
            )
            self.fields[field] = widget
            self.messages[field] = w.HTML(layout=w.Layout(margin="0 0 0 1em"))
            widget.observe(self._on_field, names="value")
            self._rows[field] = w.HBox(
                [widget, self.messages[field]], layout=w.Layout(align_items="center")
            )
        self.name = self.fields["name"]
        self.base_url = self.fields["base_url"]
        self.client_id = self.fields["client_id"]
        self.issuer = self.fields["issuer"]
        self.auth_login_url = self.fields["auth_login_url"]
        self.auth_token_url = self.fields["auth_token_url"]
        self.key_set_url = self.fields["key_set_url"]
        self.token_audience = self.fields["token_audience"]
        self.deployment_ids = self.fields["deployment_ids"]
        self.platform_key = self.fields["platform_key"]
        self.replace = w.Checkbox(description="Update it if this name exists", indent=False)
        self.save_button = w.Button(description="Save", button_style="primary", icon="check")
        self.status = w.HTML()
        self.tool_values = w.HTML()
        self.save_button.on_click(lambda _b: self._on_save())
        self.preset.observe(self._on_preset, names="value")
        super().__init__(
            [
                w.HTML("<b>Register an LMS</b> (fields fill in from the preset)"),
                self.preset,
                *self._rows.values(),
                w.HBox([self.save_button, self.replace]),
                self.status,
                self.tool_values,
            ]
        )
        self._apply_preset()
        if name is not None:
            self.fields["name"].value = name
        self.fields["base_url"].value = base_url
        self.fields["client_id"].value = client_id
        self.fields["deployment_ids"].value = ", ".join(deployment_ids)

    def values(self) -> dict[str, str]:
        """The form's current values, by field."""
        return {k: str(v.value) for k, v in self.fields.items()}

    # -- reactions ------------------------------------------------------------------------------

    def _on_preset(self, _change: object) -> None:
        self._apply_preset()

    def _apply_preset(self) -> None:
        preset = str(self.preset.value)
        found = PRESETS.get(preset)
        name = self.fields["name"]
        if name.value in ("", self._name_default):
            self._name_default = found.family if found is not None else ""
            name.value = self._name_default
        needs_base = found is not None and found.needs_base_url
        self._rows["base_url"].layout.display = "" if needs_base else "none"
        self._refill()
        self._show_tool_values()

    def _refill(self) -> None:
        """Put the preset's values into the fields the user has not changed."""
        values = preset_values(str(self.preset.value), str(self.fields["base_url"].value))
        for field in PREFILLED:
            widget = self.fields[field]
            if widget.value == self._prefilled[field]:
                widget.value = values[field]
            self._prefilled[field] = values[field]

    def _on_field(self, change: Mapping[str, Any]) -> None:
        widget = change["owner"]
        field = next(k for k, v in self.fields.items() if v is widget)
        if field == "base_url":
            self._refill()
        self._check(field)

    def _check(self, field: str, *, required: bool = False) -> str | None:
        problem = field_error(field, str(self.fields[field].value), required=required)
        if problem is None:
            self.errors.pop(field, None)
            self.messages[field].value = ""
        else:
            self.errors[field] = problem
            self.messages[field].value = message_html(problem, "error")
        return problem

    # -- saving ---------------------------------------------------------------------------------

    def save(self) -> Platform:
        """Register the platform (what the Save button does); raises ConfigError if it can't.

        Saving the same values again is harmless: it returns the platform already saved.
        """
        values = self.values()
        preset = str(self.preset.value)
        errors = form_errors(values, preset)
        for field in self.fields:
            self.errors.pop(field, None)
            self.messages[field].value = ""
        for field, problem in errors.items():
            self.errors[field] = problem
            self.messages[field].value = message_html(problem, "error")
        if errors:
            first = next(iter(errors))
            raise ConfigError(
                f"{len(errors)} field(s) need attention, first {_LABELS[first]}: {errors[first]}"
            )
        platform_key = values["platform_key"].strip() or None
        kwargs: dict[str, Any] = {
            "client_id": values["client_id"].strip(),
            "issuer": values["issuer"].strip(),
            "auth_login_url": values["auth_login_url"].strip(),
            "auth_token_url": values["auth_token_url"].strip(),
            "key_set_url": None if platform_key else values["key_set_url"].strip() or None,
            "token_audience": values["token_audience"].strip() or None,
            "platform_key": platform_key,
            "deployment_ids": _deployments(values["deployment_ids"]),
        }
        name = values["name"].strip()
        if preset != CUSTOM:
            kwargs["preset"] = preset
            if PRESETS[preset].needs_base_url:
                kwargs["base_url"] = values["base_url"].strip()
        try:
            self.platform = self.workspace.add_platform(
                name, replace=bool(self.replace.value), **kwargs
            )
        except ConfigError:
            existing = self._same_as_saved(name, kwargs)
            if existing is None:
                raise
            self.platform = existing
        return self.platform

    def _same_as_saved(self, name: str, kwargs: Mapping[str, Any]) -> Platform | None:
        """The platform called ``name`` if it already holds exactly these values."""
        try:
            saved = self.workspace.platform(name)
        except NrpsNbError:
            return None
        same = (
            saved.client_id == kwargs["client_id"]
            and saved.issuer == kwargs["issuer"]
            and saved.auth_login_url == kwargs["auth_login_url"]
            and saved.auth_token_url == kwargs["auth_token_url"]
            and (kwargs["platform_key"] is not None or saved.key_set_url == kwargs["key_set_url"])
            and set(kwargs["deployment_ids"]) <= set(saved.deployment_ids)
        )
        return saved if same else None

    def _on_save(self) -> None:
        try:
            platform = self.save()
        except NrpsNbError as exc:
            text, remedy = describe_error(exc)
            self.status.value = message_html(text, "error", remedy=remedy)
            return
        self.status.value = (
            message_html(
                f"saved platform {platform.name!r}: courses of it can be fetched once launched "
                "(LaunchWaiter()) or added by memberships URL",
                "ok",
            )
            + platform._repr_html_()
        )

    # -- what to paste into the LMS ------------------------------------------------------------

    def tool_value_rows(self) -> list[tuple[str, str, str]]:
        """(LMS form field, our value's name, value) for the chosen LMS, in its form's order."""
        from ..launch import ToolUrls

        values: dict[str, str] = {}
        if self.tool_url:
            urls = ToolUrls(check_tool_url(self.tool_url))
            values.update(
                login_url=urls.login_url,
                redirect_uri=urls.launch_url,
                target_link_uri=urls.target_link_uri,
                jwks_url=urls.jwks_url,
            )
        values["public_jwk"] = json.dumps(self.workspace.tool_jwks()["keys"][0], indent=2)
        values["public_pem"] = self.workspace.tool_public_pem().strip()
        setup = tool_setup(str(self.preset.value))
        return [(label, key, values[key]) for label, key in setup.fields if key in values]

    def _show_tool_values(self) -> None:
        preset = str(self.preset.value)
        setup = tool_setup(preset)
        title = PRESETS[preset].title if preset in PRESETS else "your LMS"
        try:
            rows = self.tool_value_rows()
            problem = None
        except NrpsNbError as exc:
            rows, problem = [], str(exc)
        table = "".join(
            "<tr>"
            f"<th style='text-align:left;vertical-align:top;padding-right:1em'>{escape(label)}</th>"
            + (
                "<td><pre style='max-height:8em;overflow:auto;margin:0;font-size:85%'>"
                f"{escape(value)}</pre></td>"
                if key.startswith("public_")
                else f"<td><code>{escape(value)}</code></td>"
            )
            + f"<td style='vertical-align:top'>{copy_button(value)}</td></tr>"
            for label, key, value in rows
        )
        parts = [f"<h4 style='margin:.8em 0 .3em'>In {escape(title)}: {escape(setup.where)}</h4>"]
        if table:
            parts.append(f"<table class='nrps-nb-tool-values'>{table}</table>")
        if not self.tool_url:
            parts.append(
                message_html(
                    f"The tool's URLs are unknown ({self._tool_url_source}): run this in "
                    "JupyterLab with nrps_nb installed, or start `nrps-nb serve` and pass "
                    "tool_url='http://127.0.0.1:8765'",
                    "warn",
                )
            )
        elif problem:
            parts.append(message_html(problem, "error"))
        else:
            parts.append(
                f"<div style='color:#666'>Tool URLs from {escape(self._tool_url_source)}.</div>"
            )
        for heading, items in (("Also on that form", setup.settings), ("Then", setup.afterwards)):
            if items:
                bullets = "".join(f"<li>{escape(i)}</li>" for i in items)
                parts.append(
                    f"<div><i>{heading}:</i><ul style='margin:.2em 0'>{bullets}</ul></div>"
                )
        self.tool_values.value = "".join(parts)
