"""A FastMCP server that accepts Gatehouse access tokens, checked by FastMCP's own JWT
verifier: signature against the environment's JWKS, `iss`, `aud` (this server's URL, as
registered with `gatehouse resource add --url`), expiry and scopes. No Gatehouse code.

    python fastmcp_server.py --issuer http://127.0.0.1:8080 --url http://127.0.0.1:8000/mcp

The README snippet is the part between the markers.
"""

import argparse
from urllib.parse import urlsplit

ap = argparse.ArgumentParser()
ap.add_argument("--issuer", required=True, help="the Gatehouse environment's issuer")
ap.add_argument("--url", required=True, help="this MCP server's URL, registered as a Gatehouse resource")
ap.add_argument("--scope", default="notes:read")
args = ap.parse_args()
ISSUER, MCP_URL, SCOPE = args.issuer, args.url, args.scope

# --- README snippet: FastMCP ---------------------------------------------------------------
from fastmcp import FastMCP
from fastmcp.server.auth import RemoteAuthProvider
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.server.dependencies import get_access_token

# ISSUER = "https://auth.example.com"       # the Gatehouse environment's issuer
# MCP_URL = "https://notes.example.com/mcp"  # `gatehouse resource add --url`: the tokens' aud

verifier = JWTVerifier(
    jwks_uri=f"{ISSUER}/jwks.json",  # the `jwks_uri` of the issuer's metadata
    issuer=ISSUER,
    audience=MCP_URL,
    algorithm="ES256",  # Gatehouse signs access tokens with ES256
    required_scopes=[SCOPE],
)
auth = RemoteAuthProvider(
    token_verifier=verifier,
    authorization_servers=[ISSUER],  # published in the Protected Resource Metadata
    base_url=MCP_URL.rsplit("/mcp", 1)[0],
    scopes_supported=[SCOPE],
)
mcp = FastMCP("Notes (FastMCP)", auth=auth)


@mcp.tool
def whoami() -> dict:
    """The verified token's identity."""
    token = get_access_token()
    return {
        "sub": token.claims.get("sub"),
        "client_id": token.client_id,
        "scopes": token.scopes,
        "aud": token.claims.get("aud"),
        "iss": token.claims.get("iss"),
        "verified_by": "fastmcp.JWTVerifier",
    }
# --- end of snippet -------------------------------------------------------------------------


if __name__ == "__main__":
    u = urlsplit(MCP_URL)
    mcp.run(transport="http", host=u.hostname, port=u.port, path=u.path, show_banner=False)
