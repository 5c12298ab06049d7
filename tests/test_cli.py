"""The nrps-nb command as scripts and cron jobs use it: subprocesses, exit codes, files."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nrps_nb.sandbox import SandboxConfig, SandboxServer

from .helpers import Scripted, respond, scripted_server


def run(
    home: Path, *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NRPS_NB_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "nrps_nb.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def cli_sandbox(home: Path) -> Iterator[SandboxServer]:
    assert run(home, "init").returncode == 0
    jwk = json.loads(run(home, "keys", "jwks").stdout)["keys"][0]
    with SandboxServer(SandboxConfig(tool_jwk=jwk)) as server:
        info = server.info()
        added = run(home, "platform", "add", "sandbox", "--preset", "sandbox",
                    "--base-url", info["issuer"], "--client-id", info["client_id"],
                    "--deployment-id", info["deployment_id"])  # fmt: skip
        assert added.returncode == 0, added.stderr
        yield server


def test_init_and_keys(home: Path) -> None:
    result = run(home, "init")
    assert result.returncode == 0
    assert str(home) in result.stdout and "tool key id" in result.stdout
    jwks = json.loads(run(home, "keys", "jwks").stdout)
    assert jwks["keys"][0]["kty"] == "RSA" and "d" not in jwks["keys"][0]
    pem = run(home, "keys", "pem").stdout
    assert pem.startswith("-----BEGIN PUBLIC KEY-----") and "PRIVATE" not in pem


def test_usage_and_config_errors_exit_cleanly(home: Path) -> None:
    assert_clean_error(run(home, "frobnicate"), 2, "invalid choice")
    assert_clean_error(run(home, "roster", "--platform", "x"), 2, "required")
    # A mistyped option is the news, not the required one it left out.
    typo = run(home, "roster", "--platform", "x", "--urls", "https://lms.example.edu/m")
    assert_clean_error(typo, 2, "unrecognized arguments: --urls (did you mean --url?)")
    assert "required" not in typo.stderr
    # An abbreviation argparse accepts is not called unknown: the missing option is the news.
    abbrev = run(home, "roster", "--plat", "x")
    assert_clean_error(abbrev, 2, "one of the arguments --url --all is required")
    assert_clean_error(
        run(home, "roster", "--platform", "nope", "--url", "https://lms.example.edu/m"),
        1,
        "unknown platform 'nope'",
    )
    # --url takes a URL: anything else is named as such before any fetch.
    assert_clean_error(
        run(home, "roster", "--url", "not-a-url"), 1, "--url 'not-a-url' is not a URL"
    )
    # Messages that reach the command line name the option, not only the Python argument.
    # No LMS registered at all: say so, and how to register one (not "pass --platform").
    assert_clean_error(
        run(home, "roster", "--url", "https://lms.example.edu/m"), 1, "no LMS is registered yet"
    )
    assert_clean_error(
        run(home, "platform", "add", "x", "--issuer", "javascript:alert(1)", "--client-id", "c",
            "--auth-login-url", "https://a.example/a", "--auth-token-url", "https://a.example/t",
            "--key-set-url", "https://a.example/k"),
        1,
        "give the issuer exactly as the LMS shows it",
    )  # fmt: skip
    for name in ("a", "b"):  # several LMSs: the message names the option that picks one
        assert run(home, "platform", "add", name, "--issuer", f"https://{name}.example",
                   "--client-id", "c", "--auth-login-url", "https://a.example/a",
                   "--auth-token-url", "https://a.example/t",
                   "--key-set-url", "https://a.example/k").returncode == 0  # fmt: skip
    assert_clean_error(
        run(home, "roster", "--url", "https://lms.example.edu/m"), 1, "--platform NAME"
    )
    assert_clean_error(
        run(home, "platform", "add", "m", "--preset", "moodle", "--client-id", "c"),
        1,
        "needs the LMS base URL",
    )
    assert_clean_error(
        run(
            home,
            "platform",
            "add",
            "m",
            "--issuer",
            "https://lms",
            "--client-id",
            "c",
            "--auth-login-url",
            "http://lms.example.edu/auth",
            "--auth-token-url",
            "https://t",
            "--key-set-url",
            "https://k",
        ),  # fmt: skip
        1,
        "--allow-insecure-http",
    )
    assert_clean_error(
        run(
            home,
            "platform",
            "add",
            "m",
            "--preset",
            "moodle",
            "--base-url",
            "https://m",
            "--client-id",
            "c",
            "--platform-key",
            str(home / "missing.pem"),
        ),  # fmt: skip
        1,
        "cannot read",
    )


def test_platform_list_and_presets(home: Path) -> None:
    run(home, "platform", "add", "canvas", "--preset", "canvas-cloud", "--client-id", "1234")
    listing = run(home, "platform", "list").stdout
    assert "canvas" in listing and "https://canvas.instructure.com" in listing
    assert "canvas-cloud" in run(home, "platform", "presets").stdout


def test_roster_to_csv_table_and_json(
    home: Path, tmp_path: Path, cli_sandbox: SandboxServer
) -> None:
    url = cli_sandbox.memberships_url("intro-stats")
    out = tmp_path / "roster.csv"
    result = run(home, "roster", "--platform", "sandbox", "--url", url, "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and "250 members" in result.stderr
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 250
    assert json.loads(rows[0]["roles"])[0].startswith("http://purl.imsglobal.org/vocab/lis/v2/")
    expected_names = {m["name"] for m in cli_sandbox.course_members("intro-stats") if m.get("name")}
    assert {r["name"] for r in rows if r["name"]} == expected_names  # non-ASCII survives

    table = run(home, "roster", "--platform", "sandbox", "--url", url, "--role", "Instructor")
    assert table.returncode == 0
    assert "Instructor" in table.stdout and "Learner" not in table.stdout
    assert table.stderr.endswith(" members in 1 page\n")  # one page, not "1 pages"

    both = tmp_path / "both.json"
    result = run(home, "roster", "--platform", "sandbox", "--url", url,
                 "--url", cli_sandbox.memberships_url("seminar"), "--output", str(both))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(json.loads(both.read_text())) == 258

    pseudo = tmp_path / "pseudo.csv"
    result = run(home, "roster", "--platform", "sandbox", "--url", url, "--pseudonymize",
                 "--output", str(pseudo))  # fmt: skip
    assert result.returncode == 0
    text = pseudo.read_text(encoding="utf-8")
    for member in cli_sandbox.course_members("intro-stats"):
        assert member["user_id"] not in text
        assert member.get("email", "@@none@@") not in text

    courses = run(home, "courses").stdout
    assert "intro-stats" in courses or "Introduction to Statistics" in courses
    assert run(home, "launches").returncode == 0


def test_incomplete_roster_exit_code_and_partial(home: Path, tmp_path: Path) -> None:
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t"}))
    page = {"context": {"id": "ctx-1", "label": "STAT 1"}, "members": [{"user_id": "u1"}]}
    script.add("/m", respond(200, page, {"Link": '</m2>; rel="next"'}))
    script.add("/m2", respond(400, {"error": "broken page"}))
    script.add("/ok", respond(200, {"members": [{"user_id": "k1"}]}))
    script.add("/p", respond(200, {"members": [{"user_id": "p1"}]}, {"Link": '</m2>; rel="next"'}))
    with scripted_server(script) as server:
        base = server.base_url
        run(home, "platform", "add", "lms", "--issuer", "https://lms", "--client-id", "c",
            "--auth-login-url", base + "/a", "--auth-token-url", base + "/token",
            "--key-set-url", base + "/k")  # fmt: skip
        out = tmp_path / "r.csv"
        result = run(
            home, "roster", "--platform", "lms", "--url", base + "/m", "--output", str(out)
        )
        assert_clean_error(result, 3, "incomplete roster")
        assert "not writing" in result.stderr and not out.exists()
        result = run(home, "roster", "--platform", "lms", "--url", base + "/m", "--output",
                     str(out), "--partial")  # fmt: skip
        assert result.returncode == 3
        with out.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [r["user_id"] for r in rows] == ["u1"] and rows[0]["incomplete"] == "True"
        # The partial file can be joined back to its course: provenance columns are filled.
        assert rows[0]["platform"] == "lms" and rows[0]["context_label"] == "STAT 1"

        # Several courses, one stops midway: --partial writes what every course fetched.
        result = run(home, "roster", "--platform", "lms", "--url", base + "/ok", "--url",
                     base + "/m", "--output", str(out), "--partial")  # fmt: skip
        assert result.returncode == 3, result.stderr
        assert f"resume from {base}/m2" in result.stderr
        with out.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert {(r["user_id"], r["incomplete"], r["context_label"]) for r in rows} == {
            ("k1", "False", ""),
            ("u1", "True", "STAT 1"),
        }
        # Every course stopped midway: still an incomplete roster (exit 3), not "nothing
        # fetched" (exit 1), and --partial still writes what came.
        result = run(home, "roster", "--platform", "lms", "--url", base + "/m", "--url",
                     base + "/p", "--output", str(out), "--partial")  # fmt: skip
        assert result.returncode == 3, result.stderr
        with out.open(newline="") as fh:
            assert sorted(r["user_id"] for r in csv.DictReader(fh)) == ["p1", "u1"]
        shown = run(home, "roster", "--platform", "lms", "--url", base + "/m", "--url", base + "/p")
        assert shown.returncode == 3 and "incomplete" in shown.stdout  # marked in the table too


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "NRPS_NB_HOME"} | {"TMPDIR": str(scratch)}
    result = subprocess.run(
        [sys.executable, "-m", "nrps_nb.cli", "demo"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "250 members in 3 pages" in result.stdout
    # Its throwaway workspace (with a private key) is gone, and it said so.
    assert f"workspace: {scratch}" in result.stdout and "throwaway" in result.stdout
    assert list(scratch.iterdir()) == []
    (written,) = tmp_path.glob("roster-*.csv")
    assert str(written.name) in result.stdout
    with written.open(encoding="utf-8", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 250


def test_sandbox_command_prints_its_json_line(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nrps_nb.cli", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"profile", "issuer", "client_id", "deployment_id",
                             "auth_login_url", "auth_token_url", "token_audience",
                             "key_set_url", "memberships_url", "launch_url"}  # fmt: skip
        assert info["issuer"].startswith("http://127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_serve_prints_its_urls(home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nrps_nb.cli", "serve", "--port", "0",
         "--public-url", "https://tool.example.edu/nrps"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NRPS_NB_HOME": str(home)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    text = "".join(lines)
    assert "https://tool.example.edu/nrps/login" in text
    assert "https://tool.example.edu/nrps/launch" in text
    assert "https://tool.example.edu/nrps/jwks.json" in text
    assert proc.returncode == 0


def test_a_mistyped_url_is_not_kept_and_courses_can_be_removed(
    home: Path, tmp_path: Path, cli_sandbox: SandboxServer
) -> None:
    good = cli_sandbox.memberships_url("seminar")
    typo = good.replace("/seminar/", "/seminr/")
    assert typo != good
    assert run(home, "roster", "--platform", "sandbox", "--url", good).returncode == 0
    failed = run(home, "roster", "--platform", "sandbox", "--url", typo)
    assert_clean_error(failed, 1, "404")
    failed = run(home, "roster", "--platform", "sandbox", "--url", good, "--url", typo)
    assert failed.returncode == 3 and "404" in failed.stderr
    # Every course failed: an error (exit 1), not an incomplete roster of nobody (exit 3).
    other = typo.replace("/seminr/", "/semnar/")
    assert_clean_error(
        run(home, "roster", "--platform", "sandbox", "--url", typo, "--url", other),
        1,
        "none of the 2 courses could be fetched",
    )
    listed = run(home, "courses").stdout
    assert "seminr" not in listed and "seminar" in listed  # the typo was never kept
    out = tmp_path / "all.csv"
    result = run(home, "roster", "--platform", "sandbox", "--all", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and "complete" in result.stderr

    removed = run(home, "courses", "--remove", "1")
    assert removed.returncode == 0 and "removed course 1" in removed.stderr
    assert "seminar" not in run(home, "courses").stdout
    assert_clean_error(run(home, "courses", "--remove", "1"), 1, "no course with course_id 1")
    huge = str(10**30)  # more than SQLite can hold: no such course, not an OverflowError
    assert_clean_error(
        run(home, "courses", "--remove", huge), 1, f"no course with course_id {huge}"
    )


def test_a_role_that_is_no_lti_role_is_a_clean_error(
    home: Path, tmp_path: Path, cli_sandbox: SandboxServer
) -> None:
    out = tmp_path / "teachers.csv"
    url = cli_sandbox.memberships_url("seminar")
    result = run(home, "roster", "--platform", "sandbox", "--url", url, "--role", "Teacher",
                 "--output", str(out))  # fmt: skip
    assert_clean_error(result, 1, "'Teacher' is not an LTI role (LTI calls it 'Instructor')")
    assert not out.exists()  # no empty roster written as if it were the answer
    ok = run(home, "roster", "--platform", "sandbox", "--url", url, "--role", "Instructor")
    assert ok.returncode == 0 and "Instructor" in ok.stdout, ok.stderr


def test_output_piped_into_a_reader_that_leaves(home: Path) -> None:
    """`nrps-nb keys jwks | head -1`: no traceback when the reader closes the pipe."""
    assert run(home, "init").returncode == 0
    env = {**os.environ, "NRPS_NB_HOME": str(home)}
    with subprocess.Popen([sys.executable, "-m", "nrps_nb.cli", "platform", "presets"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader leaves before the command writes (it is importing)
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_an_unwritable_output_is_refused_before_fetching(
    home: Path, tmp_path: Path, cli_sandbox: SandboxServer
) -> None:
    url = cli_sandbox.memberships_url("intro-stats")
    for output, says in ((tmp_path / "x.xlsx", "use a file name ending in .csv"),
                         (tmp_path / "nowhere" / "x.csv", "does not exist")):  # fmt: skip
        result = run(home, "roster", "--platform", "sandbox", "--url", url, "--output", str(output))
        assert_clean_error(result, 1, f"cannot write {output}: ")
        assert says in result.stderr
    assert cli_sandbox.stats["nrps_requests"] == 0  # refused before any fetch


def test_sandbox_by_hand_with_the_tool_jwks_file(home: Path, tmp_path: Path) -> None:
    """README "Try it by hand": `keys jwks > FILE`, `sandbox --tool-jwk FILE`, no receiver."""
    assert run(home, "init").returncode == 0
    jwks = tmp_path / "jwks.json"
    jwks.write_text(run(home, "keys", "jwks").stdout)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nrps_nb.cli", "sandbox", "--port", "0", "--tool-jwk", str(jwks)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        added = run(home, "platform", "add", "sandbox", "--preset", "sandbox",
                    "--base-url", info["issuer"], "--client-id", info["client_id"],
                    "--deployment-id", info["deployment_id"])  # fmt: skip
        assert added.returncode == 0, added.stderr
        roster = run(home, "roster", "--platform", "sandbox", "--url", info["memberships_url"])
        assert roster.returncode == 0, roster.stderr
        assert "250 members" in roster.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    jwks.write_text('{"keys": []}')
    assert_clean_error(run(home, "sandbox", "--port", "0", "--tool-jwk", str(jwks)), 1, "no JWK")


@pytest.mark.parametrize("command", ["sandbox", "serve"])
def test_a_busy_port_is_a_clean_error_that_says_what_to_do(home: Path, command: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(home, command, "--port", str(port))
    assert_clean_error(result, 1, f"cannot listen on 127.0.0.1:{port}")
    assert "pick another --port" in result.stderr


def test_platform_warnings_reach_the_command_line(home: Path) -> None:
    """A platform that ignores the role filter: the CLI says so on stderr, for one course and
    for several (the caveat is not lost when rosters are merged)."""
    from .helpers import Scripted, respond, scripted_server

    script = Scripted()
    script.add("/token", respond(200, {"access_token": "t0k", "token_type": "Bearer"}))
    everyone = {"members": [{"user_id": "1", "roles": ["Instructor"]},
                            {"user_id": "2", "roles": ["Learner"]}]}  # fmt: skip
    script.add("/a", respond(200, everyone))
    script.add("/b", respond(200, everyone))
    with scripted_server(script) as server:
        base = server.base_url
        assert run(home, "platform", "add", "lms", "--issuer", base, "--client-id", "c",
                   "--auth-login-url", base + "/auth", "--auth-token-url", base + "/token",
                   "--key-set-url", base + "/jwks").returncode == 0  # fmt: skip
        one = run(home, "roster", "--platform", "lms", "--url", base + "/a", "--role", "Learner")
        two = run(home, "roster", "--platform", "lms", "--url", base + "/a", "--url",
                  base + "/b", "--role", "Learner")  # fmt: skip
    assert one.returncode == 0 and two.returncode == 0, (one.stderr, two.stderr)
    assert "nrps-nb: warning:" in one.stderr and "role filter" in one.stderr
    assert two.stderr.count("role filter") == 2  # one per course, each named
