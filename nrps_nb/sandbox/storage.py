"""The platform side of 1EdTech's client-side postMessages: platform storage for tools.

A real LMS page hosts the tool in an iframe (or opens it in a new window) and offers a
storage frame; tools that cannot rely on cookies keep their OIDC state and nonce there
(``lti.put_data``) and read them back when the launch arrives (``lti.get_data``). The
sandbox does the same, Canvas-style:

* ``GET /courses/<id>/embed?user=U`` is the course page with the tool in an iframe; with
  ``&target=window`` it opens the tool in a new window instead (the tool then talks to
  ``window.opener``). Its login initiation carries ``lti_storage_target``.
* The page answers ``lti.capabilities`` (and the pre-release ``org.imsglobal.lti.*``
  subject), naming the storage frame for put/get.
* ``GET /lti/post_message_forwarding`` is that frame: it keeps values per tool origin in
  memory, answers only the registered tool's origin, to the sender's origin, and counts
  what it did in ``data-puts`` / ``data-gets`` / ``data-misses`` on its ``<body>``.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from .base import BaseHandler, esc
from .oidc import login_initiation_url

STORAGE_FRAME = "post_message_forwarding"
MAX_KEYS = 500  # per tool origin, as Brightspace limits it
MAX_KEY_LENGTH = 1024
MAX_VALUE_LENGTH = 4096


def origin(url: str) -> str:
    """``scheme://host[:port]`` as browsers serialize an origin (default ports dropped)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def _script_json(value: object) -> str:
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_CAPABILITIES_JS = """
var TOOL_ORIGIN = %(tool_origin)s, FRAME = %(frame)s;
window.addEventListener("message", function (ev) {
  var d = ev.data;
  if (!d || typeof d !== "object" || typeof d.subject !== "string") return;
  if (ev.origin !== TOOL_ORIGIN || !ev.source) return;
  if (d.subject !== "lti.capabilities" && d.subject !== "org.imsglobal.lti.capabilities") return;
  var prefix = d.subject.indexOf("org.imsglobal.") === 0 ? "org.imsglobal." : "";
  ev.source.postMessage({
    subject: d.subject + ".response", message_id: d.message_id,
    supported_messages: [
      {subject: prefix + "lti.capabilities"},
      {subject: prefix + "lti.put_data", frame: FRAME},
      {subject: prefix + "lti.get_data", frame: FRAME}
    ]
  }, ev.origin);
});
"""

_FRAME_JS = """
var TOOL_ORIGIN = %(tool_origin)s, MAX_KEYS = %(max_keys)d;
var MAX_KEY = %(max_key)d, MAX_VALUE = %(max_value)d;
var stores = {};
function count(name) {
  var b = document.body; b.dataset[name] = String(Number(b.dataset[name] || 0) + 1);
}
function note(text) {
  var li = document.createElement("li"); li.textContent = text;
  document.getElementById("log").appendChild(li);
}
window.addEventListener("message", function (ev) {
  var d = ev.data;
  if (!d || typeof d !== "object" || typeof d.subject !== "string" || !ev.source) return;
  var base = d.subject.replace(/^org\\.imsglobal\\./, "");
  if (base !== "lti.put_data" && base !== "lti.get_data" && base !== "lti.capabilities") return;
  var reply = {subject: d.subject + ".response", message_id: d.message_id};
  if (ev.origin !== TOOL_ORIGIN) {
    reply.error = {code: "unauthorized", message: "origin " + ev.origin + " is not a tool here"};
  } else if (base === "lti.capabilities") {
    reply.supported_messages = [{subject: "lti.put_data"}, {subject: "lti.get_data"}];
  } else if (typeof d.key !== "string" || !d.key || d.key.length > MAX_KEY) {
    reply.error = {code: "bad_request", message: "key must be a string of 1 to " + MAX_KEY +
                   " characters"};
  } else {
    var store = stores[ev.origin] || (stores[ev.origin] = new Map());
    reply.key = d.key;
    if (base === "lti.put_data") {
      if (typeof d.value !== "string" || d.value.length > MAX_VALUE) {
        reply.error = {code: "bad_request", message: "value must be a string of at most " +
                       MAX_VALUE + " characters"};
      } else if (!store.has(d.key) && store.size >= MAX_KEYS) {
        reply.error = {code: "storage_exhaustion", message: "at most " + MAX_KEYS + " keys"};
      } else {
        store.set(d.key, d.value); reply.value = d.value; count("puts"); note("put " + d.key);
      }
    } else if (store.has(d.key)) {
      reply.value = store.get(d.key); count("gets"); note("get " + d.key);
    } else {
      reply.error = {code: "bad_request", message: "Key not found"};
      count("misses"); note("miss " + d.key);
    }
  }
  ev.source.postMessage(reply, ev.origin);
});
"""


class EmbedHandler(BaseHandler):
    """``GET /courses/<id>/embed?user=U[&target=window]``: the tool inside the LMS page."""

    def get(self, course_id: str) -> None:
        p = self.platform
        found = self.launching_member(course_id)
        if found is None:
            return
        course, user_id = found
        member = course.member(user_id)
        assert member is not None  # launching_member checked it
        target = self.get_argument("target", "iframe")
        if target not in ("iframe", "window"):
            self.send_html(400, "Bad request", "<h1>target must be iframe or window</h1>")
            return
        login = login_initiation_url(p, course, user_id, storage_target=STORAGE_FRAME)
        values = {
            "tool_origin": _script_json(origin(p.config.tool_url)),
            "frame": _script_json(STORAGE_FRAME),
        }
        if target == "iframe":
            start = (
                "document.getElementById('storage').addEventListener('load', function () {"
                f"document.getElementById('tool').src = {_script_json(login)}; }});"
            )
            tool = '<iframe id="tool" name="tool" title="nrps_nb" width="100%" height="640">'
            tool += "</iframe>"
        else:
            start = (
                "document.getElementById('open-tool').addEventListener('click', function () {"
                f"window.open({_script_json(login)}, 'nrps_nb_tool'); }});"
            )
            tool = '<button id="open-tool" type="button">Open nrps_nb in a new window</button>'
        body = (
            f'<p><a href="{esc(p.course_url(course_id))}">{esc(course.spec.title)}</a></p>\n'
            f"<h1>{esc(course.resource_link_title)}</h1>\n"
            f"<p>Launching as {esc(member['name'])}.</p>\n"
            f'<iframe id="storage" name="{STORAGE_FRAME}" title="platform storage" '
            f'src="{esc(p.base_url)}/lti/{STORAGE_FRAME}" width="100%" height="80"></iframe>\n'
            f"{tool}\n"
            f"<script>{_CAPABILITIES_JS % values}\n{start}</script>"
        )
        self.send_html(200, course.spec.title, body)


class StorageFrameHandler(BaseHandler):
    """``GET /lti/post_message_forwarding``: the frame that stores tools' values."""

    def get(self) -> None:
        values = {
            "tool_origin": _script_json(origin(self.platform.config.tool_url)),
            "max_keys": MAX_KEYS,
            "max_key": MAX_KEY_LENGTH,
            "max_value": MAX_VALUE_LENGTH,
        }
        body = f'<p>Platform storage</p><ol id="log"></ol>\n<script>{_FRAME_JS % values}</script>'
        self.send_html(200, "Platform storage", body)
