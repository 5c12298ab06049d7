"""ipywidgets forms for notebooks: register an LMS, capture a launch, fetch a roster.

* :class:`PlatformSetup` — choose an LMS preset, fill in what the LMS showed, Save; it shows
  the values to paste into the LMS, each with a Copy button.
* :class:`LaunchWaiter` — says where to click in the LMS and waits (without blocking the
  kernel) for the launch that names the course.
* :class:`RosterPicker` — platform → course → role → pseudonymize → Fetch, with progress,
  Cancel, inline errors and Export; the roster is ``picker.df``.

The long-running work (waiting, fetching) runs as background jobs on the kernel's event loop:
the click returns at once and the forms stay responsive on ipykernel 6 and 7. Each form's
logic is in plain functions and attributes, testable without a browser (``.value``,
``.click()``).

``nrps_nb.PlatformSetup`` etc. work too: ``nrps_nb`` imports this package (and ipywidgets)
only when one of them is first used.
"""

from __future__ import annotations

from .launch_waiter import LaunchWaiter
from .platform_setup import PlatformSetup
from .roster_picker import RosterPicker

__all__ = ["LaunchWaiter", "PlatformSetup", "RosterPicker"]
