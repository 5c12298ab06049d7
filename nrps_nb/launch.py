"""OIDC login initiation and id_token validation (DESIGN §1 and §4), framework-free.

``begin_login`` turns a platform's third-party-initiated login into the redirect to the
platform's auth endpoint, with a single-use ``state`` and a ``nonce`` stored server-side.
``validate_launch`` runs every check of DESIGN §4 in order and stops at the first failure
with its own error type; the message names the claim, what was expected and what came
(never the token). ``store_launch`` records a valid launch with its course.

Example::

    >>> redirect = begin_login(store, request.params, tool)                 # doctest: +SKIP
    >>> launch = await validate_launch(store, id_token, state, tool, jwks)   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import (
    ConfigError,
    ExpiredToken,
    InvalidAudience,
    InvalidMessage,
    InvalidNonce,
    InvalidState,
    MissingClaim,
    UnknownDeployment,
    UnknownRegistration,
)
from .http import merge_query
from .jose import JwksCache, read_unverified, static_key, verify_signature
from .registry import Course, Platform
from .store import Store

__all__ = [
    "CLAIM",
    "LOGIN_STATE_TTL",
    "Launch",
    "LoginRedirect",
    "ToolUrls",
    "begin_login",
    "confirm_launch",
    "prepare_login",
    "store_launch",
    "store_pending_launch",
    "validate_launch",
]

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
LOGIN_STATE_TTL = 600.0
DEFAULT_LEEWAY = 60
SUPPORTED_MESSAGES = ("LtiResourceLinkRequest",)
CONFIRM_TTL = 600.0  # a pending launch must be confirmed by its browser within 10 minutes
# lti_storage_target names a frame of the platform's window (or "_parent").
_FRAME_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@dataclass(frozen=True)
class ToolUrls:
    """The tool's public URLs, from configuration (never guessed from request headers)."""

    public_url: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"the public URL {self.public_url!r} is not an absolute http(s) URL")

    @property
    def base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def login_url(self) -> str:
        return self.base + "/login"

    @property
    def launch_url(self) -> str:
        return self.base + "/launch"

    @property
    def jwks_url(self) -> str:
        return self.base + "/jwks.json"

    @property
    def target_link_uri(self) -> str:
        return self.launch_url

    def owns(self, url: object) -> bool:
        """True when ``url`` is one of this tool's URLs (same origin, under the base path)."""
        if not isinstance(url, str):
            return False
        mine, other = urlsplit(self.base + "/"), urlsplit(url)
        try:
            same = (mine.scheme, mine.hostname, mine.port) == (
                other.scheme,
                other.hostname,
                other.port,
            )
        except ValueError:
            return False
        # No dot segments (plain or percent-encoded): ".." would climb out of the base path.
        if any(unquote(s) in (".", "..") for s in other.path.split("/")):
            return False
        return same and (other.path + "/").startswith(mine.path)


@dataclass(frozen=True)
class Launch:
    """A validated launch: which course, which platform, who launched it."""

    id: int
    platform: str
    issuer: str
    client_id: str
    deployment_id: str
    message_type: str
    sub: str | None
    user_name: str | None
    roles: tuple[str, ...]
    context_id: str | None
    context_label: str | None
    context_title: str | None
    resource_link_id: str | None
    resource_link_title: str | None
    context_memberships_url: str | None
    received_at: datetime
    course: Course | None = None
    warnings: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    status: str = "valid"  # "pending" until a platform-storage launch is confirmed

    @classmethod
    def from_row(cls, row: Mapping[str, Any], course: Course | None = None) -> Launch:
        return cls(
            id=row["id"],
            platform=row["platform"],
            issuer=row["issuer"],
            client_id=row["client_id"],
            deployment_id=row["deployment_id"],
            message_type=row["message_type"],
            sub=row["sub"],
            user_name=row["user_name"],
            roles=tuple(json.loads(row["roles"])),
            context_id=row["context_id"],
            context_label=row["context_label"],
            context_title=row["context_title"],
            resource_link_id=row["resource_link_id"],
            resource_link_title=row["resource_link_title"],
            context_memberships_url=row["context_memberships_url"],
            received_at=datetime.fromtimestamp(row["received_at"], UTC),
            course=course,
            warnings=tuple(json.loads(row["warnings"])),
            claims=json.loads(row["claims"]),
            status=row.get("status") or "valid",
        )

    def _repr_html_(self) -> str:
        e = html.escape
        title = e(self.context_title or self.context_id or "(no course)")
        url = e(self.context_memberships_url or "no Names and Roles service in this launch")
        return (
            f"<b>Launch {self.id}</b>: {title} on platform <b>{e(self.platform)}</b>"
            f"<br>by {e(self.user_name or self.sub or 'an anonymous user')}, "
            f"{e(', '.join(r.rsplit('#', 1)[-1] for r in self.roles) or 'no roles')}"
            f"<br>roster: <code>{url}</code>"
        )


