"""Shared request-handler plumbing: latency injection, JSON and HTML responses."""

from __future__ import annotations

import asyncio
import html
import json
import logging
from typing import Any

import tornado.web

from .roster import Course
from .state import Platform

log = logging.getLogger("nrps_nb.sandbox")


def esc(value: object) -> str:
    """HTML-escape any value for text or a double-quoted attribute."""
    return html.escape(str(value), quote=True)


def html_page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;"
        "padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}td,th{padding:.2em .6em;"
        "text-align:left}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def log_request(handler: tornado.web.RequestHandler) -> None:
    # Tornado logs 4xx at WARNING, which Python's last-resort handler prints to stderr; the
    # sandbox rejects bad requests on purpose, so keep access logs at DEBUG.
    request = handler.request
    log.debug(
        "%d %s %s %.1fms",
        handler.get_status(),
        request.method,
        request.uri,
        1000.0 * request.request_time(),
    )


class BaseHandler(tornado.web.RequestHandler):
    platform: Platform

    def initialize(self, platform: Platform) -> None:
        self.platform = platform

    async def prepare(self) -> None:
        latency = self.platform.config.latency
        if latency > 0:
            await asyncio.sleep(latency)

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    def launching_member(self, course_id: str) -> tuple[Course, str] | None:
        """The course and the active user a launch is for, or None after an error page."""
        p = self.platform
        p.stats["launch_requests"] += 1
        course = p.courses.get(course_id)
        if course is None:
            self.send_html(404, "Not found", f"<h1>No course {esc(course_id)}</h1>")
            return None
        user_id = self.get_argument("user", course.instructor["user_id"])
        member = course.member(user_id)
        if member is None:
            self.send_html(404, "Not found", f"<h1>No user {esc(user_id)} in {esc(course_id)}</h1>")
            return None
        if member["status"] != "Active":
            self.send_html(403, "Forbidden", "<h1>This enrollment is not active</h1>")
            return None
        return course, user_id

    def send_json(self, status: int, body: Any, content_type: str = "application/json") -> None:
        self.set_status(status)
        self.set_header("Content-Type", f"{content_type}; charset=utf-8")
        self.finish(json.dumps(body, ensure_ascii=False).encode("utf-8"))

    def send_html(self, status: int, title: str, body: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(html_page(title, body))

    def single_argument(self, name: str) -> str | None:
        """A parameter sent at most once (query or form); ``ValueError`` if repeated."""
        values = self.get_arguments(name, strip=False)
        if len(values) > 1:
            raise ValueError(f"parameter {name!r} was sent {len(values)} times")
        return values[0] if values else None
