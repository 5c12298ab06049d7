"""LTI 1.3 launch: third-party initiated login (platform side) and the OIDC auth endpoint."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .base import BaseHandler, esc
from .profiles import launch_claims, launch_roles
from .roster import Course, member_section
from .signing import InvalidToken
from .state import Platform
from .vocab import LTI_CLAIM

MESSAGE_HINT_PURPOSE = "lti_message_hint"
MESSAGE_HINT_LIFETIME = 600
ID_TOKEN_LIFETIME = 300
_IDENTITY_FIELDS = ("name", "given_name", "family_name", "middle_name", "email", "picture")


def id_token_claims(
    platform: Platform, course: Course, member: dict[str, Any], nonce: str, now: int
) -> dict[str, Any]:
    """The claims of an ``LtiResourceLinkRequest`` id_token for ``member`` in ``course``."""
    cfg = platform.config
    profile = platform.profile
    person = course.person(member["user_id"])
    claims: dict[str, Any] = {
        "iss": platform.issuer,
        "aud": cfg.client_id,
        "sub": member["user_id"],
        "exp": now + ID_TOKEN_LIFETIME,
        "iat": now,
        "nonce": nonce,
    }
    claims.update({k: member[k] for k in _IDENTITY_FIELDS if k in member})
    claims.update(
        {
            LTI_CLAIM + "message_type": "LtiResourceLinkRequest",
            LTI_CLAIM + "version": "1.3.0",
            LTI_CLAIM + "deployment_id": cfg.deployment_id,
            LTI_CLAIM + "target_link_uri": cfg.tool_redirect_uri,
            LTI_CLAIM + "resource_link": {
                "id": course.resource_link_id,
                "title": course.resource_link_title,
            },
            LTI_CLAIM + "roles": launch_roles(profile, list(member["roles"]), person["roles"]),
            LTI_CLAIM + "context": {**course.context(), "type": [profile.context_type]},
            LTI_CLAIM + "tool_platform": {
                "guid": platform.platform_guid,
                "name": profile.title,
                "product_family_code": profile.product_family_code,
            },
            LTI_CLAIM + "launch_presentation": {
                "document_target": "window",
                "return_url": platform.course_url(course.course_id),
                "locale": "en",
            },
            LTI_CLAIM + "custom": {"section": member_section(member["user_id"])},
        }
    )
    if profile.send_azp:
        claims["azp"] = cfg.client_id
    if "lis_person_sourcedid" in member:
        claims[LTI_CLAIM + "lis"] = {"person_sourcedid": member["lis_person_sourcedid"]}
    if "lti11_legacy_user_id" in member:
        claims[LTI_CLAIM + "lti11_legacy_user_id"] = member["lti11_legacy_user_id"]
    # The platform's own claims (NRPS claim variants, vendor claims, nbf...).
    extra = launch_claims(
        profile,
        member=member,
        base=person,
        memberships_url=platform.memberships_url(course.course_id),
        now=now,
    )
    extra_custom = extra.pop(LTI_CLAIM + "custom", {})
    claims[LTI_CLAIM + "custom"].update(extra_custom)
    claims.update(extra)
    return claims


def login_initiation_url(
    p: Platform, course: Course, user_id: str, storage_target: str | None = None
) -> str:
    """The tool's login URL with a third-party initiated login for ``user_id`` in ``course``.

    ``storage_target`` names the frame that offers platform storage (1EdTech client-side
    postMessages); the tool then keeps its state and nonce there instead of in cookies.
    """
    cfg = p.config
    hint = p.signer.seal(
        MESSAGE_HINT_PURPOSE,
        {
            "c": course.course_id,
            "u": user_id,
            "rl": course.resource_link_id,
            "exp": int(time.time()) + MESSAGE_HINT_LIFETIME,
        },
    )
    query = {
        "iss": p.issuer,
        "login_hint": user_id,
        "target_link_uri": cfg.tool_redirect_uri,
        "lti_message_hint": hint,
        "client_id": cfg.client_id,
        "lti_deployment_id": cfg.deployment_id,
    }
    query.update(p.profile.login_extras)  # e.g. Canvas's canvas_region, canvas_environment
    if storage_target is not None:
        query["lti_storage_target"] = storage_target
    return f"{cfg.tool_login_url}?{urlencode(query)}"


class LoginInitiationHandler(BaseHandler):
    """``GET /courses/<id>/launch?user=<user_id>``: send the browser to the tool's login URL."""

    def get(self, course_id: str) -> None:
        p = self.platform
        found = self.launching_member(course_id)
        if found is None:
            return
        course, user_id = found
        url = login_initiation_url(p, course, user_id)
        if p.profile.login_method == "POST":  # Canvas and Moodle auto-post a form
            action, _, query = url.partition("?")
            inputs = "\n".join(
                f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">'
                for k, v in parse_qsl(query, keep_blank_values=True)
            )
            self.send_html(
                200,
                "Launching…",
                f'<form id="lti-login" method="post" action="{esc(action)}">\n{inputs}\n'
                '<noscript><button type="submit">Continue to the tool</button></noscript>\n'
                '</form>\n<script>document.getElementById("lti-login").submit();</script>',
            )
            return
        self.redirect(url, status=302)


