"""The ``nrps-nb`` command (DESIGN §8): a stable contract for scripts and cron jobs.

Every command honours ``NRPS_NB_HOME``. Errors go to stderr, without a traceback, with a
non-zero exit: 1 error, 2 usage, 3 incomplete roster.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .__about__ import __version__
from .errors import ConfigError, IncompleteRoster, NrpsNbError, ServiceError
from .registry import PRESETS
from .sandbox.profiles import PROFILES as _SANDBOX_PROFILES

SANDBOX_PROFILES = tuple(_SANDBOX_PROFILES)

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3

TABLE_COLUMNS = ["user_id", "name", "email", "role", "status", "context_label"]


class _Parser(argparse.ArgumentParser):
    """argparse, with exit code 2 and mistyped options named first.

    argparse checks required options before it looks for unknown ones, so ``--urls X`` would
    be reported as "--url is required"; the unknown option (and the one meant) is the news.
    """

    _seen: Sequence[str] = ()

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._seen = tuple(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith(("the following arguments are required", "one of the arguments")):
            unknown = self._unknown_options()
            if unknown:
                message = (
                    f"unrecognized arguments: {' '.join(unknown)}{self._did_you_mean(unknown)}"
                )
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)

    def _unknown_options(self) -> list[str]:
        known = [o for o in self._option_string_actions if o.startswith("--")]

        def is_known(option: str) -> bool:  # exactly, or as argparse's unique abbreviation
            name = option.split("=", 1)[0]
            return name in known or sum(o.startswith(name) for o in known) == 1

        return [a for a in self._seen if a.startswith("--") and a != "--" and not is_known(a)]

    def _did_you_mean(self, unknown: list[str]) -> str:
        for option in unknown:
            close = difflib.get_close_matches(
                option.split("=", 1)[0], self._option_string_actions, n=1, cutoff=0.7
            )
            if close:
                return f" (did you mean {close[0]}?)"
        return ""


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nrps-nb", description="LMS rosters through LTI 1.3 / NRPS v2.")
    p.add_argument("--version", action="version", version=f"nrps_nb {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens to stderr")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("init", help="create the workspace and the tool key")

    keys = sub.add_parser(
        "keys",
        help="the tool's public key, for the LMS; or rotate it",
        description="jwks, pem: print the public key set or the public key. rotate: make a new "
        "tool key, keeping the old one published; retire: stop publishing the old one.",
    )
    keys.add_argument("format", choices=["jwks", "pem", "rotate", "retire"])

    platform = sub.add_parser("platform", help="register and list platforms")
    psub = platform.add_subparsers(dest="platform_command", required=True, parser_class=_Parser)
    add = psub.add_parser("add", help="register an LMS")
    add.add_argument("name", help="your name for this LMS (used as --platform NAME later)")
    add.add_argument("--preset", choices=sorted(PRESETS), help="fill in a known LMS's URLs")
    add.add_argument("--base-url", help="the LMS's base URL, for presets that need one")
    add.add_argument("--issuer", help="the LMS's issuer (iss), exactly as it shows it")
    add.add_argument("--client-id", required=True, help="the client ID the LMS gave the tool")
    add.add_argument("--auth-login-url", help="the platform's OIDC auth endpoint")
    add.add_argument("--auth-token-url", help="the platform's OAuth2 token endpoint")
    keysrc = add.add_mutually_exclusive_group()
    keysrc.add_argument("--key-set-url", help="the platform's JWKS URL")
    keysrc.add_argument("--platform-key", type=Path, help="a file with the platform's JWK or PEM")
    add.add_argument("--token-audience", help="aud of client assertions (default: token URL)")
    add.add_argument(
        "--deployment-id",
        action="append",
        default=[],
        dest="deployment_ids",
        metavar="ID",
        help="a deployment id the LMS shows (repeat for several)",
    )
    add.add_argument(
        "--auto-deployments",
        action="store_true",
        help="accept launches from new deployments (each recorded with a warning)",
    )
    add.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow plain http:// to a host that is not loopback (not for real use)",
    )
    add.add_argument("--replace", action="store_true", help="update an existing platform")
    psub.add_parser("list", help="the registered platforms")
    psub.add_parser("presets", help="the known LMS presets")

    roster = sub.add_parser("roster", help="fetch course rosters")
    roster.add_argument(
        "--platform",
        metavar="NAME",
        help="the registered LMS that serves the URLs (`platform list`)",
    )
    target = roster.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--url",
        action="append",
        dest="urls",
        metavar="URL",
        help="a course's memberships URL (repeat for several courses; `courses` lists known ones)",
    )
    target.add_argument("--all", action="store_true", help="every known course of --platform")
    roster.add_argument(
        "--role",
        help="only members with this role: Learner, Instructor, TA, another LTI role or a URI",
    )
    roster.add_argument(
        "--limit", type=int, metavar="N", help="members per page (default: the LMS's largest)"
    )
    roster.add_argument(
        "--rlid",
        metavar="ID",
        help="a resource link id: that link's members, custom values as columns",
    )
    roster.add_argument(
        "--pseudonymize",
        action="store_true",
        help="keyed pseudonyms instead of ids, identifying columns dropped (for research data)",
    )
    roster.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        help="courses fetched at once, per LMS host (default: 8)",
    )
    roster.add_argument(
        "--output", type=Path, metavar="FILE", help="FILE.csv, FILE.json or FILE.parquet"
    )
    roster.add_argument(
        "--partial", action="store_true", help="write an incomplete roster too (marked so)"
    )

    courses = sub.add_parser("courses", help="the known courses")
    courses.add_argument(
        "--remove", type=int, metavar="COURSE_ID", help="forget this course (see its course_id)"
    )
    sub.add_parser("launches", help="the captured launches")

    serve = sub.add_parser("serve", help="run the standalone launch receiver")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s; another one needs --public-url)",
    )
    serve.add_argument(
        "--port", type=int, default=8765, help="0 picks a free port (default: %(default)s)"
    )
    serve.add_argument("--public-url", help="the URL the LMS and browsers use to reach it")

    sandbox = sub.add_parser("sandbox", help="run the sandbox LMS")
    sandbox.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    sandbox.add_argument(
        "--port", type=int, default=8766, help="0 picks a free port (default: %(default)s)"
    )
    sandbox.add_argument(
        "--profile",
        default=None,
        choices=SANDBOX_PROFILES,
        help="behave like one LMS (default: sandbox, the plain NRPS 2.0 platform)",
    )
    sandbox.add_argument(
        "--tool-url",
        default="http://127.0.0.1:8765",
        help="the receiver whose /jwks.json signs the tool's token requests (default: %(default)s)",
    )
    sandbox.add_argument(
        "--tool-jwk", type=Path, help="the tool's public JWK or JWK Set (`nrps-nb keys jwks`)"
    )

    sub.add_parser("demo", help="the main job end to end on the sandbox LMS")
    return p


def _pages(n: int) -> str:
    return f"{n} page" if n == 1 else f"{n} pages"


def _print_frame(df: pd.DataFrame) -> None:
    if df.empty:
        print("(none)")
        return
    with pd.option_context("display.max_rows", 500, "display.width", 160):
        print(df.to_string(index=False, na_rep=""))  # a missing value is blank, not NaN


def _print_presets() -> None:
    """Each preset as a block: what to pass to ``platform add`` and what the LMS caps."""
    from .platforms import PRESETS

    for p in PRESETS.values():
        # The sandbox runs on loopback (`nrps-nb sandbox` prints its URL); an LMS on https.
        example = "http://127.0.0.1:8766" if p.name == "sandbox" else "https://LMS"
        base = f" --base-url {example}" if p.needs_base_url else ""
        needs = "".join(f" --{f.replace('_', '-')} URL" for f in p.required_fields())
        print(f"{p.name}: {p.title}")
        for label, value in (
            ("issuer", p.issuer),
            ("auth login URL", p.auth_login_url),
            ("token URL", p.auth_token_url or "(give --auth-token-url)"),
            ("key set URL", p.key_set_url or "(give --key-set-url)"),
            ("token audience", p.token_audience or "(the token URL)"),
            ("page size", p.page_size_note or str(p.max_page_size)),
        ):
            print(f"  {label:<15} {value}")
        print(f"  add with        nrps-nb platform add NAME --preset {p.name}{base}{needs} "
              "--client-id ID --deployment-id ID")  # fmt: skip
        if p.notes:
            print(f"  note            {p.notes}")
        print()


def _cmd_roster(args: argparse.Namespace) -> int:
    from .export import check_output, write_frame
    from .frames import members_to_frame
    from .workspace import Workspace

    ws = Workspace()
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be a positive number")
    if args.output is not None:
        check_output(args.output)  # before fetching, not after
    if args.all:
        if not args.platform:
            raise ConfigError("--all needs --platform NAME")
        courses: list[object] = [
            c.id for c in ws.store.list_courses(ws.platform(args.platform).name)
        ]
        if not courses:
            raise ConfigError(f"platform {args.platform!r} has no known courses yet")
    else:
        for url in args.urls:
            if "://" not in url:  # a typo or a context id: say so before anything is fetched
                raise ConfigError(
                    f"--url {url!r} is not a URL; give the course's memberships URL (https://..., "
                    "or http://127.0.0.1:... for the sandbox); `nrps-nb courses` lists known ones"
                )
        # Resolved by the fetch itself: a new URL that yields nothing is not kept as a course.
        courses = list(args.urls)
    complete = True
    if len(courses) == 1:
        try:
            df = ws.fetch_roster(
                courses[0],
                platform=args.platform,
                role=args.role,
                limit=args.limit,
                rlid=args.rlid,
                pseudonymize=args.pseudonymize,
            )
        except IncompleteRoster as exc:
            print(f"nrps-nb: incomplete roster: {exc}", file=sys.stderr)
            if exc.resume_url:
                print(f"nrps-nb: resume from {exc.resume_url}", file=sys.stderr)
            complete = False
            # The members so far, with the course's provenance (a bare frame if none came).
            df = exc.frame if exc.frame is not None else members_to_frame(exc.members)
    else:
        if args.rlid is not None:
            raise ConfigError("--rlid applies to one course; give a single --url")
        df = ws.fetch_rosters(
            courses,
            platform=args.platform,
            concurrency=args.concurrency,
            role=args.role,
            limit=args.limit,
            pseudonymize=args.pseudonymize,
        )
        status = df.attrs["status"]
        for _, row in status[~status["ok"]].iterrows():
            print(f"nrps-nb: {row['memberships_url']}: {row['error']}", file=sys.stderr)
        if len(status) and not status["ok"].any() and not df.attrs.get("incomplete"):
            # Nothing fetched at all is an error, not an incomplete roster (exit 1, not 3).
            raise ServiceError(f"none of the {len(status)} courses could be fetched (see above)")
        complete = bool(df.attrs["complete"])
        partial = list(df.attrs.get("incomplete", {}).values())
        if partial:  # courses that stopped midway: what they fetched, marked (see --partial)
            attrs = df.attrs
            df = pd.concat(
                [df.assign(incomplete=False), *(e.frame.assign(incomplete=True) for e in partial)],
                ignore_index=True,
            )
            df.attrs = attrs
            for e in partial:
                if e.resume_url:
                    print(
                        f"nrps-nb: {e.frame.attrs['memberships_url']}: stopped after "
                        f"{len(e.frame)} members; resume from {e.resume_url}",
                        file=sys.stderr,
                    )
    for warning in df.attrs.get("warnings", ()):  # caveats a cron job must not miss
        print(f"nrps-nb: warning: {warning}", file=sys.stderr)
    if args.output is not None:
        if complete or args.partial:
            if not complete and "incomplete" not in df.columns:
                df = df.assign(incomplete=True)
            path = write_frame(df, args.output)
            state = "complete" if complete else "INCOMPLETE (--partial)"
            print(f"wrote {path} ({len(df)} members, {state})", file=sys.stderr)
        else:
            print(
                f"nrps-nb: not writing {args.output}: the roster is incomplete "
                "(pass --partial to write what was fetched)",
                file=sys.stderr,
            )
    else:
        columns = [c for c in [*TABLE_COLUMNS, "incomplete"] if c in df.columns]
        _print_frame(df[columns])
        pages = df.attrs.get("pages")
        print(
            f"\n{len(df)} members" + (f" in {_pages(pages)}" if pages else ""),
            file=sys.stderr,
        )
    return EXIT_OK if complete else EXIT_INCOMPLETE


def _run(args: argparse.Namespace) -> int:
    from .workspace import Workspace

    cmd = args.command
    if cmd == "init":
        ws = Workspace()
        key = ws.init()
        print(f"workspace: {ws.home}")
        print(f"tool key id: {key.kid}")
        return EXIT_OK
    if cmd == "keys":
        ws = Workspace()
        if args.format == "jwks":
            print(json.dumps(ws.tool_jwks(), indent=2))
        elif args.format == "pem":
            print(ws.tool_public_pem(), end="")
        elif args.format == "rotate":
            old_kid = ws.key.kid
            new = ws.rotate_key()
            print(new.kid)
            print(
                f"nrps-nb: the tool key is now kid {new.kid}; kid {old_kid} stays in the JWKS "
                "until you retire it.\n  LMSs that read the JWKS URL pick the new key up by "
                "themselves. Where you pasted a public key or JWK into an LMS, paste the new "
                "one (`nrps-nb keys pem` / `keys jwks`).\n  Once every LMS uses the new key: "
                "`nrps-nb keys retire`.",
                file=sys.stderr,
            )
        else:
            print(
                f"nrps-nb: kid {ws.retire_previous_key()} is no longer published", file=sys.stderr
            )
        return EXIT_OK
    if cmd == "platform":
        ws = Workspace()
        if args.platform_command == "add":
            platform_key = None
            if args.platform_key is not None:
                try:
                    platform_key = args.platform_key.read_text()
                except OSError as exc:
                    raise ConfigError(f"cannot read {args.platform_key}: {exc.strerror}") from None
            p = ws.add_platform(
                args.name,
                preset=args.preset,
                base_url=args.base_url,
                issuer=args.issuer,
                client_id=args.client_id,
                auth_login_url=args.auth_login_url,
                auth_token_url=args.auth_token_url,
                key_set_url=args.key_set_url,
                platform_key=platform_key,
                token_audience=args.token_audience,
                deployment_ids=args.deployment_ids,
                auto_deployments=args.auto_deployments,
                allow_insecure_http=args.allow_insecure_http,
                replace=args.replace,
            )
            print(f"platform {p.name!r} saved (issuer {p.issuer}, client_id {p.client_id})")
            return EXIT_OK
        if args.platform_command == "list":
            df = ws.platforms()
            _print_frame(df.drop(columns=["auth_login_url"]) if not df.empty else df)
            return EXIT_OK
        _print_presets()
        return EXIT_OK
    if cmd == "roster":
        return _cmd_roster(args)
    if cmd == "courses":
        ws = Workspace()
        if args.remove is not None:
            ws.remove_course(args.remove)
            print(f"removed course {args.remove}", file=sys.stderr)
            return EXIT_OK
        _print_frame(ws.courses())
        return EXIT_OK
    if cmd == "launches":
        df = Workspace().launches()
        _print_frame(df.drop(columns=["warnings"]) if not df.empty else df)
        return EXIT_OK
    if cmd == "serve":
        return _serve(args)
    if cmd == "sandbox":
        from .sandbox import run

        tool_jwk = None
        if args.tool_jwk is not None:
            try:
                tool_jwk = json.loads(args.tool_jwk.read_text())
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read the tool JWK {args.tool_jwk}: {exc}") from None
            if isinstance(tool_jwk, dict) and isinstance(tool_jwk.get("keys"), list):
                tool_jwk = tool_jwk["keys"][0] if tool_jwk["keys"] else None  # `keys jwks`
            if not isinstance(tool_jwk, dict) or "kty" not in tool_jwk:
                raise ConfigError(
                    f"{args.tool_jwk} holds no JWK; write it with `nrps-nb keys jwks > FILE`"
                )
        try:
            run(
                host=args.host,
                port=args.port,
                tool_url=args.tool_url,
                tool_jwk=tool_jwk,
                profile=args.profile,
            )
        except OSError as exc:  # binding: the port is taken, or the address is not ours
            raise _cannot_listen(args.host, args.port, exc) from None
        return EXIT_OK
    if cmd == "demo":
        from .demo import run_demo

        run_demo(sys.stdout)
        return EXIT_OK
    raise ConfigError(f"unknown command {cmd!r}")


def _serve(args: argparse.Namespace) -> int:
    import ipaddress
    import signal
    import threading

    from .server import ReceiverServer
    from .workspace import Workspace

    host = args.host
    if args.public_url is None and host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(
                f"--host {host} is not a loopback address: pass --public-url with the URL "
                "browsers use to reach this receiver (it is never guessed)"
            )
    ws = Workspace()
    ws.init()
    # Handle SIGTERM before anyone can know we are up (a supervisor may stop us at once).
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = ReceiverServer(ws, public_url=args.public_url, host=host, port=args.port)
    try:
        server.start()
    except OSError as exc:
        raise _cannot_listen(host, args.port, exc) from None
    base = server.base_url
    shown = f"[{host}]" if ":" in host else host
    print(f"nrps_nb launch receiver on http://{shown}:{server.port}", flush=True)
    print(f"  OIDC login URL:        {base}/login", flush=True)
    print(f"  redirect URI / target: {base}/launch", flush=True)
    print(f"  JWKS URL:              {base}/jwks.json", flush=True)
    print(f"  setup page:            {base}/", flush=True)
    print(f"  workspace:             {ws.home}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def _cannot_listen(host: str, port: int, exc: OSError) -> ConfigError:
    """What to do when a server cannot bind: the port is taken, or the address is not ours."""
    return ConfigError(
        f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port "
        "(0 picks a free one), or stop what is listening there"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except NrpsNbError as exc:
        print(f"nrps-nb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as exc:
        print(f"nrps-nb: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `nrps-nb keys jwks | head -1`: the reader left, not an error
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
