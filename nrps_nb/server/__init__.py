"""The launch receiver: tornado handlers shared by the standalone app and Jupyter."""

from .handlers import JwksHandler, LaunchHandler, LoginHandler, ReceiverContext, routes
from .standalone import ReceiverServer, make_app

__all__ = [
    "JwksHandler",
    "LaunchHandler",
    "LoginHandler",
    "ReceiverContext",
    "ReceiverServer",
    "make_app",
    "routes",
]
