"""Authlib (+ httpx) as an independent OAuth 2.1 checker of Gatehouse, starting from an MCP
server URL: RFC 9728 resource metadata from the 401 challenge, RFC 8414 metadata (path
insertion for path-based issuers), RFC 7591 registration, authorization code + PKCE S256 +
RFC 8707 resource through the login and consent forms, RFC 9207 `iss`, refresh-token
rotation, a replayed refresh token, RFC 7009 revocation.

usage: python authlib_check.py <mcp-url> strict|grace
  strict: the environment has no refresh grace window: a replayed (rotated) refresh token is
          refused with invalid_grant and the whole grant is revoked (reuse detection)
  grace:  the environment's grace window (parallel refreshes): a replay right after rotation
          returns the same successor

Prints `RESULT {"checks": [...]}`; exits 1 on the first failed check. No token is printed.
"""

from __future__ import annotations

import io
import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.integrations.base_client.errors import OAuthError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from browser import Browser  # noqa: E402

MCP, MODE = sys.argv[1], sys.argv[2]
REDIRECT = "http://127.0.0.1:8093/callback"  # never listened on
checks: list[str] = []
http = httpx.Client(timeout=20)


def ok(cond, what, detail=""):
    if not cond:
        print(f"authlib: FAILED: {what} {detail}", file=sys.stderr)
        print("RESULT " + json.dumps({"checks": checks, "failed": what}))
        sys.exit(1)
    checks.append(what)


def authorize(oc: OAuth2Client, asm: dict, issuer: str, label: str = "") -> dict:
    verifier = generate_token(64)
    url, state = oc.create_authorization_url(asm["authorization_endpoint"], code_verifier=verifier, resource=MCP)
    cb = Browser(os.environ["INTEROP_EMAIL"], os.environ["INTEROP_PASSWORD"], log=io.StringIO()).authorize(url)
    q = {k: v[0] for k, v in parse_qs(urlsplit(cb).query).items()}
    ok(q.get("state") == state and "code" in q, f"authorization response carries code and state{label}", q.get("error"))
    ok(q.get("iss") == issuer, f"RFC 9207 iss = issuer{label}")
    return oc.fetch_token(asm["token_endpoint"], code=q["code"], code_verifier=verifier, resource=MCP)


def refresh_raw(asm, client_id, rt):
    r = http.post(asm["token_endpoint"], data={"grant_type": "refresh_token", "refresh_token": rt, "client_id": client_id, "resource": MCP})
    return r.status_code, r.json()


def main() -> None:
    # 1. 401 + WWW-Authenticate -> PRM
    r = http.post(MCP, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
                  headers={"Accept": "application/json, text/event-stream"})
    www = r.headers.get("www-authenticate", "")
    ok(r.status_code == 401 and 'resource_metadata="' in www, "MCP server: 401 with a resource_metadata challenge")
    prm = http.get(www.split('resource_metadata="')[1].split('"')[0]).json()
    ok(prm["resource"] == MCP, "PRM resource = the MCP server URL")
    issuer = prm["authorization_servers"][0]

    # 2. RFC 8414 metadata, path insertion first
    u = urlsplit(issuer)
    meta_url = f"{u.scheme}://{u.netloc}/.well-known/oauth-authorization-server{u.path.rstrip('/')}"
    m = http.get(meta_url)
    ok(m.status_code == 200 and m.headers.get("content-type", "").startswith("application/json"), f"RFC 8414 metadata at {urlsplit(meta_url).path}")
    asm = m.json()
    ok(asm["issuer"] == issuer, "metadata issuer = PRM authorization server, exactly")
    ok("S256" in asm.get("code_challenge_methods_supported", []), "PKCE S256 advertised")
    ok(asm.get("authorization_response_iss_parameter_supported") is True, "RFC 9207 advertised")

    # 3. RFC 7591 registration of a public client
    scope = " ".join(prm.get("scopes_supported", []) + ["offline_access"])
    reg = http.post(asm["registration_endpoint"], json={
        "client_name": "authlib checker", "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "token_endpoint_auth_method": "none", "scope": scope})
    ok(reg.status_code == 201, "RFC 7591 registration: 201", reg.status_code)
    client_id = reg.json()["client_id"]

    # 4-5. authorization code + PKCE + resource, through the forms
    oc = OAuth2Client(client_id=client_id, redirect_uri=REDIRECT, scope=scope, code_challenge_method="S256",
                      token_endpoint_auth_method="none", timeout=20)
    tok = authorize(oc, asm, issuer)
    ok(tok.get("token_type", "").lower() == "bearer" and tok.get("refresh_token"), "token response: Bearer access token + refresh token")

    # 6. use it at the MCP server (gateway)
    r = http.post(MCP, headers={"Authorization": f"Bearer {tok['access_token']}", "Accept": "application/json, text/event-stream"},
                  json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "authlib", "version": "0"}}})
    ok(r.status_code == 200, "MCP initialize with the access token", r.status_code)

    # 7. refresh: rotation
    rt1 = tok["refresh_token"]
    tok2 = oc.refresh_token(asm["token_endpoint"], refresh_token=rt1, resource=MCP)
    rt2 = tok2.get("refresh_token")
    ok(rt2 and rt2 != rt1 and tok2["access_token"] != tok["access_token"], "refresh: a new access token and a rotated refresh token")

    # 8. replay of the rotated refresh token
    status, body = refresh_raw(asm, client_id, rt1)
    if MODE == "strict":
        ok(status == 400 and body.get("error") == "invalid_grant", "replayed refresh token refused: 400 invalid_grant", (status, body.get("error")))
        status, body = refresh_raw(asm, client_id, rt2)
        ok(status == 400 and body.get("error") == "invalid_grant", "reuse detection revoked the whole grant (the newest refresh token is dead too)",
           (status, body.get("error")))
        tok = authorize(oc, asm, issuer, " (a new grant after reuse detection)")
    else:
        ok(status == 200 and body.get("refresh_token") == rt2, "replay within the grace window returns the same successor (parallel refreshes)",
           (status, body.get("error")))
        tok = tok2

    # 9. RFC 7009 revocation of the refresh token (public client: client_id in the body)
    rt = tok["refresh_token"]
    rv = oc.revoke_token(asm["revocation_endpoint"], token=rt, token_type_hint="refresh_token")
    ok(rv.status_code == 200, "RFC 7009 revoke: 200", rv.status_code)
    status, body = refresh_raw(asm, client_id, rt)
    ok(status == 400 and body.get("error") == "invalid_grant", "the revoked refresh token no longer refreshes", (status, body.get("error")))
    rv = oc.revoke_token(asm["revocation_endpoint"], token="not-a-token", token_type_hint="refresh_token")
    ok(rv.status_code == 200, "revoking an unknown token: 200 (RFC 7009 §2.2)", rv.status_code)

    # 10. errors are exact
    try:
        oc.fetch_token(asm["token_endpoint"], code="bogus", code_verifier=generate_token(64), resource=MCP)
        ok(False, "a bogus code is refused")
    except OAuthError as e:
        ok(e.error == "invalid_grant", "a bogus code: invalid_grant", e.error)


try:
    main()
except Exception as e:  # noqa: BLE001 - reported as the failed step
    after = checks[-1] if checks else "the start"
    print(f"authlib: FAILED after {after!r}: {type(e).__name__}: {e}", file=sys.stderr)
    print("RESULT " + json.dumps({"checks": checks, "failed": f"after {after!r}: {type(e).__name__}: {e}"}))
    raise
print("RESULT " + json.dumps({"checks": checks}))
