"""Headless tests of the notebook forms: set values, click, check state and messages.

No browser and no kernel: ipywidgets 8 runs on a dummy comm, ``.value`` and ``.click()``
drive the forms, and the background jobs run on the test's own event loop (asyncio.run), as
they would on ipykernel's. The LMS is the sandbox over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nrps_nb
from nrps_nb import Platform, Workspace
from nrps_nb.demo import drive_launch
from nrps_nb.platforms import PRESETS, tool_setup
from nrps_nb.sandbox import CourseSpec, SandboxConfig, SandboxServer
from nrps_nb.server import ReceiverServer
from nrps_nb.widgets import LaunchWaiter, PlatformSetup, RosterPicker
from nrps_nb.widgets._common import copy_button, describe_error, detect_tool_url
from nrps_nb.widgets.platform_setup import CUSTOM, field_error, form_errors, preset_values

TOOL = "http://127.0.0.1:8765"


def text_of(html: str) -> str:
    """The visible text of a form's HTML message (tags dropped, entities decoded)."""
    import html as h

    return h.unescape(re.sub(r"<[^>]+>", " ", html))


# -- PlatformSetup ---------------------------------------------------------------------------


def test_preset_choices_are_read_from_presets(ws: Workspace) -> None:
    setup = PlatformSetup(ws, tool_url=TOOL)
    values = [v for _, v in setup.preset.options]
    assert values == [*PRESETS, CUSTOM]  # whatever presets exist when the form is built
    titles = dict((v, k) for k, v in setup.preset.options)
    assert titles["moodle"] == PRESETS["moodle"].title


def test_preset_fills_fields_once_the_base_url_is_valid(ws: Workspace) -> None:
    setup = PlatformSetup(ws, preset="moodle", tool_url=TOOL)
    assert setup.name.value == "moodle"
    assert setup._rows["base_url"].layout.display == ""  # Moodle needs its base URL
    assert setup.auth_token_url.value == ""
    setup.base_url.value = "moodle.example.edu"  # typed without a scheme: said so at once
    assert "not an absolute http(s) URL" in text_of(setup.messages["base_url"].value)
    assert setup.auth_token_url.value == ""
    setup.base_url.value = "https://moodle.example.edu/"
    assert setup.messages["base_url"].value == ""
    assert setup.issuer.value == "https://moodle.example.edu"
    assert setup.auth_login_url.value == "https://moodle.example.edu/mod/lti/auth.php"
    assert setup.auth_token_url.value == "https://moodle.example.edu/mod/lti/token.php"
    assert setup.key_set_url.value == "https://moodle.example.edu/mod/lti/certs.php"
    # A field the user changed is theirs: a new base URL does not overwrite it.
    setup.key_set_url.value = "https://keys.example.edu/moodle.json"
    setup.base_url.value = "https://lms.example.org"
    assert setup.auth_token_url.value == "https://lms.example.org/mod/lti/token.php"
    assert setup.key_set_url.value == "https://keys.example.edu/moodle.json"
    # Switching to a preset without a base URL hides that field and refills the rest.
    setup.preset.value = "canvas-cloud"
    assert setup._rows["base_url"].layout.display == "none"
    assert setup.name.value == "canvas"
    assert setup.auth_token_url.value == PRESETS["canvas-cloud"].auth_token_url


def test_url_fields_are_checked_as_you_type(ws: Workspace) -> None:
    setup = PlatformSetup(ws, preset=CUSTOM, tool_url=TOOL)
    setup.auth_token_url.value = "ftp://lms.example.edu/token"
    assert "auth_token_url" in setup.errors
    assert "not an absolute http(s) URL" in text_of(setup.messages["auth_token_url"].value)
    setup.auth_token_url.value = "http://lms.example.edu/token"  # plain http, not loopback
    assert "https://" in setup.errors["auth_token_url"]
    setup.auth_token_url.value = "https://lms.example.edu/token"
    assert "auth_token_url" not in setup.errors
    assert setup.messages["auth_token_url"].value == ""
    # The issuer is a URL too, and no URL has a space (not even one httpx would encode).
    setup.issuer.value = "javascript:alert(1)"
    assert "not an absolute http(s) URL" in setup.errors["issuer"]
    setup.auth_login_url.value = "https://exa mple.com/auth"
    assert "contains a space" in setup.errors["auth_login_url"]
    with pytest.raises(nrps_nb.ConfigError, match="issuer"):
        ws.add_platform("x", issuer="javascript:alert(1)", client_id="c",
                        auth_login_url="https://lms.example.edu/auth",
                        auth_token_url="https://lms.example.edu/token",
                        key_set_url="https://lms.example.edu/jwks")  # fmt: skip


