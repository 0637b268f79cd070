#!/usr/bin/env python3
"""Writes docs/compatibility.md from the interop suite's results file.

    python3 interop/harness/compat.py interop/results/results.json docs/compatibility.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Clients that cannot run on a headless Linux CI machine: what they are documented to do,
# what Gatehouse does about it, and the automated tests that cover that behaviour.
NOT_RUNNABLE = [
    (
        "Claude (claude.ai, Claude Desktop, mobile connectors)",
        "Connectors run in Anthropic's cloud, even for Claude Desktop: the MCP server and Gatehouse must be "
        "reachable over public HTTPS (port 443 only). Registers with DCR per connection (callbacks "
        "`https://claude.ai/api/mcp/auth_callback`, `https://claude.com/api/mcp/auth_callback`) or a metadata "
        "document (`https://claude.ai/oauth/mcp-oauth-client-metadata`). A 401 `invalid_client` at the token "
        "endpoint makes it register again; it cannot clear a cached registration.",
        "Identical https registrations collapse into one logical client (counted, consent shared, marked "
        "verified from the catalogue of known clients); DCR client ids carry their own signed registration, "
        "so a lost row or a restore never strands a connector; an unknown client is `invalid_client` 401; "
        "the CIMD URL is fetched under the environment's trust policy.",
        "`tests/it/dcr.rs` (identical_registrations_collapse_into_one_logical_client, "
        "https_registrations_of_one_app_share_consent_and_are_marked_verified, "
        "a_dynamic_client_survives_losing_its_row_and_a_restart); `tests/it/cimd.rs` "
        "(trust_policies_decide_which_documents_are_fetched); interop `mcp-remote-recovery` (re-registration "
        "after `invalid_client`)",
    ),
    (
        "ChatGPT (and OpenAI connectors)",
        "Supports CIMD (`https://chatgpt.com/oauth/<id>/client.json`), DCR and predefined clients, PKCE; sends "
        "`resource` equal to the PRM `resource` verbatim; callback "
        "`https://chatgpt.com/connector_platform_oauth_redirect` (some setups a per-connector "
        "`https://chatgpt.com/connector/oauth/…`); may register a new client per connection.",
        "CIMD documents fetched by the SSRF-safe fetcher and cached within Cache-Control bounds; `resource` "
        "canonicalised and bound into `aud`; registrations deduplicated and never-used ones capped; "
        "`token_endpoint_auth_methods_supported` published.",
        "`tests/it/cimd.rs` (a_metadata_document_client_signs_in_and_gets_tokens, "
        "documents_are_cached_within_bounds_and_failures_are_not); `tests/it/dcr.rs` "
        "(never_used_registrations_are_capped_and_forgotten_ones_still_work); interop `conformance-dev`, "
        "`conformance-prod`",
    ),
    (
        "VS Code (1.106+)",
        "Tries a metadata document first (`https://vscode.dev/oauth/client-metadata.json`), else DCR with "
        "`application_type: native` and `https://vscode.dev/redirect`, `https://insiders.vscode.dev/redirect`, "
        "`http://127.0.0.1/`, `http://127.0.0.1:33418/`; uses a random loopback port when 33418 is busy. "
        "Cached registrations are removed with “Authentication: Remove Dynamic Authentication Provider”.",
        "Loopback redirect URIs match on any port (RFC 8252 §7.3) but never across `localhost`/`127.0.0.1` "
        "or paths; the known-clients catalogue names VS Code's cache-clearing command on error pages.",
        "`tests/it/authorize.rs` (loopback_redirect_matches_any_port, "
        "redirect_mismatch_names_received_and_registered_uris); `gatehouse-oauth` `redirect.rs` "
        "(matching_table); `tests/it/cimd.rs`",
    ),
    (
        "Cursor",
        "Registers the private-use callback `cursor://anysphere.cursor-mcp/oauth/<…>/callback` (newer versions "
        "a localhost callback).",
        "Private-use schemes are accepted for native clients in development and production environments; "
        "web (`application_type: web`) registrations with loopback callbacks are refused in production.",
        "`tests/it/register.rs` (production_environments_apply_stricter_redirect_rules); `gatehouse-oauth` "
        "`redirect.rs` (registration_table, native_inference)",
    ),
    (
        "GitHub Copilot CLI",
        "Caches its OAuth client configuration (`~/.copilot/mcp-oauth-config`); a client id from another "
        "server or environment then fails until that cache is deleted.",
        "A client id of another environment or an unknown one is `invalid_client` (401 at the token "
        "endpoint, so clients re-register) and the authorization page explains it and names the likely "
        "client's cache-clearing step.",
        "`tests/it/dcr.rs` (a_client_id_of_another_environment_is_invalid_client_with_an_explanation, "
        "the_unknown_client_page_leads_with_the_likely_clients_fix); `tests/it/authorize.rs` "
        "(unknown_client_renders_a_page_with_remedies_and_logs_it)",
    ),
    (
        "Claude Code",
        "DCR with `application_type: native` and `http://localhost:<port>/callback`, or the metadata document "
        "`https://claude.ai/oauth/claude-code-client-metadata` (port-less `http://localhost/callback`).",
        "Loopback any-port matching applies to metadata-document and pre-registered clients as well as to "
        "dynamic ones.",
        "`tests/it/authorize.rs` (loopback_redirect_matches_any_port); `tests/it/cimd.rs`; interop "
        "`rmcp` (CIMD)",
    ),
]

RESULT = {"pass": "✅ pass", "fail": "❌ fail", "skip": "⏭ skipped"}


def cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def render(doc: dict) -> str:
    out = [
        "# Compatibility",
        "",
        "<!-- Generated by interop/harness/compat.py from interop/results/results.json: do not edit by hand. -->",
        "",
        "Which MCP clients connect to Gatehouse, proven by running the real clients headless against a fresh "
        "Gatehouse (`interop/run`, see [interop/README.md](../interop/README.md)). Every client starts from "
        "nothing: the MCP server's 401 challenge, its Protected Resource Metadata, Gatehouse's metadata, "
        "registration, a real login and consent on Gatehouse's HTML pages, the token, MCP `tools/list` and "
        "`tools/call` through the gateway; then, after the 60 s access token has expired, a refresh, and a "
        "revocation where the client can revoke. Each step is asserted from the client's own output and from "
        "Gatehouse's authentication log.",
        "",
        f"Last run: {doc.get('generated_at', '?')} — {doc.get('gatehouse', 'gatehouse ?')} (git {doc.get('git', '?')}), "
        f"{doc.get('platform', '?')}, {doc.get('duration_s', 0):.0f} s{' (CI)' if doc.get('ci') else ''}.",
        "",
        "| Client | Version | Registration | Refresh | Revoke | Result | Date |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc.get("results", []):
        result = RESULT.get(r["result"], r["result"])
        if r["result"] != "pass" and r.get("reason"):
            result += f" ({cell(r['reason'])})"
        out.append(
            f"| {cell(r['client'])} | {cell(r['version'])} | {cell(r['registration'])} | {cell(r['refresh'])} | "
            f"{cell(r['revoke'])} | {result} | {r.get('date', '')} |"
        )
    out += [
        "",
        "Refresh “yes” means the client itself refreshed after its access token expired at the gateway, without a "
        "new login (rotation checked, and no new registration or authorization in the log). Revoke “not supported "
        "by the client” means the client has no revocation call; Gatehouse's RFC 7009 endpoint is exercised by "
        "Authlib (and by the rmcp test, which revokes the grant for the client and checks that rmcp then asks for a "
        "new authorization). “Result” is whether every check of the scenario held, including the checks that pin down "
        "a client's own limitation (see the notes of each client below and [interop/README.md](../interop/README.md)).",
        "",
        "## What each run checks",
        "",
    ]
    for r in doc.get("results", []):
        out.append(f"<details><summary><b>{cell(r['client'])}</b> ({r['id']}): {len(r.get('checks', []))} checks, "
                   f"{r['result']}</summary>")
        out.append("")
        for c in r.get("checks", []):
            out.append(f"- {cell(c)}")
        for n in r.get("notes", []):
            out.append(f"- note: {cell(n)}")
        out += ["", "</details>", ""]
    out += [
        "## Clients that cannot run here",
        "",
        "These need a desktop, an account or a hosted service, so the suite cannot drive them. Their documented "
        "behaviour (sources in `crates/gatehouse-server/data/known-clients.toml`) is covered by these tests:",
        "",
        "| Client | Documented behaviour | What Gatehouse does | Covered by |",
        "|---|---|---|---|",
    ]
    for row in NOT_RUNNABLE:
        out.append("| " + " | ".join(cell(c) for c in row) + " |")
    out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    doc = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).parent.mkdir(parents=True, exist_ok=True)
    Path(argv[1]).write_text(render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
