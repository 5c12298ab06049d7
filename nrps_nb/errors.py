"""One exception hierarchy for nrps_nb.

Every error a user can meet is one of these; no raw ``KeyError``, ``JSONDecodeError`` or
httpx exception leaves the package. Each message says what was wrong and what to do, and
never contains a token, an assertion or a key.

Tree::

    NrpsNbError
    ├── ConfigError                 unknown platform, bad preset, missing key, bad URL
    │   └── InsecureURLError        plain http:// to a non-loopback host
    ├── StoreError                  the workspace database cannot be read or written
    │   └── StoreFull               too many pending logins (a flood); try again later
    ├── LaunchError                 a launch failed one of the DESIGN §4 checks
    │   ├── InvalidState            state unknown, used or expired
    │   ├── InvalidJWT              not a JWT, or a forbidden alg
    │   ├── UnknownRegistration     no platform for (iss, client_id)
    │   ├── InvalidSignature        signature or key lookup failed
    │   ├── InvalidAudience         aud / azp do not name this tool
    │   ├── ExpiredToken            exp, iat or nbf out of range (or missing)
    │   ├── InvalidNonce            nonce missing, different or replayed
    │   ├── UnknownDeployment       deployment_id not registered
    │   ├── InvalidMessage          message_type / version / target_link_uri
    │   ├── MissingClaim            a required claim is absent or of the wrong type
    │   └── LaunchTimeout           capture_launch() waited in vain
    ├── TokenError                  the token endpoint refused (carries error, error_description)
    └── ServiceError                an LTI service call failed (carries url, status)
        ├── NotAuthorized           401
        ├── Forbidden               403
        │   └── RosterTooLarge      the course is over the platform's roster limit (Open edX)
        ├── RateLimited             429 / Canvas's 403 throttle, past the retry budget
        ├── ServiceUnavailable      5xx, timeouts, connection errors, past the retry budget
        ├── BadResponse             not JSON, not a membership container, a next-link loop...
        │   └── ResourceLinkRefused the platform refused the rlid filter
        └── IncompleteRoster        a fetch stopped midway (carries the members so far)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadResponse",
    "ConfigError",
    "ExpiredToken",
    "Forbidden",
    "IncompleteRoster",
    "InsecureURLError",
    "InvalidAudience",
    "InvalidJWT",
    "InvalidMessage",
    "InvalidNonce",
    "InvalidSignature",
    "InvalidState",
    "LaunchError",
    "LaunchTimeout",
    "MissingClaim",
    "NotAuthorized",
    "NrpsNbError",
    "RateLimited",
    "ResourceLinkRefused",
    "RosterTooLarge",
    "ServiceError",
    "ServiceUnavailable",
    "StoreError",
    "StoreFull",
    "TokenError",
    "UnknownDeployment",
    "UnknownRegistration",
]


def _rebuild(cls: type[NrpsNbError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls, *args)
    error.__dict__.update(state)
    return error


class NrpsNbError(Exception):
    """Root of every nrps_nb error. ``code`` is a short machine-readable name.

    Every error pickles and copies with its attributes (the default ``Exception`` reduction
    calls ``cls(*args)``, which fails for errors with keyword-only fields).
    """

    code = "nrps_nb_error"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigError(NrpsNbError):
    """The configuration is wrong: unknown platform, bad preset, missing key, bad URL."""

    code = "config_error"


class InsecureURLError(ConfigError):
    """A plain ``http://`` URL for a host that is not a loopback address."""

    code = "insecure_url"


class StoreError(NrpsNbError):
    """The workspace database could not be read or written."""

    code = "store_error"


class StoreFull(StoreError):
    """A bounded table is full (a flood of login initiations); try again later."""

    code = "store_full"


class LaunchError(NrpsNbError):
    """A launch failed validation. ``check`` names the DESIGN §4 step that failed."""

    code = "launch_error"
    check = "launch"
    http_status = 400
    remedy = "Check the platform registration in the workspace (`nrps-nb platform list`)."

    def __init__(self, message: str, *, remedy: str | None = None) -> None:
        super().__init__(message)
        if remedy is not None:
            self.remedy = remedy


class InvalidState(LaunchError):
    code = "invalid_state"
    check = "state"
    remedy = (
        "Start the launch again from the LMS: each login state is single-use and expires "
        "after a few minutes."
    )


class InvalidJWT(LaunchError):
    code = "invalid_jwt"
    check = "jwt"
    remedy = "The platform must send an RS256/RS384/RS512/ES256-signed id_token."