def test_field_and_form_rules() -> None:
    assert field_error("auth_login_url", "") is None
    assert field_error("auth_login_url", "", required=True) == "required: auth login url"
    assert field_error("key_set_url", "https://[::1") is not None
    assert preset_values("d2l", "")["auth_token_url"] == ""  # no base URL: nothing guessed
    values = preset_values("d2l", "https://school.brightspace.com")
    assert values["token_audience"] == "https://api.brightspace.com/auth/token"
    errors = form_errors({"name": "x", "client_id": "c"}, "sakai")
    assert set(errors) >= {"base_url", "issuer", "auth_login_url", "auth_token_url"}
    assert "Sakai needs the LMS's base URL" in errors["base_url"]
    # Sakai's token URL carries the tool's id: the message says where Sakai shows it.
    full = form_errors(
        {"name": "x", "client_id": "c", **preset_values("sakai", "https://sakai.example.edu"),
         "base_url": "https://sakai.example.edu"},
        "sakai",
    )  # fmt: skip
    assert list(full) == ["auth_token_url"]
    assert "External Tools" in full["auth_token_url"]
    # A pasted platform key stands in for the key set URL.
    assert "key_set_url" not in form_errors({"platform_key": '{"kty": "RSA"}'}, CUSTOM)


def test_save_without_base_url_says_so_next_to_the_field(ws: Workspace) -> None:
    setup = PlatformSetup(ws, preset="moodle", client_id="AbC123", tool_url=TOOL)
    setup.save_button.click()
    assert "Moodle needs the LMS's base URL" in text_of(setup.messages["base_url"].value)
    assert "need attention" in text_of(setup.status.value)
    assert setup.platform is None
    assert ws.platforms().empty


def test_save_registers_the_platform(ws: Workspace) -> None:
    setup = PlatformSetup(
        ws, preset="moodle", base_url="https://moodle.example.edu", client_id="AbC123",
        deployment_ids=["3"], tool_url=TOOL,
    )  # fmt: skip
    setup.save_button.click()
    assert "saved platform 'moodle'" in text_of(setup.status.value)
    saved = ws.platform("moodle")
    assert saved == setup.platform
    assert (saved.client_id, saved.deployment_ids, saved.preset) == ("AbC123", ("3",), "moodle")
    assert saved.auth_token_url == "https://moodle.example.edu/mod/lti/token.php"
    # Saving the same values again (a second click, a re-run cell) is harmless...
    assert setup.save() == saved
    # ...but other values under the same name need the Update box.
    setup.client_id.value = "Other"
    setup.save_button.click()
    assert "exists already" in text_of(setup.status.value)
    assert ws.platform("moodle").client_id == "AbC123"
    setup.replace.value = True
    setup.save_button.click()
    assert ws.platform("moodle").client_id == "Other"


def test_custom_platform_with_a_pasted_key(ws: Workspace) -> None:
    from tests.helpers import PlatformKey

    setup = PlatformSetup(ws, preset=CUSTOM, tool_url=TOOL)
    assert setup._rows["base_url"].layout.display == "none"
    setup.save_button.click()
    for field in ("name", "client_id", "issuer", "auth_login_url", "auth_token_url"):
        assert "required" in text_of(setup.messages[field].value), field
    setup.name.value = "lab-lms"
    setup.client_id.value = "tool-1"
    setup.issuer.value = "https://lms.example.edu"
    setup.auth_login_url.value = "https://lms.example.edu/auth"
    setup.auth_token_url.value = "https://lms.example.edu/token"
    setup.platform_key.value = json.dumps(PlatformKey().jwk())
    setup.save_button.click()
    assert "saved" in text_of(setup.status.value), setup.status.value
    assert ws.platform("lab-lms").platform_key is not None


