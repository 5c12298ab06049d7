"""Human-facing HTML: the course list and one page of launch links per course."""

from __future__ import annotations

from typing import Any

from .base import BaseHandler, esc
from .roster import Course, role_label
from .vocab import ROLE_INSTRUCTOR, ROLE_TEST_USER

LEARNER_LINKS = 20


def _launch_candidates(course: Course) -> list[dict[str, Any]]:
    """Instructor, TAs, the test student and the first active learners."""
    staff = [m for m in course.members if ROLE_INSTRUCTOR in m["roles"]]
    tests = [m for m in course.members if ROLE_TEST_USER in m["roles"]]
    learners = [
        m
        for m in course.members
        if ROLE_INSTRUCTOR not in m["roles"]
        and ROLE_TEST_USER not in m["roles"]
        and m["status"] == "Active"
    ]
    return [*staff, *tests, *learners[:LEARNER_LINKS]]


class IndexHandler(BaseHandler):
    def get(self) -> None:
        p = self.platform
        rows = "\n".join(
            f'<tr><td><a href="{esc(p.course_url(c.course_id))}">{esc(c.spec.title)}</a></td>'
            f"<td>{esc(c.spec.label)}</td><td>{len(c.members)}</td></tr>"
            for c in p.courses.values()
        )
        cfg = p.config
        body = (
            "<h1>nrps_nb sandbox LMS</h1>\n"
            "<p>A local LTI 1.3 platform with synthetic courses. Open a course to launch the "
            "registered tool as one of its members.</p>\n"
            "<table><tr><th>Course</th><th>Label</th><th>Members</th></tr>\n"
            f"{rows}</table>\n<h2>Registration</h2>\n<table>\n"
            f"<tr><th>Issuer</th><td><code>{esc(p.issuer)}</code></td></tr>\n"
            f"<tr><th>Client ID</th><td><code>{esc(cfg.client_id)}</code></td></tr>\n"
            f"<tr><th>Deployment ID</th><td><code>{esc(cfg.deployment_id)}</code></td></tr>\n"
            f"<tr><th>Auth endpoint</th><td><code>{esc(p.auth_url)}</code></td></tr>\n"
            f"<tr><th>Token endpoint</th><td><code>{esc(p.token_url)}</code></td></tr>\n"
            f"<tr><th>Platform JWKS</th><td><code>{esc(p.jwks_url)}</code></td></tr>\n"
            f"<tr><th>Tool login URL</th><td><code>{esc(cfg.tool_login_url)}</code></td></tr>\n"
            f"<tr><th>Tool redirect URI</th><td><code>{esc(cfg.tool_redirect_uri)}</code>"
            "</td></tr>\n"
            "</table>"
        )
        self.send_html(200, "nrps_nb sandbox LMS", body)


class CourseHandler(BaseHandler):
    def get(self, course_id: str) -> None:
        p = self.platform
        course = p.courses.get(course_id)
        if course is None:
            self.send_html(404, "Not found", f"<h1>No course {esc(course_id)}</h1>")
            return
        candidates = _launch_candidates(course)
        rows = "\n".join(
            f'<li><a href="{esc(p.launch_url(course_id, str(m["user_id"])))}">'
            f"{esc(m['name'])}</a> ({esc(role_label(m))}) — "
            f'<a href="{esc(p.embed_url(course_id, str(m["user_id"])))}">in a frame</a></li>'
            for m in candidates
        )
        if len(course.members) > len(candidates):
            rows += (
                f"\n<li><i>… and {len(course.members) - len(candidates)} more members (the "
                "staff, the test student and the first learners are enough to launch)</i></li>"
            )
        body = (
            f'<p><a href="{esc(p.base_url)}/">All courses</a></p>\n'
            f"<h1>{esc(course.spec.title)} <small>{esc(course.spec.label)}</small></h1>\n"
            f"<p>{len(course.members)} members. Memberships URL: "
            f"<code>{esc(p.memberships_url(course_id))}</code></p>\n"
            f"<h2>Launch “{esc(course.resource_link_title)}” as</h2>\n<ul>\n{rows}\n</ul>"
        )
        self.send_html(200, course.spec.title, body)