class UnknownRegistration(LaunchError):
    code = "unknown_registration"
    check = "registration"
    remedy = (
        "Register the platform first with `nrps-nb platform add` (issuer and client_id must "
        "match the LMS exactly, without trailing slashes)."
    )


class InvalidSignature(LaunchError):
    code = "invalid_signature"
    check = "signature"
    remedy = "Check the platform's key set URL (or static key) in the registration."


class InvalidAudience(LaunchError):
    code = "invalid_audience"
    check = "audience"
    remedy = "Check the client_id of the registration: it must be the LMS's client id for nrps_nb."


class ExpiredToken(LaunchError):
    code = "expired_token"
    check = "time"
    remedy = "Check the clocks of this machine and of the LMS, then launch again."


class InvalidNonce(LaunchError):
    code = "invalid_nonce"
    check = "nonce"
    remedy = "Start the launch again from the LMS; a nonce can be used only once."


class UnknownDeployment(LaunchError):
    code = "unknown_deployment"
    check = "deployment"
    remedy = (
        "Add the deployment id to the platform (`nrps-nb platform add ... --deployment-id D`) "
        "or allow automatic deployments (`--auto-deployments`)."
    )


class InvalidMessage(LaunchError):
    code = "invalid_message"
    check = "message"
    remedy = "Launch nrps_nb from a resource link (LtiResourceLinkRequest, LTI 1.3.0)."


class MissingClaim(LaunchError):
    code = "missing_claim"
    check = "claims"
    remedy = "Check the LMS's privacy and placement settings for the tool."


class LaunchTimeout(LaunchError):
    code = "launch_timeout"
    check = "timeout"
    remedy = "Click the nrps_nb link in the course, then call capture_launch() again."


class TokenError(NrpsNbError):
    """The platform's token endpoint refused to issue an access token."""

    code = "token_error"

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        error_description: str | None = None,
        status: int | None = None,
        url: str | None = None,
        network: bool = False,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.error_description = error_description
        self.status = status
        self.url = url
        self.network = network  # no answer at all (timeout, refused): not the registration


class ServiceError(NrpsNbError):
    """An LTI Advantage service (NRPS) call failed."""

    code = "service_error"

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class NotAuthorized(ServiceError):
    code = "not_authorized"


class Forbidden(ServiceError):
    code = "forbidden"


class RateLimited(ServiceError):
    code = "rate_limited"


class ServiceUnavailable(ServiceError):
    code = "service_unavailable"


class BadResponse(ServiceError):
    code = "bad_response"


class RosterTooLarge(Forbidden):
    """The platform refuses rosters of courses this large (Open edX's enrollment limit)."""

    code = "roster_too_large"


class ResourceLinkRefused(BadResponse):
    """The platform refused the ``rlid`` filter (unknown or re-bound link, or no rlid support)."""

    code = "resource_link_refused"


class IncompleteRoster(ServiceError):
    """A roster fetch stopped midway; nothing fetched so far is lost.

    ``members`` holds the raw members fetched before the failure, ``resume_url`` the page to
    continue from, ``cause`` the error that stopped the fetch. From a workspace fetch,
    ``frame`` is those members as a roster DataFrame (DESIGN §5 columns with the course's
    provenance, pseudonymized when the fetch was, ``attrs["complete"]`` False).

    >>> try:                                                                  # doctest: +SKIP
    ...     df = ws.fetch_roster(course)
    ... except IncompleteRoster as exc:
    ...     partial = exc.frame                          # what was fetched, to look at now
    ...     df = ws.fetch_roster(course, resume=exc)     # later: continue where it stopped
    """

    code = "incomplete_roster"

    def __init__(
        self,
        message: str,
        *,
        members: list[dict[str, Any]],
        resume_url: str | None,
        cause: NrpsNbError,
        pages: int,
        url: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.members = members
        self.resume_url = resume_url
        self.cause = cause
        self.pages = pages
        # A pandas DataFrame, set by the workspace (errors.py stays free of pandas).
        self.frame: Any = None

    def __deepcopy__(self, memo: dict[int, Any]) -> IncompleteRoster:
        # A record of a fetch that stopped, not to be edited: fetch_rosters() keeps these in
        # DataFrame.attrs, which pandas deep-copies on every operation (df.head() included);
        # copying every member and the partial frame each time would cost more than it guards.
        return self
