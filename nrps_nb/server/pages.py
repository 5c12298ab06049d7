"""The HTML pages the launch receiver shows in the user's browser. Every value is escaped.

Pages with a script (the platform-storage login and launch pages) carry their data in a
``<script type="application/json">`` block, JSON-encoded with ``<``, ``>`` and ``&`` escaped,
and their code in one inline script that runs under a per-response CSP nonce.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from ..errors import LaunchError
from ..launch import Launch, ToolUrls

__all__ = [
    "error_page",
    "launch_page",
    "login_storage_page",
    "page",
    "pending_launch_page",
    "setup_page",
]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#222}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}"
    "code,pre{background:#f4f4f4;padding:.1rem .3rem;"
    "border-radius:3px}pre{padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}"
    ".ok{color:#17692b}.bad{color:#a11}.muted{color:#666}"
    "dt{font-weight:600}dd{margin:0 0 .5rem 0}"
    "table{border-collapse:collapse}td,th{padding:.2rem .5rem;text-align:left;"
    "border-bottom:1px solid #ddd;vertical-align:top}[hidden]{display:none}"
)

# The 1EdTech client-side postMessage storage client shared by the login and launch pages.
# It talks to window.opener || window.parent: lti.capabilities (any origin, as the 1EdTech
# library does, also under the pre-release org.imsglobal.* subject), then lti.put_data /
# lti.get_data to the storage frame, with the platform's auth origin as target origin. A reply
# counts only with the right origin, message_id and subject.
_STORAGE_JS = r"""
"use strict";
var D = JSON.parse(document.getElementById("nrps-nb-data").textContent);
function nrpsSay(id, text) {
  var el = document.getElementById(id);
  if (el) { el.textContent = text; el.hidden = false; }
}
function nrpsId() {
  var a = new Uint8Array(12); crypto.getRandomValues(a);
  return "nrps-nb-" + Array.prototype.map.call(a, function (b) {
    return ("0" + b.toString(16)).slice(-2); }).join("");
}
function nrpsSend(win, origin, msg, ms) {
  return new Promise(function (resolve, reject) {
    var id = nrpsId(); msg.message_id = id;
    function done() { clearTimeout(timer); window.removeEventListener("message", onMessage); }
    function onMessage(ev) {
      var d = ev.data;
      if (!d || typeof d !== "object" || d.message_id !== id) return;
      if (origin !== "*" && ev.origin !== origin) return;
      if (d.subject !== msg.subject + ".response") return;
      done();
      if (d.error) {
        reject(new Error(msg.subject + " answered " + (d.error.code || "an error") +
          (d.error.message ? ": " + d.error.message : "")));
      } else { resolve(d); }
    }
    var timer = setTimeout(function () {
      done(); reject(new Error("the LMS did not answer " + msg.subject + " within " + ms + " ms"));
    }, ms);
    window.addEventListener("message", onMessage);
    try { win.postMessage(msg, origin); } catch (e) { done(); reject(e); }
  });
}
async function nrpsStorage() {
  var top = window.opener || (window.parent !== window ? window.parent : null);
  if (!top) throw new Error("this page has no LMS window around it (no parent frame, no opener)");
  var put = {subject: "lti.put_data", frame: D.target};
  var get = {subject: "lti.get_data", frame: D.target};
  try {
    var caps = await Promise.any([
      nrpsSend(top, "*", {subject: "lti.capabilities"}, 1000),
      nrpsSend(top, "*", {subject: "org.imsglobal.lti.capabilities"}, 1000)]);
    (caps.supported_messages || []).forEach(function (m) {
      if (m.subject === "lti.put_data" || m.subject === "org.imsglobal.lti.put_data") {
        put = {subject: m.subject, frame: m.frame || D.target};
      }
      if (m.subject === "lti.get_data" || m.subject === "org.imsglobal.lti.get_data") {
        get = {subject: m.subject, frame: m.frame || D.target};
      }
    });
  } catch (e) { /* no capabilities answer: use lti_storage_target as the frame */ }
  function frame(name) {
    if (!name || name === "_parent") return top;
    var f = null;
    try { f = top.frames[name]; } catch (e) { f = null; }
    if (!f) throw new Error("the LMS window has no storage frame named " + name);
    return f;
  }
  return {
    put: function (key, value) {
      return nrpsSend(frame(put.frame), D.origin, {subject: put.subject, key: key, value: value},
                      2000);
    },
    get: function (key) {
      return nrpsSend(frame(get.frame), D.origin, {subject: get.subject, key: key}, 2000)
        .then(function (d) { return d.value; });
    }
  };
}
"""

_LOGIN_JS = r"""
(async function () {
  try {
    var s = await nrpsStorage();
    await s.put("lti_state_" + D.state, D.state);
    await s.put("lti_nonce_" + D.nonce, D.nonce);
    window.location.replace(D.auth);
  } catch (e) {
    // Without the platform's storage the login goes on unbound, like a login that had no
    // lti_storage_target (DESIGN §1): a fresh login without it.
    nrpsSay("nrps-nb-status", "The LMS's browser storage is not available (" + e.message +
            "); continuing without it.");
    window.location.replace(D.fallback);
  }
})();
"""

_LAUNCH_JS = r"""
(async function () {
  try {
    var s = await nrpsStorage();
    var state = await s.get("lti_state_" + D.state);
    var nonce = await s.get("lti_nonce_" + D.nonce);
    var form = document.getElementById("nrps-nb-confirm");
    form.elements.state_value.value = typeof state === "string" ? state : "";
    form.elements.nonce_value.value = typeof nonce === "string" ? nonce : "";
    form.submit();
  } catch (e) {
    document.getElementById("nrps-nb-working").hidden = true;
    nrpsSay("nrps-nb-failed-reason", e.message);
    document.getElementById("nrps-nb-failed").hidden = false;
  }
})();
"""


def _json_block(data: Mapping[str, Any]) -> str:
    text = json.dumps(dict(data))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="nrps-nb-data">{text}</script>'


def page(
    title: str,
    body: str,
    *,
    script: str | None = None,
    script_nonce: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> str:
    """A complete HTML document; ``title`` is escaped here, ``body`` must be escaped already.

    ``script`` (our own code, never user data) runs with ``script_nonce``; ``data`` is handed to
    it as JSON.
    """
    tail = ""
    if data is not None:
        tail += _json_block(data)
    if script is not None:
        if script_nonce is None:
            raise ValueError("an inline script needs the response's CSP nonce")
        tail += f'<script nonce="{escape(script_nonce)}">{script}</script>'
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}{tail}</body></html>"
    )


def _course_name(launch: Launch) -> str:
    return launch.context_title or launch.context_label or launch.context_id or "(no course)"


def launch_page(launch: Launch) -> str:
    e = escape
    course = _course_name(launch)
    roles = ", ".join(r.rsplit("#", 1)[-1] for r in launch.roles) or "none"
    if launch.context_memberships_url:
        next_step = (
            "<h2>What your notebook can do now</h2>"
            "<p>The course's Names and Role Provisioning Service is known, so the notebook can "
            "fetch its roster at any time, without another launch:</p>"
            "<pre>import nrps_nb\n"
            "launch = nrps_nb.capture_launch()   # returns this launch\n"
            "df = nrps_nb.fetch_roster(launch)   # one row per member</pre>"
            "<p>From a shell: <code>nrps-nb roster --platform "
            f"{e(launch.platform)} --url {e(launch.context_memberships_url)}</code></p>"
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
        f"<dt>Course</dt><dd>{e(course)}"
        + (f" ({e(launch.context_label)})" if launch.context_label else "")
        + f" — context id <code>{e(launch.context_id or '-')}</code></dd>"
        f"<dt>Launched by</dt><dd>{e(launch.user_name or launch.sub or 'anonymous')} "
        f"({e(roles)})</dd>"
        f"<dt>Deployment</dt><dd><code>{e(launch.deployment_id)}</code></dd>"
        f"<dt>Launch id</dt><dd>{launch.id}</dd>"
        "</dl>"
        f"{next_step}"
        + (f"<h2>Notes</h2><ul>{warnings}</ul>" if warnings else "")
        + "<p>You can close this window and return to your notebook.</p>"
    )
    return page(f"nrps_nb: {course}", body)


def error_page(exc: LaunchError | None, message: str, remedy: str | None = None) -> str:
    e = escape
    check = exc.check if exc is not None else "request"
    remedy = remedy if remedy is not None else (exc.remedy if exc is not None else "")
    what = "launch" if exc is not None else "request"
    body = (
        f"<h1 class='bad'>The {what} was not accepted</h1>"
        f"<p>Failed check: <b class='check'>{e(check)}</b></p>"
        f"<p class='message'>{e(message)}</p>"
        + (f"<p><b>What to do:</b> {e(remedy)}</p>" if remedy else "")
        + "<p class='muted'>Nothing was captured.</p>"
    )
    return page(f"nrps_nb: {what} failed", body)


def login_storage_page(nonce: str, data: Mapping[str, Any]) -> str:
    """The login answer when the platform sent ``lti_storage_target`` (DESIGN §1)."""
    body = (
        "<h1>Signing in to nrps_nb…</h1>"
        "<p>Keeping this login in the LMS's browser storage, then continuing to the LMS.</p>"
        "<p id='nrps-nb-status' class='muted' hidden></p>"
        "<noscript><p class='bad'>This step needs JavaScript. Enable it for this site, or "
        "open the tool in a new window from the LMS.</p></noscript>"
    )
    return page("nrps_nb: signing in", body, script=_STORAGE_JS + _LOGIN_JS, script_nonce=nonce,
                data=data)  # fmt: skip


def pending_launch_page(launch: Launch, nonce: str, data: Mapping[str, Any]) -> str:
    """The launch answer while the launch waits for its browser's storage confirmation."""
    e = escape
    course = _course_name(launch)
    body = (
        f"<div id='nrps-nb-working'><h1>Confirming the launch of {e(course)}…</h1>"
        "<p>Checking the login against the LMS's browser storage.</p></div>"
        "<div id='nrps-nb-failed' hidden><h1 class='bad'>The launch was not accepted</h1>"
        "<p>Failed check: <b class='check'>platform storage</b></p>"
        "<p>The LMS's browser storage could not confirm that this browser started the login: "
        "<span id='nrps-nb-failed-reason'></span></p>"
        "<p><b>What to do:</b> launch the tool again from the course in the LMS, in this "
        "browser. If the LMS opens it in a frame and this keeps failing, set the placement to "
        "open in a new window.</p>"
        "<p class='muted'>The launch stays pending and cannot be used by a notebook.</p></div>"
        "<form id='nrps-nb-confirm' method='post' action='launch/confirm'>"
        f"<input type='hidden' name='launch' value='{launch.id}'>"
        f"<input type='hidden' name='token' value='{e(str(data.get('token', '')))}'>"
        "<input type='hidden' name='state_value' value=''>"
        "<input type='hidden' name='nonce_value' value=''></form>"
        "<noscript><p class='bad'>This launch needs JavaScript to be confirmed.</p></noscript>"
    )
    return page(f"nrps_nb: confirming {course}", body, script=_STORAGE_JS + _LAUNCH_JS,
                script_nonce=nonce, data=data)  # fmt: skip


