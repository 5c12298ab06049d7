"""The notebook experience in a real JupyterLab, driven in headless Chromium (Debian's).

JupyterLab serves a copy of notebooks/quickstart.ipynb; the browser opens it, runs all cells,
then does what a researcher does with the RosterPicker: picks another course in its dropdown,
clicks Fetch roster, and sees that course's table appear in the form. This guards the parts no
headless widget test reaches: the widget views render, a dropdown change and a click travel
through the comm to the kernel, and the background fetch updates the form while the kernel is
idle. A screenshot is saved to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import free_port, require_browser, start, stop, wait_for

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
QUICKSTART = REPO / "notebooks" / "quickstart.ipynb"
LAB_SETTINGS = {
    # No network here: no news, no update check; and every cell kept in the DOM.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def require_jupyterlab() -> None:
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        message = "the JupyterLab UI test needs jupyterlab (pip install -e '.[test]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_quickstart_roster_picker_in_jupyterlab(browser: Any, tmp_path: Path) -> None:
    api = require_browser()
    require_jupyterlab()
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(QUICKSTART, root / "notebooks" / QUICKSTART.name)
    for name, values in LAB_SETTINGS.items():
        target = root / "settings" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}/"
    env = {
        **os.environ,
        "NRPS_NB_HOME": str(root / "nrps-home"),  # the server extension's workspace
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
    }
    log = root / "jupyterlab.log"
    proc = start(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root / 'notebooks'}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        log, env=env, cwd=root,
    )  # fmt: skip
    context = None
    try:
        wait_for(f"{base}api/status", proc, log, headers={"Authorization": f"token {token}"})
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        expect = api.expect
        page.goto(f"{base}lab/tree/{QUICKSTART.name}?token={token}")
        expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)

        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        # The notebook's own fetch through the picker (the cell after it) ends like this:
        done = page.get_by_text("Introduction to Statistics: 250 members in 3 page(s)")
        expect(done).to_be_visible(timeout=180_000)
        expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)

        # PlatformSetup: choose Moodle; its form's fields are listed with a working Copy.
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base[:-1])
        preset = page.locator("select").filter(has=page.locator("option", has_text="Moodle"))
        preset.select_option(label="Moodle")
        row = page.locator("table.nrps-nb-tool-values tr").filter(has_text="Initiate login URL")
        expect(row).to_be_visible()
        login_url = row.locator("code").inner_text()
        assert login_url.startswith("http://127.0.0.1:") and login_url.endswith("/login")
        row.get_by_role("button", name="Copy").click()
        expect(row.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == login_url
        ARTIFACTS.mkdir(exist_ok=True)
        setup = page.locator(".widget-vbox").filter(has=row).last
        setup.screenshot(path=str(ARTIFACTS / "jupyterlab-platform-setup.png"))

        # Now as a researcher: another course in the picker's dropdown, then Fetch.
        label = "Research Seminar (SEM 500)"
        course = page.locator("select").filter(has=page.locator("option", has_text=label))
        expect(course).to_have_count(1)
        course.select_option(label=label)
        fetch = page.get_by_role("button", name="Fetch roster")
        expect(fetch).to_be_enabled()
        fetch.click()
        expect(page.get_by_text("Research Seminar: 8 members in 1 page(s)")).to_be_visible()
        table = page.locator(".widget-output table.dataframe").filter(has_text="SEM 500")
        expect(table).to_be_visible()
        expect(table.locator("tbody tr")).to_have_count(8)
        expect(page.get_by_text("page 1 · 8 members · done")).to_be_visible()

        ARTIFACTS.mkdir(exist_ok=True)
        table.scroll_into_view_if_needed()
        fetch.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-quickstart-roster-picker.png"))
        picker = page.locator(".widget-vbox").filter(has=fetch).last
        picker.screenshot(path=str(ARTIFACTS / "jupyterlab-roster-picker.png"))
        assert (ARTIFACTS / "jupyterlab-quickstart-roster-picker.png").stat().st_size > 10_000
    except Exception:
        if context is not None and context.pages:
            ARTIFACTS.mkdir(exist_ok=True)
            context.pages[0].screenshot(path=str(ARTIFACTS / "jupyterlab-ui-failure.png"))
        print(log.read_text()[-5000:])
        raise
    finally:
        if context is not None:
            context.close()
        stop(proc)