class AuthError(Exception):
    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


class AuthHandler(BaseHandler):
    """The OIDC authorization endpoint (``response_mode=form_post``, implicit id_token)."""

    async def get(self) -> None:
        self._authorize()

    async def post(self) -> None:
        self._authorize()

    def _param(self, name: str) -> str | None:
        try:
            return self.single_argument(name)
        except ValueError as exc:
            raise AuthError(name, str(exc)) from exc

    def _expect(self, name: str, expected: str) -> None:
        value = self._param(name)
        if value != expected:
            raise AuthError(name, f"must be {expected!r}, got {value!r}")

    def _authorize(self) -> None:
        p = self.platform
        p.stats["auth_requests"] += 1
        try:
            course, member, nonce, state = self._check()
        except AuthError as err:
            # Never redirect on error: the redirect_uri may be the very thing that is wrong.
            self.send_html(
                400,
                "Invalid authentication request",
                "<h1>Invalid authentication request</h1>\n"
                f'<p>Parameter <code class="parameter">{esc(err.parameter)}</code>: '
                f"{esc(err.problem)}</p>",
            )
            return
        claims = id_token_claims(p, course, member, nonce, int(time.time()))
        self._post_form(p.config.tool_redirect_uri, p.key.sign(claims), state)

    def _check(self) -> tuple[Course, dict[str, Any], str, str | None]:
        p, cfg = self.platform, self.platform.config
        # client_id and redirect_uri first: until both are known-good nothing may go back.
        client_id = self._param("client_id")
        if client_id != cfg.client_id:
            raise AuthError("client_id", f"{client_id!r} is not a registered client")
        redirect_uri = self._param("redirect_uri")
        if redirect_uri != cfg.tool_redirect_uri:
            raise AuthError(
                "redirect_uri",
                f"{redirect_uri!r} is not registered for this client "
                f"(registered: {cfg.tool_redirect_uri!r}; compared exactly)",
            )
        self._expect("scope", "openid")
        self._expect("response_type", "id_token")
        self._expect("response_mode", "form_post")
        self._expect("prompt", "none")
        login_hint = self._param("login_hint")
        if not login_hint:
            raise AuthError("login_hint", "missing")
        raw_hint = self._param("lti_message_hint")
        if not raw_hint:
            raise AuthError("lti_message_hint", "missing (it must be returned unchanged)")
        try:
            hint = p.signer.open(MESSAGE_HINT_PURPOSE, raw_hint)
        except InvalidToken as exc:
            raise AuthError("lti_message_hint", f"not issued by this platform ({exc})") from exc
        if not isinstance(hint.get("exp"), int) or hint["exp"] < time.time():
            raise AuthError("lti_message_hint", "expired; start the launch again")
        course = p.courses.get(str(hint.get("c")))
        if course is None or hint.get("rl") != course.resource_link_id:
            raise AuthError("lti_message_hint", "refers to an unknown resource link")
        member = course.member(login_hint)
        if member is None:
            raise AuthError("login_hint", f"{login_hint!r} is not a member of this course")
        if hint.get("u") != login_hint:
            raise AuthError("lti_message_hint", "was issued for a different user than login_hint")
        if member["status"] != "Active":
            raise AuthError("login_hint", "this enrollment is not active")
        nonce = self._param("nonce")
        if not nonce:
            raise AuthError("nonce", "missing or empty")
        return course, member, nonce, self._param("state")

    def _post_form(self, action: str, id_token: str, state: str | None) -> None:
        inputs = f'<input type="hidden" name="id_token" value="{esc(id_token)}">'
        if state is not None:
            inputs += f'\n<input type="hidden" name="state" value="{esc(state)}">'
        body = (
            f'<form id="lti-launch" method="post" action="{esc(action)}">\n{inputs}\n'
            '<noscript><button type="submit">Continue to the tool</button></noscript>\n'
            "</form>\n"
            '<script>document.getElementById("lti-launch").submit();</script>'
        )
        self.send_html(200, "Launching…", body)
