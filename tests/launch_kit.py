"""A registered platform whose JWKS is served over loopback, for id_token validation tests:
begin a login, build the claims a good launch carries, validate a token (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nrps_nb import Workspace
from nrps_nb.http import get_json, run_sync
from nrps_nb.jose import JwksCache
from nrps_nb.launch import CLAIM, NRPS_CLAIM, ToolUrls, ValidatedLaunch, begin_login
from nrps_nb.launch import validate_launch as _validate_launch

from .helpers import Scripted, ThreadedApp, now, scripted_server

ISS = "https://lms.example.edu"
CLIENT_ID = "tool-client-1"
DEPLOYMENT = "dep-1"
TOOL = ToolUrls("http://127.0.0.1:8765")


class LaunchKit:
    """The workspace with platform ``lms`` registered, and the scripted server of its JWKS."""

    def __init__(self, ws: Workspace, script: Scripted, server: ThreadedApp) -> None:
        self.ws = ws
        self.script = script
        self.server = server
        self.jwks = JwksCache(fetch=get_json)

    def login(self, **extra: str) -> tuple[str, str]:
        """Begin a login; the (state, nonce) the redirect carries."""
        params = {
            "iss": ISS,
            "login_hint": "user-1",
            "target_link_uri": TOOL.launch_url,
            "client_id": CLIENT_ID,
            "lti_deployment_id": DEPLOYMENT,
            **extra,
        }
        query = parse_qs(urlsplit(begin_login(self.ws.store, params, TOOL)).query)
        return query["state"][0], query["nonce"][0]

    def claims(self, nonce: str) -> dict[str, Any]:
        """The claims of a good resource-link launch."""
        t = now()
        return {
            "iss": ISS,
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": "user-1",
            "exp": t + 300,
            "iat": t,
            "nonce": nonce,
            "name": "Ada <b>Lovelace</b>",
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT,
            CLAIM + "target_link_uri": TOOL.launch_url,
            CLAIM + "resource_link": {"id": "rl-1", "title": "Roster"},
            CLAIM + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
            CLAIM + "context": {"id": "ctx-1", "label": "STAT 101", "title": "Statistics"},
            NRPS_CLAIM: {
                "context_memberships_url": ISS + "/api/ctx-1/memberships",
                "service_versions": ["2.0"],
            },
        }

    def validate(self, token: object, state: object, **kw: Any) -> ValidatedLaunch:
        return run_sync(_validate_launch(self.ws.store, token, state, TOOL, self.jwks, **kw))


@contextmanager
def registered_platform(home: Path, script: Scripted) -> Iterator[tuple[Workspace, ThreadedApp]]:
    """A workspace at ``home`` with platform ``lms``, its JWKS at ``/jwks`` of ``script``."""
    with scripted_server(script) as server:
        ws = Workspace(home)
        ws.add_platform(
            "lms",
            issuer=ISS,
            client_id=CLIENT_ID,
            auth_login_url=ISS + "/auth",
            auth_token_url=ISS + "/token",
            key_set_url=server.base_url + "/jwks",
            deployment_ids=[DEPLOYMENT],
        )
        yield ws, server