def _param(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value != "" else None


def find_registration(store: Store, issuer: str, client_id: str | None) -> Platform:
    """The platform for (issuer, client_id); by issuer alone only if that is unambiguous."""
    if client_id is not None:
        found = store.find_platforms(issuer, client_id)
        if found:
            return found[0]
        raise UnknownRegistration(
            f"no platform is registered with issuer {issuer!r} and client_id {client_id!r}"
        )
    found = store.find_platforms(issuer)
    if len(found) == 1:
        return found[0]
    if not found:
        raise UnknownRegistration(f"no platform is registered with issuer {issuer!r}")
    raise UnknownRegistration(
        f"{len(found)} platforms share issuer {issuer!r} and the login sent no client_id; "
        "configure the LMS to send client_id"
    )


@dataclass(frozen=True)
class LoginRedirect:
    """Where a login initiation sends the browser, and what it stored for the launch."""

    url: str
    state: str
    nonce: str
    platform: Platform
    storage_target: str | None = None

    @property
    def platform_origin(self) -> str:
        """The origin of the platform's auth endpoint: the postMessage target origin."""
        return origin_of(self.platform.auth_login_url)


def origin_of(url: str) -> str:
    """The serialized origin of ``url`` (as browsers write ``event.origin``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def begin_login(
    store: Store, params: Mapping[str, Any], tool: ToolUrls, *, ttl: float = LOGIN_STATE_TTL
) -> str:
    """Handle an OIDC login initiation; return the URL to redirect the browser to."""
    return prepare_login(store, params, tool, ttl=ttl).url


MAX_DEPLOYMENT_ID = 255  # LTI Core 1.3 §3.1.3: at most 255 ASCII characters
MAX_TARGET_LINK_URI = 2048


def prepare_login(
    store: Store, params: Mapping[str, Any], tool: ToolUrls, *, ttl: float = LOGIN_STATE_TTL
) -> LoginRedirect:
    """Handle an OIDC login initiation: store state and nonce, build the auth redirect.

    When the platform sent ``lti_storage_target``, the login state remembers it: the launch
    that comes back is *pending* until the browser confirms state and nonce from the
    platform's storage (1EdTech client-side postMessages).
    """
    iss = _param(params, "iss")
    login_hint = _param(params, "login_hint")
    target = _param(params, "target_link_uri")
    if iss is None:
        raise MissingClaim("the login initiation has no 'iss' parameter")
    if login_hint is None:
        raise MissingClaim("the login initiation has no 'login_hint' parameter")
    if target is None:
        raise MissingClaim("the login initiation has no 'target_link_uri' parameter")
    platform = find_registration(store, iss, _param(params, "client_id"))
    # What the login state keeps is bounded, so that a flood of logins (unauthenticated) can
    # fill the bounded state table only with small rows.
    deployment_id = _param(params, "lti_deployment_id")
    if deployment_id is not None and len(deployment_id) > MAX_DEPLOYMENT_ID:
        raise InvalidMessage(
            f"lti_deployment_id is {len(deployment_id)} characters long; LTI allows at most "
            f"{MAX_DEPLOYMENT_ID}",
            remedy="The LMS sent a malformed deployment id; launch again from the course.",
        )
    if len(target) > MAX_TARGET_LINK_URI:
        raise InvalidMessage(
            f"target_link_uri is {len(target)} characters long; at most {MAX_TARGET_LINK_URI} "
            f"are accepted (expected {tool.target_link_uri!r})",
            remedy=f"Set the target link URI in the LMS to {tool.target_link_uri}.",
        )
    storage_target = _param(params, "lti_storage_target")
    if storage_target is not None and not _FRAME_NAME.fullmatch(storage_target):
        raise InvalidMessage(
            f"lti_storage_target {storage_target[:60]!r} is not a frame name",
            remedy="The LMS sent a malformed lti_storage_target; launch again from the course.",
        )
    if not tool.owns(target):
        raise InvalidMessage(
            f"target_link_uri {target!r} is not one of this tool's URLs (expected "
            f"{tool.target_link_uri!r}); set the LMS's target link URI to it",
            remedy=f"Set the target link URI in the LMS to {tool.target_link_uri}.",
        )
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    store.create_login_state(
        state=state,
        nonce=nonce,
        platform=platform.name,
        lti_deployment_id=deployment_id,
        target_link_uri=target,
        ttl=ttl,
        storage_target=storage_target,
    )
    auth = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": tool.launch_url,
        "login_hint": login_hint,
        "lti_message_hint": _param(params, "lti_message_hint"),
        "state": state,
        "nonce": nonce,
    }
    return LoginRedirect(
        url=merge_query(platform.auth_login_url, auth),
        state=state,
        nonce=nonce,
        platform=platform,
        storage_target=storage_target,
    )


def _got(value: object) -> str:
    """What a claim held, for an error message: its JSON type and a short repr."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _require_str(claims: Mapping[str, Any], name: str, label: str | None = None) -> str:
    value = claims.get(name)
    label = label or name
    if value is None:
        raise MissingClaim(f"the id_token has no {label!r} claim")
    if not isinstance(value, str) or not value:
        raise MissingClaim(
            f"the id_token claim {label!r} must be a non-empty string, got {_got(value)}"
        )
    return value


MAX_NUMERIC_DATE = 2**53  # exactly representable as a float; far beyond any real date


def _numeric(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if value is None:
        raise ExpiredToken(f"the id_token has no {name!r} claim (required)")
    # A NumericDate (RFC 7519): a finite number of seconds; JSON allows 1e400 (infinity) and
    # integers too large for a float, which would otherwise never expire or crash.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not -MAX_NUMERIC_DATE <= value <= MAX_NUMERIC_DATE  # False for NaN too
    ):
        raise ExpiredToken(
            f"the id_token claim {name!r} must be a NumericDate (seconds since 1970), got "
            f"{_got(value)}"
        )
    return float(value)


@dataclass(frozen=True)
class ValidatedLaunch:
    platform: Platform
    claims: dict[str, Any]
    warnings: tuple[str, ...]
    state: str = ""
    nonce: str = ""
    storage_target: str | None = None  # set: the launch waits for its browser's confirmation


async def validate_launch(
    store: Store,
    id_token: object,
    state: object,
    tool: ToolUrls,
    jwks: JwksCache,
    *,
    leeway: int = DEFAULT_LEEWAY,
    now: float | None = None,
) -> ValidatedLaunch:
    """Run DESIGN §4's checks in order; return the trusted claims or raise LaunchError."""
    # 1. state known and unused (single use: consumed now, whatever follows)
    if not isinstance(state, str) or not state:
        raise InvalidState("the launch has no 'state'; start the launch again from the LMS")
    login = store.consume_login_state(state)
    if login is None:
        raise InvalidState("the launch 'state' is unknown, already used or expired")
    # 2. JWT shape and algorithm
    header, unverified = read_unverified(id_token)
    assert isinstance(id_token, str)
    # 3. registration by the (unverified) iss and this login's client_id
    platform = store.get_platform(login["platform"])
    iss = unverified.get("iss")
    if iss != platform.issuer:
        raise UnknownRegistration(
            f"the id_token 'iss' is {iss!r}; the login was for platform {platform.name!r} "
            f"with issuer {platform.issuer!r}"
        )
    aud = unverified.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise InvalidAudience(f"the id_token 'aud' must be a string or an array, got {aud!r}")
    if platform.client_id not in audiences:
        raise InvalidAudience(
            f"the id_token 'aud' is {aud!r}; expected it to contain the client_id "
            f"{platform.client_id!r}"
        )
    if len(audiences) > 1:
        # Other audiences must be ones the tool trusts (LTI Security Framework §5.1.3 step 3,
        # OIDC Core §3.1.3.7): its own client_ids at this issuer, nobody else's.
        trusted = {p.client_id for p in store.find_platforms(platform.issuer)}
        untrusted = [a for a in audiences if a not in trusted]
        if untrusted:
            raise InvalidAudience(
                f"the id_token 'aud' also names {', '.join(map(repr, untrusted))}, an audience "
                "this tool does not trust (only its own client_ids at this issuer); expected "
                f"{platform.client_id!r} alone"
            )
    # 4. signature, with the key the header kid names
    kid = header.get("kid")
    if platform.platform_key is not None:
        key = static_key(platform.platform_key, kid)
    elif platform.key_set_url:
        key = await jwks.get_key(platform.key_set_url, kid)
    else:
        raise ConfigError(f"platform {platform.name!r} has neither a key set URL nor a static key")
    claims = verify_signature(id_token, key, header["alg"])
    # 5. from here on the claims are trusted: azp
    azp = claims.get("azp")
    if azp is not None and azp != platform.client_id:
        raise InvalidAudience(
            f"the id_token 'azp' is {azp!r}; expected the client_id {platform.client_id!r}"
        )
    if azp is None and len(audiences) > 1:
        raise InvalidAudience(
            f"the id_token has {len(audiences)} audiences but no 'azp' naming this tool"
        )
    # 6. time
    t = time.time() if now is None else now
    exp = _numeric(claims, "exp")
    iat = _numeric(claims, "iat")
    if t > exp + leeway:
        raise ExpiredToken(f"the id_token expired {int(t - exp)} s ago ('exp' = {int(exp)})")
    if iat > t + leeway:
        raise ExpiredToken(f"the id_token 'iat' is {int(iat - t)} s in the future")
    if "nbf" in claims:
        nbf = _numeric(claims, "nbf")
        if nbf > t + leeway:
            raise ExpiredToken(f"the id_token is not valid for another {int(nbf - t)} s ('nbf')")
    # 7. nonce: this login's, and never seen before
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise InvalidNonce("the id_token has no 'nonce' claim")
    if not secrets.compare_digest(nonce, login["nonce"]):
        raise InvalidNonce("the id_token 'nonce' is not the one this login sent")
    if not store.consume_nonce(nonce, exp):
        raise InvalidNonce("the id_token 'nonce' was used before (a replayed launch)")
    # 8. deployment
    warnings: list[str] = []
    new_deployment: str | None = None
    deployment_id = _require_str(claims, CLAIM + "deployment_id", "deployment_id")
    sent = login.get("lti_deployment_id")
    if sent is not None and sent != deployment_id:
        raise UnknownDeployment(
            f"the id_token deployment_id {deployment_id!r} differs from the login's "
            f"lti_deployment_id {sent!r}"
        )
    if deployment_id not in platform.deployment_ids:
        if not platform.auto_deployments:
            raise UnknownDeployment(
                f"deployment_id {deployment_id!r} is not registered for platform "
                f"{platform.name!r} (known: {', '.join(platform.deployment_ids) or 'none'})",
                remedy=(
                    f"Add it: `nrps-nb platform add {platform.name} ... --deployment-id "
                    f"{deployment_id}` (or allow automatic deployments)."
                ),
            )
        new_deployment = deployment_id  # registered only once every check has passed
        warnings.append(
            f"deployment_id {deployment_id!r} was added to platform {platform.name!r} "
            "on first sight"
        )
    # 9. message type, version, target link
    message_type = _require_str(claims, CLAIM + "message_type", "message_type")
    version = claims.get(CLAIM + "version")
    if version != "1.3.0":
        raise InvalidMessage(f"the id_token 'version' is {version!r}; expected '1.3.0'")
    if message_type not in SUPPORTED_MESSAGES:
        raise InvalidMessage(
            f"the id_token 'message_type' is {message_type!r}; expected one of "
            f"{', '.join(SUPPORTED_MESSAGES)}"
        )
    target = _require_str(claims, CLAIM + "target_link_uri", "target_link_uri")
    if not tool.owns(target):
        raise InvalidMessage(
            f"the id_token 'target_link_uri' {target!r} is not one of this tool's URLs "
            f"(expected {tool.target_link_uri!r})",
            remedy=f"Set the target link URI in the LMS to {tool.target_link_uri}.",
        )
    # 10. required claims per message type, and types of the optional ones we read
    link = claims.get(CLAIM + "resource_link")
    if not isinstance(link, dict):
        raise MissingClaim("the id_token has no 'resource_link' claim (an object with an 'id')")
    _require_str(link, "id", "resource_link.id")
    roles = claims.get(CLAIM + "roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise MissingClaim(
            "the id_token 'roles' claim must be an array of strings (may be empty), got "
            f"{_got(roles)}"
        )
    if "sub" in claims and (not isinstance(claims["sub"], str) or not claims["sub"]):
        raise MissingClaim(
            f"the id_token 'sub' claim must be a non-empty string, got {_got(claims['sub'])}"
        )
    context = claims.get(CLAIM + "context")
    if context is not None:
        if not isinstance(context, dict):
            raise MissingClaim(
                f"the id_token 'context' claim must be an object, got {_got(context)}"
            )
        _require_str(context, "id", "context.id")
    nrps = claims.get(NRPS_CLAIM)
    if nrps is not None:
        if not isinstance(nrps, dict):
            raise MissingClaim(
                f"the id_token Names and Roles claim must be an object, got {_got(nrps)}"
            )
        _require_str(nrps, "context_memberships_url", "namesroleservice.context_memberships_url")
        versions = nrps.get("service_versions")
        if not isinstance(versions, list):
            warnings.append(
                "the Names and Roles claim has no service_versions list (required); "
                "assuming NRPS 2.0"
            )
        elif "2.0" not in versions:
            warnings.append(f"the platform offers NRPS versions {versions}, not 2.0")
    else:
        warnings.append(
            "the launch carries no Names and Roles claim: enable NRPS for the tool in the LMS"
        )
    if new_deployment is not None:  # every check passed: now the registration may change
        store.add_deployment(platform.name, new_deployment, auto=True)
    return ValidatedLaunch(
        platform=platform,
        claims=claims,
        warnings=tuple(warnings),
        state=state,
        nonce=nonce,
        storage_target=login.get("storage_target"),
    )


def _opt_str(obj: object, name: str) -> str | None:
    if isinstance(obj, dict):
        value = obj.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _launch_record(validated: ValidatedLaunch, course: Course | None) -> dict[str, Any]:
    claims = validated.claims
    platform = validated.platform
    context = claims.get(CLAIM + "context")
    link = claims.get(CLAIM + "resource_link")
    nrps = claims.get(NRPS_CLAIM)
    return {
        "platform": platform.name,
        "issuer": platform.issuer,
        "client_id": platform.client_id,
        "deployment_id": claims[CLAIM + "deployment_id"],
        "course_id": course.id if course else None,
        "message_type": claims[CLAIM + "message_type"],
        "sub": claims.get("sub"),
        "user_name": claims.get("name") if isinstance(claims.get("name"), str) else None,
        "roles": json.dumps(claims.get(CLAIM + "roles", [])),
        "context_id": _opt_str(context, "id"),
        "context_label": _opt_str(context, "label"),
        "context_title": _opt_str(context, "title"),
        "resource_link_id": _opt_str(link, "id"),
        "resource_link_title": _opt_str(link, "title"),
        "context_memberships_url": _opt_str(nrps, "context_memberships_url"),
        "claims": json.dumps(claims),
        "warnings": json.dumps(list(validated.warnings)),
        "status": "valid",
        "received_at": time.time(),
    }


def _upsert_course(store: Store, platform: str, claims: Mapping[str, Any]) -> Course | None:
    memberships_url = _opt_str(claims.get(NRPS_CLAIM), "context_memberships_url")
    if memberships_url is None:
        return None
    context = claims.get(CLAIM + "context")
    return store.upsert_course(
        platform,
        memberships_url,
        context_id=_opt_str(context, "id"),
        context_label=_opt_str(context, "label"),
        context_title=_opt_str(context, "title"),
        deployment_id=claims[CLAIM + "deployment_id"],
        source="launch",
    )


def store_launch(store: Store, validated: ValidatedLaunch) -> Launch:
    """Record a validated launch and its course; return the stored Launch.

    A launch whose login used platform storage must go through :func:`store_pending_launch`.
    """
    if validated.storage_target is not None:
        raise ValueError("this launch used platform storage: store it with store_pending_launch")
    course = _upsert_course(store, validated.platform.name, validated.claims)
    record = _launch_record(validated, course)
    launch_id = store.add_launch(record)
    return Launch.from_row({**record, "id": launch_id}, course)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def store_pending_launch(
    store: Store, validated: ValidatedLaunch, *, ttl: float = CONFIRM_TTL
) -> tuple[Launch, str]:
    """Record a launch as *pending*; return it and the single-use confirmation token.

    The launch page hands the token to the browser's script, which reads state and nonce back
    from the platform's storage and sends them with the token to :func:`confirm_launch`.
    Until then the launch cannot be claimed and adds no course.
    """
    token = secrets.token_urlsafe(32)
    record = _launch_record(validated, None)
    launch_id = store.add_pending_launch(
        record, token_hash=_token_hash(token), state=validated.state, nonce=validated.nonce, ttl=ttl
    )
    return Launch.from_row({**record, "id": launch_id, "status": "pending"}), token


def confirm_launch(
    store: Store, launch_id: object, token: object, state_value: object, nonce_value: object
) -> Launch:
    """Confirm a pending launch with the state and nonce its browser read from platform storage.

    The confirmation is single-use; values that differ from the login's reject the launch.
    """
    try:
        lid = int(str(launch_id))
    except ValueError:
        raise InvalidState("the confirmation names no launch") from None
    if not 0 < lid < 2**63:  # an SQLite rowid; anything else names no launch we made
        raise InvalidState(f"the confirmation names no launch of this tool ({lid})")
    if not isinstance(token, str) or not token:
        raise InvalidState("the confirmation carries no token")
    pending = store.take_launch_confirmation(lid, _token_hash(token))
    if pending is None:
        raise InvalidState(
            f"launch {lid} has no pending confirmation with this token (unknown, already "
            "confirmed or expired)"
        )
    storage_remedy = (
        "Launch again from the LMS in this browser. The LMS's browser storage must hold the "
        "login that this browser started; a launch finished in another browser is refused."
    )
    if not isinstance(state_value, str) or not secrets.compare_digest(
        state_value.encode(), str(pending["state"]).encode()
    ):
        store.set_launch_status(lid, "rejected")
        raise InvalidState(
            "the state read from the platform's browser storage is not this launch's state",
            remedy=storage_remedy,
        )
    if not isinstance(nonce_value, str) or not secrets.compare_digest(
        nonce_value.encode(), str(pending["nonce"]).encode()
    ):
        store.set_launch_status(lid, "rejected")
        raise InvalidNonce(
            "the nonce read from the platform's browser storage is not this launch's nonce",
            remedy=storage_remedy,
        )
    row = store.get_launch(lid)
    if row is None:  # deleted in between
        raise InvalidState(f"launch {lid} no longer exists")
    course = _upsert_course(store, row["platform"], json.loads(row["claims"]))
    row = store.set_launch_status(lid, "valid", course_id=course.id if course else None)
    assert row is not None
    return Launch.from_row(row, course)
