"""Public platform metadata: the JWKS and an OpenID configuration document."""

from __future__ import annotations

from typing import Any

from .base import BaseHandler
from .state import Platform
from .vocab import GRANTED_SCOPES


def openid_configuration(p: Platform) -> dict[str, Any]:
    """Platform configuration in the shape LTI Dynamic Registration 1.0 defines."""
    return {
        "issuer": p.issuer,
        "authorization_endpoint": p.auth_url,
        "token_endpoint": p.token_url,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "RS512"],
        "jwks_uri": p.jwks_url,
        "scopes_supported": ["openid", *sorted(GRANTED_SCOPES)],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": [
            "iss",
            "aud",
            "sub",
            "iat",
            "exp",
            "nonce",
            "azp",
            "name",
            "given_name",
            "family_name",
            "middle_name",
            "email",
            "picture",
        ],
        "https://purl.imsglobal.org/spec/lti-platform-configuration": {
            "product_family_code": p.profile.product_family_code,
            "version": "0.1.0",
            "messages_supported": [{"type": "LtiResourceLinkRequest"}],
            "variables": [],
        },
    }


class JwksHandler(BaseHandler):
    """``GET /jwks``: the platform's public keys."""

    def set_default_headers(self) -> None:
        # Public keys may be cached briefly, like real platforms allow.
        self.set_header("Cache-Control", "public, max-age=300")

    def get(self) -> None:
        self.platform.stats["jwks_requests"] += 1
        self.send_json(200, self.platform.key.jwks())


class OpenIdConfigurationHandler(BaseHandler):
    """``GET /.well-known/openid-configuration``."""

    def get(self) -> None:
        self.send_json(200, openid_configuration(self.platform))
