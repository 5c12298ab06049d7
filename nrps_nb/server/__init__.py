"""The launch receiver: tornado handlers shared by the standalone app and Jupyter.

``nrps_nb.server.extension`` (the Jupyter server extension) is not imported here, so that
``nrps-nb serve`` never loads jupyter_server.
"""

from .handlers import (
    ConfirmHandler,
    JwksHandler,
    LaunchHandler,
    LoginHandler,
    ReceiverContext,
    routes,
)
from .standalone import ReceiverServer, make_app

__all__ = [
    "ConfirmHandler",
    "JwksHandler",
    "LaunchHandler",
    "LoginHandler",
    "ReceiverContext",
    "ReceiverServer",
    "make_app",
    "routes",
]
