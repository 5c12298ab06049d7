"""The LMS presets, and the connect-your-lms recipes that use them (each command is run)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from nrps_nb import ConfigError, Workspace
from nrps_nb.cli import main as cli_main
from nrps_nb.platforms import PRESETS, family_of, presets_frame

DOC = Path(__file__).resolve().parents[1] / "docs" / "connect-your-lms.md"


def doc_commands() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    lines = re.findall(r"^\s*(nrps-nb platform add .+)$", text, flags=re.MULTILINE)
    return [shlex.split(line)[1:] for line in lines]


def test_every_lms_preset_has_a_recipe() -> None:
    used = {argv[argv.index("--preset") + 1] for argv in doc_commands()}
    recipes = {"canvas-cloud", "canvas-selfhosted", "moodle", "blackboard", "d2l", "sakai",
               "schoology", "openedx"}  # fmt: skip
    assert used == recipes
    families = {p.family for p in PRESETS.values()} - {"sandbox"}
    assert families == {family_of(name) for name in used}
    text = DOC.read_text(encoding="utf-8")
    for name in ("canvas-beta", "canvas-test"):
        assert f"`{name}`" in text


@pytest.mark.parametrize("argv", doc_commands(), ids=lambda a: a[a.index("--preset") + 1])
def test_doc_recipe_commands_work(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NRPS_NB_HOME", str(tmp_path / "ws"))
    assert cli_main(argv) == 0
    platform = Workspace(tmp_path / "ws").platform(argv[2])
    preset = PRESETS[argv[argv.index("--preset") + 1]]
    assert platform.preset == preset.name
    assert platform.audience == (preset.token_audience or platform.auth_token_url)
    assert platform.max_page_size == preset.max_page_size
    assert platform.key_set_url and platform.auth_token_url and platform.auth_login_url


def test_d2l_preset_keeps_its_audience(ws: Workspace) -> None:
    p = ws.add_platform("d2l", preset="d2l", base_url="https://school.brightspace.com",
                        client_id="c")  # fmt: skip
    assert p.issuer == "https://school.brightspace.com"
    assert p.auth_token_url == "https://auth.brightspace.com/core/connect/token"
    assert p.audience == "https://api.brightspace.com/auth/token"
    assert p.key_set_url == "https://school.brightspace.com/d2l/.well-known/jwks"


@pytest.mark.parametrize(
    ("preset", "missing", "hint"),
    [
        ("sakai", "auth_token_url", "/imsblis/lti13/token/TOOL_ID"),
        ("openedx", "auth_token_url", "OAuth Token URL"),
    ],
)
def test_presets_say_where_the_missing_values_are(
    ws: Workspace, preset: str, missing: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        ws.add_platform("x", preset=preset, base_url="https://lms.example.edu", client_id="c")
    assert missing in str(caught.value) and hint in str(caught.value)


def test_openedx_needs_its_keyset_url(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match="Keyset URL"):
        ws.add_platform("x", preset="openedx", base_url="https://lms.example.edu",
                        client_id="c", auth_token_url="https://lms.example.edu/t")  # fmt: skip


def test_presets_need_their_base_url(ws: Workspace) -> None:
    for name, preset in PRESETS.items():
        if preset.needs_base_url:
            with pytest.raises(ConfigError, match="--base-url"):
                ws.add_platform("x", preset=name, client_id="c")


def test_presets_frame_and_cli_listing(capsys: pytest.CaptureFixture[str]) -> None:
    df = presets_frame()
    assert df["preset"].tolist() == list(PRESETS)
    assert df.set_index("preset").loc["canvas-cloud", "max_page_size"] == 50
    assert df.set_index("preset").loc["openedx", "needs"] == ["auth_token_url", "key_set_url"]
    assert Workspace.presets().equals(df)
    assert cli_main(["platform", "presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert f"--preset {name}" in out
    assert "https://api.brightspace.com/auth/token" in out
    assert "--preset sakai --base-url https://LMS --auth-token-url URL" in out