@pytest.mark.parametrize("preset", [*PRESETS, CUSTOM])
def test_tool_values_to_paste_for_every_lms(ws: Workspace, preset: str) -> None:
    setup = PlatformSetup(ws, preset=preset, tool_url=TOOL + "/")
    rows = setup.tool_value_rows()
    shown = setup.tool_values.value
    expected = {
        "login_url": TOOL + "/login",
        "redirect_uri": TOOL + "/launch",
        "target_link_uri": TOOL + "/launch",
        "jwks_url": TOOL + "/jwks.json",
    }
    assert [label for label, _, _ in rows] == [label for label, _ in tool_setup(preset).fields]
    for label, key, value in rows:
        if key in expected:
            assert value == expected[key]
        assert label.split(" →")[0].split(" (")[0] in text_of(shown)
        assert copy_button(value) in shown  # every value has its Copy button
    assert tool_setup(preset).where in text_of(shown)
    assert "PRIVATE" not in shown and '"d"' not in shown  # the public key only


def test_tool_values_for_canvas_name_canvas_fields(ws: Workspace) -> None:
    setup = PlatformSetup(ws, preset="canvas-cloud", tool_url=TOOL)
    rows = {label: value for label, _, value in setup.tool_value_rows()}
    assert rows["Redirect URIs"] == TOOL + "/launch"
    assert rows["OpenID Connect Initiation Url"] == TOOL + "/login"
    jwk = json.loads(rows["JWK Method 'Public JWK' → Public JWK"])
    assert jwk == ws.tool_jwks()["keys"][0]
    assert "Developer Keys" in text_of(setup.tool_values.value)


def test_tool_url_unknown_or_malformed(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NRPS_NB_PUBLIC_URL", "JUPYTERHUB_PUBLIC_URL", "JPY_PARENT_PID"):
        monkeypatch.delenv(var, raising=False)
    setup = PlatformSetup(ws, preset="moodle")
    assert setup.tool_url is None
    assert "nrps-nb serve" in text_of(setup.tool_values.value)
    assert [key for _, key, _ in setup.tool_value_rows()] == ["public_pem"]  # the key still
    bad = PlatformSetup(ws, preset="moodle", tool_url="localhost:8765")
    assert "not an absolute http(s) URL" in text_of(bad.tool_values.value)


def test_tool_url_from_the_jupyter_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("NRPS_NB_PUBLIC_URL", "JUPYTERHUB_PUBLIC_URL", "JPY_PARENT_PID"):
        monkeypatch.delenv(var, raising=False)
    assert detect_tool_url()[0] is None
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "jpserver-4242.json").write_text(json.dumps({"url": "http://localhost:8888/"}))
    monkeypatch.setenv("JPY_PARENT_PID", "4242")
    assert detect_tool_url()[0] == "http://localhost:8888/nrps_nb"
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.edu/")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    assert detect_tool_url()[0] == "https://hub.example.edu/user/alice/nrps_nb"
    # A public URL that already names the user's server: the origin counts, as in the
    # extension (which registers these URLs), not the path twice.
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.edu/user/alice/")
    assert detect_tool_url()[0] == "https://hub.example.edu/user/alice/nrps_nb"
    monkeypatch.setenv("NRPS_NB_PUBLIC_URL", "https://lab.example.edu/")
    assert detect_tool_url() == ("https://lab.example.edu/nrps_nb", "$NRPS_NB_PUBLIC_URL")


def test_copy_button_escapes_its_value() -> None:
    html = copy_button("a'b\"<c>")
    assert "a&#x27;b&quot;&lt;c&gt;" in html
    assert "<c>" not in html


# -- LaunchWaiter ----------------------------------------------------------------------------