def _launch_rows(launches: Sequence[Mapping[str, Any]]) -> str:
    e = escape
    if not launches:
        return "<p class='muted'>No launches yet.</p>"
    rows = []
    for r in launches:
        roles = ", ".join(x.rsplit("#", 1)[-1] for x in json.loads(r.get("roles") or "[]"))
        claimed = "claimed" if r.get("claimed_at") else "not claimed"
        rows.append(
            "<tr>"
            f"<td>{int(r['id'])}</td>"
            f"<td>{e(str(r.get('platform') or ''))}</td>"
            f"<td>{e(str(r.get('context_title') or r.get('context_id') or '-'))}</td>"
            f"<td>{e(str(r.get('user_name') or r.get('sub') or 'anonymous'))}</td>"
            f"<td>{e(roles or '-')}</td>"
            f"<td class='status'>{e(str(r.get('status') or ''))}, {claimed}</td>"
            "</tr>"
        )
    return (
        "<table><tr><th>#</th><th>Platform</th><th>Course</th><th>Launched by</th>"
        f"<th>Roles</th><th>Status</th></tr>{''.join(rows)}</table>"
    )


def setup_page(
    tool: ToolUrls | None,
    *,
    url_source: str,
    jwk: Mapping[str, Any],
    pem: str,
    launches: Sequence[Mapping[str, Any]] | None,
    problem: str | None = None,
) -> str:
    """The values to paste into an LMS, and (behind Jupyter auth) the captured launches."""
    e = escape
    if tool is not None:
        urls = (
            "<table>"
            f"<tr><th>OIDC login URL (initiation)</th><td><code>{e(tool.login_url)}</code>"
            "</td></tr>"
            f"<tr><th>Redirect URI</th><td><code>{e(tool.launch_url)}</code></td></tr>"
            f"<tr><th>Target link URI</th><td><code>{e(tool.target_link_uri)}</code></td></tr>"
            f"<tr><th>Public JWKS URL</th><td><code>{e(tool.jwks_url)}</code></td></tr>"
            "</table>"
        )
    else:
        urls = f"<p class='bad'>{e(problem or 'No public URL is configured.')}</p>"
    body = (
        "<h1>nrps_nb: register this tool in your LMS</h1>"
        "<p>Create an LTI 1.3 tool (developer key, external tool, registration) with these "
        "values. Enable the Names and Role Provisioning Service for it, and place it in a "
        "course; then click its link there.</p>"
        f"<h2>URLs this receiver registers</h2>{urls}"
        f"<p class='muted'>Public URL from: {e(url_source)}. These URLs come from "
        "configuration, never from request headers; the LMS must use them exactly.</p>"
        "<h2>Tool public key</h2>"
        "<p>Where the LMS cannot reach the JWKS URL (a laptop), paste the key instead.</p>"
        f"<p>Public JWK:</p><pre id='jwk'>{e(json.dumps(dict(jwk), indent=2))}</pre>"
        f"<p>PEM:</p><pre id='pem'>{e(pem)}</pre>"
        "<p>Then register the LMS here: <code>nrps-nb platform add NAME --preset …</code> or "
        "<code>nrps_nb.add_platform(…)</code>.</p>"
    )
    if launches is not None:
        body += f"<h2>Captured launches</h2>{_launch_rows(launches)}"
    else:
        body += (
            "<h2>Captured launches</h2><p class='muted'>Not shown here (this page needs no "
            "login); run <code>nrps-nb launches</code> or call "
            "<code>nrps_nb.launches()</code>.</p>"
        )
    return page("nrps_nb setup", body)
