"""nrps_nb: LMS course rosters in Jupyter notebooks through LTI 1.3 Advantage (NRPS v2).

Register the LMS once, capture one launch per course, then fetch the roster any time::

    import nrps_nb
    nrps_nb.add_platform("canvas", preset="canvas-cloud", client_id="10000000000123")
    launch = nrps_nb.capture_launch()          # click the tool link in the course
    df = nrps_nb.fetch_roster(launch)          # a pandas DataFrame, one row per member

Every function below also exists as a method of :class:`Workspace`; the module-level ones
use the default workspace (``$NRPS_NB_HOME`` or the platformdirs user data directory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from .__about__ import __version__
from .errors import (
    BadResponse,
    ConfigError,
    ExpiredToken,
    Forbidden,
    IncompleteRoster,
    InsecureURLError,
    InvalidAudience,
    InvalidJWT,
    InvalidMessage,
    InvalidNonce,
    InvalidSignature,
    InvalidState,
    LaunchError,
    LaunchTimeout,
    MissingClaim,
    NotAuthorized,
    NrpsNbError,
    RateLimited,
    ResourceLinkRefused,
    RosterTooLarge,
    ServiceError,
    ServiceUnavailable,
    StoreError,
    StoreFull,
    TokenError,
    UnknownDeployment,
    UnknownRegistration,
)
from .launch import Launch
from .registry import PRESETS, Course, Platform
from .workspace import Workspace

if TYPE_CHECKING:  # imported on first use (module __getattr__): CLI and cron stay light
    from .widgets import LaunchWaiter, PlatformSetup, RosterPicker

__all__ = [
    # errors
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
    # records
    "PRESETS",
    "Course",
    "Launch",
    "Platform",
    "Workspace",
    "__version__",
    # functions on the default workspace
    "acapture_launch",
    "add_course",
    "add_platform",
    "afetch_roster",
    "afetch_rosters",
    "capture_launch",
    "courses",
    "default_workspace",
    "fetch_roster",
    "fetch_rosters",
    "launches",
    "platforms",
    "remove_course",
    "roster_changes",
    "tool_jwks",
    "tool_public_pem",
    # notebook forms (nrps_nb.widgets, imported lazily)
    "LaunchWaiter",
    "PlatformSetup",
    "RosterPicker",
]

_WIDGETS = frozenset({"LaunchWaiter", "PlatformSetup", "RosterPicker"})


def __getattr__(name: str) -> Any:
    """The notebook forms, imported on first use: ``import nrps_nb`` never loads ipywidgets."""
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_default: Workspace | None = None


def default_workspace() -> Workspace:
    """The workspace at ``$NRPS_NB_HOME`` (or the user data directory), opened once."""
    global _default
    from .workspace import default_home

    if _default is None or _default.home != default_home():
        _default = Workspace()
    return _default


def fetch_roster(course: object, **kwargs: Any) -> pd.DataFrame:
    """The roster of ``course`` as a DataFrame; see :meth:`Workspace.fetch_roster`.

    >>> df = nrps_nb.fetch_roster(launch, role="Learner")                   # doctest: +SKIP
    """
    return default_workspace().fetch_roster(course, **kwargs)


async def afetch_roster(course: object, **kwargs: Any) -> pd.DataFrame:
    """Async :func:`fetch_roster` (``df = await nrps_nb.afetch_roster(url)`` in a notebook)."""
    return await default_workspace().afetch_roster(course, **kwargs)


def fetch_rosters(courses: object, **kwargs: Any) -> pd.DataFrame:
    """Several rosters at once; see :meth:`Workspace.fetch_rosters`."""
    return default_workspace().fetch_rosters(courses, **kwargs)


async def afetch_rosters(courses: object, **kwargs: Any) -> pd.DataFrame:
    """Async :func:`fetch_rosters`."""
    return await default_workspace().afetch_rosters(courses, **kwargs)


def capture_launch(timeout: float = 120.0) -> Launch:
    """Claim the next launch (received in the last 10 minutes or within ``timeout`` s).

    >>> launch = nrps_nb.capture_launch(timeout=60)                         # doctest: +SKIP
    """
    return default_workspace().capture_launch(timeout)


async def acapture_launch(timeout: float = 120.0) -> Launch:
    """Async :func:`capture_launch`."""
    return await default_workspace().acapture_launch(timeout)


def launches() -> pd.DataFrame:
    """The captured launches; see :meth:`Workspace.launches`."""
    return default_workspace().launches()


def courses(platform: str | None = None) -> pd.DataFrame:
    """The known courses; see :meth:`Workspace.courses`."""
    return default_workspace().courses(platform)


def platforms() -> pd.DataFrame:
    """The registered platforms; see :meth:`Workspace.platforms`."""
    return default_workspace().platforms()


def add_platform(name: str, **kwargs: Any) -> Platform:
    """Register an LMS; see :meth:`Workspace.add_platform`.

    >>> nrps_nb.add_platform("moodle", preset="moodle", base_url="https://moodle.example.edu",
    ...                      client_id="AbC123", deployment_ids=["3"])      # doctest: +SKIP
    """
    return default_workspace().add_platform(name, **kwargs)


def add_course(memberships_url: str, *, platform: str, **kwargs: Any) -> Course:
    """Add a course by memberships URL; see :meth:`Workspace.add_course`."""
    return default_workspace().add_course(memberships_url, platform=platform, **kwargs)


def remove_course(course: object, *, platform: str | None = None) -> None:
    """Forget a course; see :meth:`Workspace.remove_course`.

    >>> nrps_nb.remove_course(3)                                            # doctest: +SKIP
    """
    default_workspace().remove_course(course, platform=platform)


def roster_changes(course: object, *, platform: str | None = None) -> pd.DataFrame:
    """Enrollment events of a course from its snapshots; see :meth:`Workspace.roster_changes`.

    >>> nrps_nb.roster_changes(launch).tail()                               # doctest: +SKIP
    """
    return default_workspace().roster_changes(course, platform=platform)


def tool_jwks() -> dict[str, Any]:
    """The tool's public JWKS, to paste into the LMS."""
    return default_workspace().tool_jwks()


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Jupyter server extension (imported here lazily: ``import nrps_nb`` stays light)."""
    from .server.extension import NrpsNbApp

    return [{"module": "nrps_nb.server.extension", "app": NrpsNbApp}]


def tool_public_pem() -> str:
    """The tool's public key as PEM, to paste into the LMS."""
    return default_workspace().tool_public_pem()
