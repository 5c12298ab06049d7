"""The HTML pages the launch receiver shows in the user's browser. Every value is escaped."""

from __future__ import annotations

from html import escape

from ..errors import LaunchError
from ..launch import Launch

__all__ = ["error_page", "launch_page", "page"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#222}h1{font-size:1.4rem}"
    "code,pre{background:#f4f4f4;padding:.1rem .3rem;"
    "border-radius:3px}pre{padding:.6rem;overflow-x:auto}.ok{color:#17692b}.bad{color:#a11}"
    "dt{font-weight:600}dd{margin:0 0 .5rem 0}"
)


def page(title: str, body: str) -> str:
    """A complete HTML document; ``title`` is escaped here, ``body`` must be escaped already."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def launch_page(launch: Launch) -> str:
    e = escape
    course = launch.context_title or launch.context_label or launch.context_id or "(no course)"
    roles = ", ".join(r.rsplit("#", 1)[-1] for r in launch.roles) or "none"
    if launch.context_memberships_url:
        next_step = (
            "<p>In your notebook:</p><pre>import nrps_nb\n"
            "launch = nrps_nb.capture_launch()\n"
            "df = nrps_nb.fetch_roster(launch)</pre>"
            f"<p>or from a shell: <code>nrps-nb roster --platform {e(launch.platform)} "
            f"--url {e(launch.context_memberships_url)}</code></p>"
        )
    else:
        next_step = (
            "<p class='bad'>This launch carried no Names and Role Provisioning claim, so the "
            "roster cannot be fetched. Enable the Names and Roles service for the tool in the "
            "LMS, then launch again.</p>"
        )
    warnings = "".join(f"<li>{e(w)}</li>" for w in launch.warnings)
    body = (
        f"<h1 class='ok'>Course captured: {e(course)}</h1>"
        "<dl>"
        f"<dt>Platform</dt><dd>{e(launch.platform)} (<code>{e(launch.issuer)}</code>)</dd>"
        f"<dt>Course</dt><dd>{e(course)} — context id "
        f"<code>{e(launch.context_id or '-')}</code></dd>"
        f"<dt>Launched by</dt><dd>{e(launch.user_name or launch.sub or 'anonymous')} "
        f"({e(roles)})</dd>"
        f"<dt>Deployment</dt><dd><code>{e(launch.deployment_id)}</code></dd>"
        "</dl>"
        f"{next_step}"
        + (f"<p>Notes:</p><ul>{warnings}</ul>" if warnings else "")
        + "<p>You can close this window.</p>"
    )
    return page(f"nrps_nb: {course}", body)


def error_page(exc: LaunchError | None, message: str, remedy: str | None = None) -> str:
    e = escape
    check = exc.check if exc is not None else "request"
    remedy = remedy if remedy is not None else (exc.remedy if exc is not None else "")
    body = (
        "<h1 class='bad'>The launch was not accepted</h1>"
        f"<p>Failed check: <b>{e(check)}</b></p>"
        f"<p>{e(message)}</p>" + (f"<p><b>What to do:</b> {e(remedy)}</p>" if remedy else "")
    )
    return page("nrps_nb: launch failed", body)
