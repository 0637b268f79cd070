"""A minimal OAuth client in the standard library, for the harness's own checks (negative
tests of the JWT-verifying MCP servers, pre-registered clients): DCR, PKCE, the user through
`browser.Browser`, code exchange. Not a client under test."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request

from browser import Browser

REDIRECT = "http://127.0.0.1:9/callback"  # never listened on


def http_json(url: str, data: dict | None = None, form: dict | None = None, headers: dict | None = None):
    """(status, headers, parsed JSON or text) of a GET, a JSON POST or a form POST."""
    body, h = None, dict(headers or {})
    if data is not None:
        body, h["Content-Type"] = json.dumps(data).encode(), "application/json"
    elif form is not None:
        body, h["Content-Type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=body, headers=h)
    try:
        r = urllib.request.urlopen(req, timeout=20)
        status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw.decode(errors="replace")


def metadata(issuer: str) -> dict:
    u = urllib.parse.urlsplit(issuer)
    path = u.path.rstrip("/")
    status, _, doc = http_json(f"{u.scheme}://{u.netloc}/.well-known/oauth-authorization-server{path}")
    assert status == 200, f"metadata of {issuer}: {status}"
    return doc


def register(issuer: str, name: str, redirect: str = REDIRECT) -> str:
    md = metadata(issuer)
    status, _, reg = http_json(md["registration_endpoint"], data={
        "client_name": name, "redirect_uris": [redirect], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
    })
    assert status == 201, f"registration: {status} {reg}"
    return reg["client_id"]


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def get_tokens(issuer: str, resource: str, scope: str, email: str, password: str, name: str = "interop harness") -> dict:
    """A token response for `resource` through DCR, login and consent."""
    md = metadata(issuer)
    client_id = register(issuer, name)
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(16)
    url = md["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
        "state": state, "code_challenge": challenge, "code_challenge_method": "S256", "resource": resource,
    })
    import io
    cb = Browser(email, password, log=io.StringIO()).authorize(url)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(cb).query))
    assert q.get("state") == state and "code" in q, f"authorization failed: {q.get('error')} {q.get('error_description')}"
    status, _, tok = http_json(md["token_endpoint"], form={
        "grant_type": "authorization_code", "code": q["code"], "redirect_uri": REDIRECT,
        "code_verifier": verifier, "client_id": client_id, "resource": resource,
    })
    assert status == 200, f"token: {status} {tok.get('error') if isinstance(tok, dict) else tok}"
    tok["client_id"] = client_id
    return tok