def test_launch_waiter_captures_without_blocking(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    async def scenario() -> tuple[LaunchWaiter, int]:
        waiter = LaunchWaiter(ws, timeout=20, link=sandbox.launch_url("seminar"))
        assert waiter.waiting and waiter.stop_button.disabled is False
        assert "waiting for a launch" in text_of(waiter.status.value)
        ticks = 0
        launch_done = asyncio.create_task(
            asyncio.to_thread(drive_launch, sandbox.launch_url("seminar"))
        )
        while not waiter.job.done():  # type: ignore[union-attr]
            ticks += 1  # the loop stays free while the waiter waits
            await asyncio.sleep(0.01)
        await launch_done
        assert await waiter.wait() is waiter.launch
        return waiter, ticks

    waiter, ticks = asyncio.run(scenario())
    assert ticks > 3
    assert waiter.launch is not None and waiter.launch.context_title == "Research Seminar"
    assert "captured launch" in text_of(waiter.status.value)
    assert "Research Seminar" in text_of(waiter.result.value)
    assert waiter.stop_button.disabled and not waiter.wait_button.disabled
    assert sandbox.launch_url("seminar").replace("&", "&amp;") in waiter.instructions.value


def test_launch_waiter_timeout_then_wait_again(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    async def scenario() -> LaunchWaiter:
        waiter = LaunchWaiter(ws, timeout=0.3)
        assert await waiter.wait() is None
        assert "no launch arrived" in text_of(waiter.status.value)
        assert "Wait again" in text_of(waiter.status.value)
        assert "capture_launch()" not in text_of(waiter.status.value)  # the form has a button
        await asyncio.to_thread(drive_launch, sandbox.launch_url("intro-stats"))
        waiter.wait_button.click()
        assert await waiter.wait() is not None
        return waiter

    waiter = asyncio.run(scenario())
    assert waiter.launch is not None and waiter.launch.context_label == "STAT 101"


def test_launch_waiter_stop(ws: Workspace) -> None:
    async def scenario() -> LaunchWaiter:
        waiter = LaunchWaiter(ws, timeout=30)
        await asyncio.sleep(0.05)
        waiter.stop_button.click()
        job = waiter.job
        assert job is not None
        assert await job is None
        return waiter

    waiter = asyncio.run(scenario())
    assert "stopped waiting" in text_of(waiter.status.value)
    assert not waiter.waiting and waiter.launch is None


# -- RosterPicker ----------------------------------------------------------------------------


def launch_courses(sandbox: SandboxServer, ws: Workspace, *course_ids: str) -> None:
    for course_id in course_ids:
        drive_launch(sandbox.launch_url(course_id))
        ws.capture_launch(timeout=10)


def test_picker_lists_launched_and_added_courses(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    launch_courses(sandbox, ws, "intro-stats", "seminar")
    ws.add_course(sandbox.memberships_url("big-lecture"), platform="sandbox")
    picker = RosterPicker(ws)
    assert picker.platform.value == "sandbox"  # the only platform is chosen for you
    labels = [label for label, _ in picker.course.options]
    assert labels == [
        "Introduction to Statistics (STAT 101)",
        "Research Seminar (SEM 500)",
        sandbox.memberships_url("big-lecture") + " · added by URL",
    ]
    assert not picker.fetch_button.disabled
    picker.platform.value = None
    assert picker.course.disabled and picker.fetch_button.disabled


def test_picker_fetch_displays_and_exports(
    ws: Workspace, sandbox: SandboxServer, platform: Platform, tmp_path: Path
) -> None:
    launch_courses(sandbox, ws, "intro-stats", "seminar")
    picker = RosterPicker(ws, export_dir=tmp_path)
    assert picker.df is None and picker.csv_button.disabled

    async def scenario() -> pd.DataFrame | None:
        picker.select(course=2)
        picker.fetch_button.click()
        assert picker.busy and not picker.cancel_button.disabled and picker.fetch_button.disabled
        return await picker.job  # type: ignore[misc]

    df = asyncio.run(scenario())
    assert df is not None and picker.df is df
    assert len(df) == len(sandbox.course_members("seminar"))
    assert set(df["context_title"]) == {"Research Seminar"}
    assert "Research Seminar: 8 members in 1 page(s)" in text_of(picker.status.value)
    assert picker.progress_label.value == "page 1 · 8 members · done"
    assert picker.progress.value == picker.progress.max == 1
    assert picker.cancel_button.disabled and not picker.fetch_button.disabled
    shown = picker.output.outputs[0]["data"]
    assert "text/html" in shown and "Research Seminar" in shown["text/html"]
    assert picker.export_name.value == "roster-SEM-500"
    picker.csv_button.click()
    assert "wrote" in text_of(picker.export_status.value)
    back = pd.read_csv(tmp_path / "roster-SEM-500.csv")
    assert sorted(back["user_id"]) == sorted(df["user_id"])
    picker.json_button.click()
    assert len(json.loads((tmp_path / "roster-SEM-500.json").read_text())) == 8
    picker.export_name.value = "../elsewhere"
    picker.csv_button.click()
    assert "contains a path" in text_of(picker.export_status.value)


def test_picker_role_filter_and_pseudonymize(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    launch_courses(sandbox, ws, "intro-stats")
    picker = RosterPicker(ws)

    async def scenario() -> pd.DataFrame | None:
        return await picker.fetch(role="Learner", pseudonymize=True)

    df = asyncio.run(scenario())
    assert df is not None
    assert set(df["role"]) == {"Learner"}
    assert "name" not in df.columns and "email" not in df.columns
    assert df.attrs["pseudonymized"] is True
    real = {m["user_id"] for m in sandbox.course_members("intro-stats")}
    assert not real & set(df["user_id"])
    assert "pseudonymized" in text_of(picker.status.value)
    with pytest.raises(nrps_nb.ConfigError, match="choose one of"):
        picker.fetch(role="Dean")


def test_picker_error_keeps_the_roster_already_fetched(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    launch_courses(sandbox, ws, "seminar")
    ws.add_platform(
        "gone", issuer="http://127.0.0.1:9", client_id="x", auth_login_url="http://127.0.0.1:9/a",
        auth_token_url="http://127.0.0.1:9/token", key_set_url="http://127.0.0.1:9/jwks",
    )  # fmt: skip
    dead = ws.add_course("http://127.0.0.1:9/api/lti/courses/x/memberships", platform="gone")
    picker = RosterPicker(ws, platform="sandbox")

    async def scenario() -> tuple[object, object]:
        first = await picker.fetch()
        picker.select(course=dead)
        assert picker.platform.value == "gone"
        second = await picker.fetch()
        return first, second

    first, second = asyncio.run(scenario())
    assert isinstance(first, pd.DataFrame) and second is None
    assert picker.df is first  # nothing already fetched is lost
    message = text_of(picker.status.value)
    assert "cannot reach the token endpoint http://127.0.0.1:9/token" in message
    assert "check the token URL" in message
    # No answer at all is a network matter: the advice is not about keys or client ids.
    assert "reachable from this kernel" in message and "public key" not in message
    assert picker.progress.bar_style == "danger"
    shown = picker.output.outputs[0]["data"]["text/html"]
    assert "Research Seminar" in shown  # the table shown is still the good one


def test_picker_course_whose_platform_was_deleted(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    launch_courses(sandbox, ws, "seminar")
    picker = RosterPicker(ws)
    ws.store.delete_platform("sandbox")

    async def scenario() -> object:
        return await picker.fetch()

    assert asyncio.run(scenario()) is None
    message = text_of(picker.status.value)
    assert "unknown platform 'sandbox'" in message
    assert "was deleted: register it again" in message
    picker.refresh_button.click()
    assert ("sandbox (not registered any more)", "sandbox") in picker.platform.options
    assert picker.course.value == 1  # its courses stay listed
    assert "not registered any more" in text_of(picker.status.value)


def test_picker_needs_a_course(ws: Workspace) -> None:
    picker = RosterPicker(ws)
    assert picker.platform.options == (("— choose a platform —", None),)
    picker.fetch_button.click()
    assert "choose a course first" in text_of(picker.status.value)
    with pytest.raises(nrps_nb.ConfigError, match="fetch a roster first"):
        picker.export(".csv")
    with pytest.raises(nrps_nb.ConfigError, match="unknown platform"):
        picker.select(platform="nope")


@pytest.fixture
def slow_lms(ws: Workspace) -> Iterator[SandboxServer]:
    """A sandbox whose every request takes 50 ms, with a 1,000-member course (10 pages)."""
    with ReceiverServer(ws) as receiver:
        config = SandboxConfig(
            tool_url=receiver.base_url,
            courses=(CourseSpec("lecture", "Slow Lecture", "SLOW 1", 1000),),
            latency=0.05,
        )
        with SandboxServer(config) as sandbox:
            info = sandbox.info()
            ws.add_platform(
                "slow", preset="sandbox", base_url=info["issuer"], client_id=info["client_id"],
                deployment_ids=[info["deployment_id"]],
            )  # fmt: skip
            ws.add_course(sandbox.memberships_url("lecture"), platform="slow")
            yield sandbox


def test_picker_cancel_keeps_members_and_resume_finishes(
    ws: Workspace, slow_lms: SandboxServer
) -> None:
    picker = RosterPicker(ws)

    async def scenario() -> tuple[int, pd.DataFrame | None]:
        job = picker.fetch()
        ticks = 0
        while "page 3" not in picker.progress_label.value:
            ticks += 1  # the kernel's loop is free during the fetch: a Cancel click gets in
            await asyncio.sleep(0.005)
            assert not job.done(), picker.status.value
        picker.cancel_button.click()
        assert await job is None
        assert ticks > 5
        assert picker.partial_df is not None
        assert picker.resume_button.layout.display == ""
        partial = len(picker.partial_df)
        picker.resume_button.click()
        assert picker.job is not None
        return partial, await picker.job

    partial, df = asyncio.run(scenario())
    assert 300 <= partial < 1000
    assert df is not None and len(df) == 1000 and df["user_id"].is_unique
    assert picker.partial_df is None and picker.df is df
    assert picker.resume_button.layout.display == "none"


def test_picker_cancel_message(ws: Workspace, slow_lms: SandboxServer) -> None:
    picker = RosterPicker(ws)

    async def scenario() -> None:
        job = picker.fetch(pseudonymize=True)
        while "page 2" not in picker.progress_label.value:
            await asyncio.sleep(0.005)
        job.cancel()
        await job

    asyncio.run(scenario())
    message = text_of(picker.status.value)
    assert "cancelled" in message and "picker.partial_df" in message and "Resume" in message
    assert picker.partial_df is not None and "name" not in picker.partial_df.columns
    assert picker.progress.bar_style == "warning"
    assert picker.df is None


def test_job_without_a_running_loop(
    ws: Workspace, sandbox: SandboxServer, platform: Platform
) -> None:
    """Outside a kernel (plain Python), a click still works: the job runs on a private loop."""
    launch_courses(sandbox, ws, "seminar")
    picker = RosterPicker(ws)
    picker.fetch_button.click()
    assert picker.job is not None
    df = picker.job.result(timeout=30)
    assert df is not None and len(df) == 8
    deadline = time.monotonic() + 5
    while picker.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not picker.csv_button.disabled


def test_describe_error_adds_remedies() -> None:
    text, remedy = describe_error(nrps_nb.ServiceUnavailable("the LMS answered 503"))
    assert text == "the LMS answered 503" and remedy and "reachable" in remedy
    text, remedy = describe_error(KeyError("x"))
    assert text.startswith("unexpected KeyError") and remedy and "bug" in remedy


def test_widgets_are_imported_lazily() -> None:
    import subprocess

    code = (
        "import sys, nrps_nb; assert 'ipywidgets' not in sys.modules; "
        "assert 'nrps_nb.widgets' not in sys.modules; "
        "from nrps_nb import RosterPicker; assert 'ipywidgets' in sys.modules; "
        "assert nrps_nb.PlatformSetup.__module__ == 'nrps_nb.widgets.platform_setup'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        nrps_nb.Nope  # noqa: B018


def test_picker_incomplete_roster_keeps_members_and_resumes(
    ws: Workspace, slow_lms: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fetch that breaks midway (here: the LMS 'fails' after page 2) keeps what came."""
    real = ws.afetch_roster
    calls = {"n": 0}

    async def flaky(course: object, **kwargs: Any) -> pd.DataFrame:
        calls["n"] += 1
        if calls["n"] > 1:
            return await real(course, **kwargs)
        on_page = kwargs.pop("on_page")

        def breaking(page: Any, members: int) -> None:
            on_page(page, members)
            if members >= 200:
                raise nrps_nb.ServiceUnavailable("the LMS answered 503 (Service Unavailable)")

        return await real(course, on_page=breaking, **kwargs)

    monkeypatch.setattr(ws, "afetch_roster", flaky)
    picker = RosterPicker(ws)

    async def scenario() -> tuple[object, pd.DataFrame | None, str, pd.DataFrame | None]:
        first = await picker.fetch()
        partial, message = picker.partial_df, text_of(picker.status.value)
        assert picker.resume_button.layout.display == ""
        picker.resume_button.click()
        assert picker.job is not None
        return first, partial, message, await picker.job

    first, partial, message, df = asyncio.run(scenario())
    assert first is None and partial is not None and len(partial) == 200
    assert partial.attrs["complete"] is False
    assert "stopped after 2 page(s) and 200 members" in message and "click Resume" in message
    assert "503" in message
    assert df is not None and len(df) == 1000 and df["user_id"].is_unique
    assert calls["n"] == 2
