"""A sandbox LMS with a platform profile, the launch receiver, and a workspace registered to
it through the real preset for that LMS (shared by test_profiles.py and test_quirks.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nrps_nb import Launch, Platform, Workspace
from nrps_nb.demo import drive_launch
from nrps_nb.registry import preset_urls
from nrps_nb.sandbox import CourseSpec, SandboxConfig, SandboxServer
from nrps_nb.server import ReceiverServer

# The nrps_nb preset a user picks for each sandbox profile's LMS.
PRESET_OF = {
    "sandbox": "sandbox",
    "canvas": "canvas-selfhosted",
    "moodle": "moodle",
    "moodle-3.8": "moodle",
    "blackboard": "blackboard",
    "d2l": "d2l",
    "sakai": "sakai",
    "schoology": "schoology",
    "openedx": "openedx",
}
PROFILES = tuple(PRESET_OF)
COURSE = "stats"
COURSES = (CourseSpec(COURSE, "Statistics", "STAT 101", 23),)


@dataclass
class ProfileEnv:
    profile: str
    ws: Workspace
    sandbox: SandboxServer
    platform: Platform
    # Fields the preset filled that the sandbox had to override (its hosts are loopback).
    overridden: tuple[str, ...]

    def launch(self, course: str = COURSE, user_id: str | None = None) -> Launch:
        drive_launch(self.sandbox.launch_url(course, user_id))
        return self.ws.capture_launch(timeout=10)

    def members(self, course: str = COURSE) -> list[dict[str, Any]]:
        return self.sandbox.course_members(course)


def register(ws: Workspace, sandbox: SandboxServer, name: str) -> tuple[Platform, tuple[str, ...]]:
    """Register ``sandbox`` with the preset its profile's LMS would use.

    Preset fields that come from the base URL must equal the sandbox's own (the preset and the
    profile agree on the LMS's URL layout); fixed hosts (Blackboard's gateway, Schoology,
    D2L's token host) and fields a preset cannot know are taken from the sandbox.
    """
    info = sandbox.info()
    preset = PRESET_OF[info["profile"]]
    fields = preset_urls(preset, sandbox.base_url)
    given: dict[str, str] = {}
    for field, key in (
        ("auth_login_url", "auth_login_url"),
        ("auth_token_url", "auth_token_url"),
        ("key_set_url", "key_set_url"),
    ):
        value = fields[field]
        if value is None or not value.startswith(sandbox.base_url):
            given[field] = info[key]
        else:
            assert value == info[key], (preset, field, value, info[key])
    issuer = fields["issuer"]
    if issuer != info["issuer"]:  # Sakai's server URL is fixed in the sandbox
        given["issuer"] = info["issuer"]
    # The token audience is the preset's own: the D2L profile checks it.
    assert (
        fields["token_audience"] or given.get("auth_token_url") or fields["auth_token_url"]
    ) == (info["token_audience"])
    platform = ws.add_platform(
        name,
        preset=preset,
        base_url=sandbox.base_url,
        client_id=info["client_id"],
        deployment_ids=[info["deployment_id"]],
        **given,
    )
    return platform, tuple(sorted(given))


@contextmanager
def profile_env(profile: str, home: Path, **config: Any) -> Iterator[ProfileEnv]:
    """A receiver, a sandbox with ``profile`` and a registered workspace, all on loopback."""
    ws = Workspace(home)
    with ReceiverServer(ws) as receiver:
        options: dict[str, Any] = {"courses": COURSES, **config}
        cfg = SandboxConfig(tool_url=receiver.base_url, profile=profile, **options)
        with SandboxServer(cfg) as sandbox:
            platform, overridden = register(ws, sandbox, profile)
            yield ProfileEnv(profile, ws, sandbox, platform, overridden)
