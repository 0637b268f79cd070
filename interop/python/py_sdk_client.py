"""The official Python MCP SDK (`mcp`, httpx2-based) as an OAuth MCP client of Gatehouse.

usage: python py_sdk_client.py <mcp-url> [redirect-uri] [client-metadata-document-url]

With a metadata document URL the SDK uses it as its client_id (CIMD) instead of registering.

Same protocol as interop/node/ts-client-lib.mjs: `RESULT {json}` per phase, `READY`, then a
line on stdin starts phase B (after the access token has expired: the SDK must refresh
before its next request, on the same session). The user is interop/harness/browser.py;
tokens are never printed, only SHA-256 fingerprints.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

import httpx2
import mcp
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

BROWSER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness", "browser.py")


def fp(s: str | None) -> str | None:
    return hashlib.sha256(s.encode()).hexdigest()[:12] if s else None


class Storage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.saves: list[tuple[str, str | None]] = []
        self.phase = "a"

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.saves.append((self.phase, fp(tokens.access_token)))

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class User:
    """redirect_handler / callback_handler pair: the user signs in and allows."""

    def __init__(self) -> None:
        self.callback: asyncio.Future | None = None
        self.authorize_urls: list[str] = []

    async def redirect(self, url: str) -> None:
        self.authorize_urls.append(url)
        self.callback = asyncio.get_running_loop().create_future()
        proc = await asyncio.create_subprocess_exec(
            "python3", BROWSER, "--print", url,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            self.callback.set_exception(RuntimeError("the user could not authorize (see browser output)"))
            return
        q = {k: v[0] for k, v in parse_qs(urlsplit(out.decode().strip()).query).items()}
        self.callback.set_result(q)

    async def result(self) -> AuthorizationCodeResult:
        assert self.callback is not None, "callback before redirect"
        q = await self.callback
        if "error" in q:
            raise RuntimeError(f"authorization error {q.get('error')}: {q.get('error_description')}")
        return AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss"))


def text(result) -> str:
    for c in result.content or []:
        if getattr(c, "type", None) == "text":
            return c.text
    return str(result)


async def main() -> None:
    server = sys.argv[1]
    redirect = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8091/callback"  # never listened on
    cimd = sys.argv[3] if len(sys.argv) > 3 else None
    storage, user = Storage(), User()
    provider = OAuthClientProvider(
        server_url=server,
        client_metadata=OAuthClientMetadata(
            client_name="python-sdk (interop)",
            redirect_uris=[redirect],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=user.redirect,
        callback_handler=user.result,
        client_metadata_url=cimd,
    )
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with Client(streamable_http_client(server, http_client=http)) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            whoami = json.loads(text(await client.call_tool("whoami", {})))
            added = text(await client.call_tool("add_todo", {"text": "from python-sdk"})) if "add_todo" in tools else None
            authz = {k: v[0] for k, v in parse_qs(urlsplit(user.authorize_urls[0]).query).items()} if user.authorize_urls else {}
            t = storage.tokens
            ctx = provider.context
            prm = ctx.protected_resource_metadata
            a = {
                "phase": "a",
                "version": getattr(mcp, "__version__", None),
                "discovery": {
                    "prm_resource": str(prm.resource) if prm else None,
                    "authorization_server": str(prm.authorization_servers[0]) if prm and prm.authorization_servers else None,
                    "issuer": str(ctx.oauth_metadata.issuer) if ctx.oauth_metadata else None,
                },
                "client_id": storage.client.client_id if storage.client else None,
                "authorize": {k: authz.get(k) for k in ("resource", "scope", "prompt", "code_challenge_method")},
                "token": {"expires_in": t.expires_in, "scope": t.scope, "has_refresh": bool(t.refresh_token), "at": fp(t.access_token)} if t else None,
                "tools": tools,
                "whoami": whoami,
                "added": added,
            }
            print("RESULT " + json.dumps(a), flush=True)
            print("READY", flush=True)
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            storage.phase = "b"
            before_at = fp(storage.tokens.access_token) if storage.tokens else None
            before_rt = fp(storage.tokens.refresh_token) if storage.tokens else None
            todos = text(await client.call_tool("list_todos" if "list_todos" in tools else "whoami", {}))
            b = {
                "phase": "b",
                "todos": todos,
                "saves_in_b": sum(1 for p, _ in storage.saves if p == "b"),
                "access_token_changed": fp(storage.tokens.access_token) != before_at,
                "refresh_token_rotated": fp(storage.tokens.refresh_token) != before_rt,
                "reauthorized": len(user.authorize_urls) > 1,
            }
            print("RESULT " + json.dumps(b), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
