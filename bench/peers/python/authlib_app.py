# Authlib + Flask OAuth 2 server for bench/run: client_credentials only, RFC 9068 JWT access
# tokens signed ES256 by Authlib's JWTBearerTokenGenerator (the key is generated once at
# start), client_secret_basic with a constant-time compare, nothing stored.
# Run: RESOURCE=http://127.0.0.1:7200/mcp gunicorn -w 2 -b 127.0.0.1:7310 authlib_app:app
import hmac
import os

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.jose import JsonWebKey
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask

ISSUER = os.environ.get("ISSUER", "http://127.0.0.1:7310")
RESOURCE = os.environ.get("RESOURCE", "http://127.0.0.1:7200/mcp")
SECRET = os.environ.get("CLIENT_SECRET", "bench-secret")


class Client:
    client_id, client_secret, scope = "cc", SECRET, "mcp:tools"

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in self.scope.split())

    def check_redirect_uri(self, uri):
        return False

    def check_client_secret(self, secret):
        return hmac.compare_digest(secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == "client_secret_basic"

    def check_response_type(self, rt):
        return False

    def check_grant_type(self, gt):
        return gt == "client_credentials"


CLIENTS = {"cc": Client()}
KEY = JsonWebKey.generate_key("EC", "P-256", is_private=True)
JWKS = {"keys": [KEY.as_dict(is_private=True, alg="ES256", kid="k1", use="sig")]}


class Generator(JWTBearerTokenGenerator):
    def get_jwks(self):
        return JWKS

    def get_audiences(self, client, user, scope):
        return [RESOURCE]


app = Flask(__name__)
server = AuthorizationServer(app, query_client=CLIENTS.get, save_token=lambda token, request: None)
server.register_grant(grants.ClientCredentialsGrant)
server.register_token_generator("default", Generator(ISSUER, alg="ES256"))


@app.post("/token")
def issue_token():
    return server.create_token_response()


@app.get("/health")
def health():
    return "ok"
