"""Secrets never leak: private keys, client assertions, id_tokens and access tokens stay out of
logs (at DEBUG, every logger), reprs, exceptions, HTML pages and CLI output."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from nrps_nb import IncompleteRoster, NrpsNbError, Platform, TokenError, Workspace, cli, oauth
from nrps_nb.demo import _FormParser
from nrps_nb.sandbox import SandboxServer
from nrps_nb.server import ReceiverServer

from .helpers import Scripted, respond, scripted_server


def _key_material(ws: Workspace) -> list[str]:
    pem = ws.key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    private_jwk = json.loads(RSAAlgorithm.to_jwk(ws.key.private_key))
    return [*body, private_jwk["d"], private_jwk["p"], private_jwk["q"]]


def test_no_secret_reaches_logs_reprs_errors_pages_or_output(
    ws: Workspace,
    receiver: ReceiverServer,
    sandbox: SandboxServer,
    platform: Platform,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    assertions: list[str] = []
    real_sign = oauth.sign_client_assertion

    def recording_sign(*args: Any, **kwargs: Any) -> str:
        assertions.append(real_sign(*args, **kwargs))
        return assertions[-1]

    monkeypatch.setattr(oauth, "sign_client_assertion", recording_sign)
    seen: list[str] = []

    # A launch, done by hand so the test holds the id_token.
    with httpx.Client(follow_redirects=True) as client:
        page = client.get(sandbox.launch_url("seminar"))
        parser = _FormParser()
        parser.feed(page.text)
        action, _, fields = parser.forms[0]
        id_token = fields["id_token"]
        seen.append(client.post(action, data=fields).text)
        seen.append(client.post(action, data=fields).text)  # replay: an error page
        tampered = {**fields, "id_token": id_token[:-4] + "AAAA"}
        seen.append(client.post(action, data=tampered).text)
    launch = ws.capture_launch(timeout=5)
    df = ws.fetch_roster(launch)
    tokens = [t.value for t in oauth._tokens.values()]
    assert assertions and tokens and id_token

    # Failures that carry platform answers and partial data.
    other = Workspace(tmp_path / "other")
    info = sandbox.info()
    other.add_platform("sb", preset="sandbox", base_url=info["issuer"], client_id=info["client_id"])
    with pytest.raises(TokenError) as token_error:
        other.fetch_roster(info["memberships_url"], platform="sb")
    seen += [str(token_error.value), repr(token_error.value)]
    script = Scripted()
    script.add("/token", respond(200, {"access_token": "scripted-secret-token-value"}))
    script.add("/m", respond(200, {"members": [{"user_id": "a"}]}, {"Link": '</x>; rel="next"'}))
    script.add("/x", respond(401, {"error": "nope"}))
    with scripted_server(script) as server:
        ws.add_platform("scripted", issuer="https://s", client_id="c",
                        auth_login_url=server.base_url + "/a",
                        auth_token_url=server.base_url + "/token",
                        key_set_url=server.base_url + "/k")  # fmt: skip
        with pytest.raises(IncompleteRoster) as incomplete:
            ws.fetch_roster(server.base_url + "/m", platform="scripted")
    tokens.append("scripted-secret-token-value")
    seen += [str(incomplete.value), repr(incomplete.value), str(incomplete.value.cause)]

    # Reprs and rich displays of everything a user can print.
    seen += [repr(ws), ws._repr_html_(), repr(ws.key), repr(platform), platform._repr_html_(),
             repr(launch), launch._repr_html_(), repr(df.attrs), df.to_string(),
             repr(list(oauth._tokens.values())), ws.launches().to_string(),
             ws.platforms().to_string()]  # fmt: skip

    # The CLI, in-process, on the same workspace.
    monkeypatch.setenv("NRPS_NB_HOME", str(ws.home))
    for argv in (["keys", "jwks"], ["keys", "pem"], ["platform", "list"], ["launches"],
                 ["courses"], ["-v", "roster", "--platform", "sandbox", "--url",
                               info["memberships_url"]]):  # fmt: skip
        cli.main(argv)
    out = capsys.readouterr()
    seen += [out.out, out.err]

    haystack = "\n".join([*seen, caplog.text])
    secrets = [*_key_material(ws), *_key_material(other), *assertions, *tokens, id_token]
    for secret in secrets:
        assert secret not in haystack
        # also no sizeable fragment of a JWT (its signature part)
        if secret.count(".") == 2:
            assert secret.rsplit(".", 1)[1][:32] not in haystack
    assert "PRIVATE KEY" not in haystack


def test_errors_are_package_errors_with_codes() -> None:
    for cls in NrpsNbError.__subclasses__():
        assert isinstance(cls.code, str) and cls.code
