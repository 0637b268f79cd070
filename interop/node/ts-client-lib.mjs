// The flow shared by the TypeScript SDK v1 and v2 drivers: the SDK's own OAuth support
// (OAuthClientProvider + StreamableHTTPClientTransport) against a Gatehouse-protected MCP
// server, with the user played by interop/harness/browser.py.
//
// usage: node ts-sdk-v{1,2}-client.mjs <mcp-url> [redirect-uri] [client-metadata-document-url]
//
// Protocol with the harness (interop/harness/suite.py): one `RESULT {json}` line on stdout
// per phase. Phase A connects from nothing (401 -> PRM -> AS metadata -> DCR -> login and
// consent -> token) and calls tools; then the driver prints `READY` and waits for a line on
// stdin. Phase B runs after the access token has expired: a tool call on the same session
// must make the SDK refresh. Tokens are never printed: only short SHA-256 fingerprints.

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const BROWSER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'harness', 'browser.py');

export const fp = (s) => (s ? createHash('sha256').update(s).digest('hex').slice(0, 12) : null);

/** Runs the harness's form driver on the authorization URL; resolves to the callback URL. */
export function userAuthorizes(url) {
  return new Promise((resolve, reject) => {
    execFile('python3', [BROWSER, '--print', url.toString()], { timeout: 60_000 }, (err, stdout, stderr) => {
      process.stderr.write(stderr);
      if (err) return reject(new Error(`the user could not authorize: ${err.message}`));
      resolve(new URL(stdout.trim()));
    });
  });
}

/** An in-memory OAuthClientProvider that records what the SDK does with it. */
export function makeProvider({ clientName, redirectUrl, clientMetadataUrl }) {
  const s = { saves: [], phase: 'a' };
  const provider = {
    // A Client ID Metadata Document URL: used as the client_id when the authorization
    // server advertises client_id_metadata_document_supported (no registration).
    ...(clientMetadataUrl ? { clientMetadataUrl } : {}),
    get redirectUrl() { return redirectUrl; },
    get clientMetadata() {
      return {
        client_name: clientName,
        redirect_uris: [redirectUrl],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      };
    },
    state: () => (s.state = crypto.randomUUID()),
    clientInformation: () => s.client,
    saveClientInformation: (c) => { s.client = c; },
    tokens: () => s.tokens,
    saveTokens: (t) => { s.tokens = t; s.saves.push({ phase: s.phase, at: fp(t.access_token), rt: fp(t.refresh_token) }); },
    saveCodeVerifier: (v) => { s.verifier = v; },
    codeVerifier: () => s.verifier,
    saveDiscoveryState: (d) => { s.discovery = d; },
    discoveryState: () => s.discovery,
    invalidateCredentials: (scope) => {
      s.invalidated = [...(s.invalidated ?? []), scope];
      if (scope === 'all' || scope === 'client') delete s.client;
      if (scope === 'all' || scope === 'tokens') delete s.tokens;
    },
    redirectToAuthorization(url) {
      s.authorizeUrl = url;
      s.callback = userAuthorizes(url);
    },
  };
  return { provider, s };
}

function text(result) {
  const c = result?.content?.find((x) => x.type === 'text');
  return c ? c.text : JSON.stringify(result);
}

function waitForLine() {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.once('line', (l) => { resolve(l); rl.close(); });
    rl.once('close', () => resolve(null));
  });
}

/**
 * sdk: { Client, StreamableHTTPClientTransport, UnauthorizedError, finishAuth(transport, callbackUrl) }
 */
export async function main(sdk, { label, version }) {
  const serverUrl = new URL(process.argv[2]);
  const redirectUrl = process.argv[3] ?? 'http://127.0.0.1:8090/callback'; // never listened on
  const clientMetadataUrl = process.argv[4]; // optional: CIMD instead of DCR
  const { provider, s } = makeProvider({ clientName: `${label} (interop)`, redirectUrl, clientMetadataUrl });

  const newClient = () => new sdk.Client({ name: `${label}-interop`, version: '0.0.0' });
  let client = newClient();
  let transport = new sdk.StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
  let challenged = false;
  try {
    await client.connect(transport);
  } catch (e) {
    if (!(e instanceof sdk.UnauthorizedError)) throw e;
    challenged = true;
    if (!s.callback) throw new Error('UnauthorizedError without a redirect to the authorization server');
    const cb = await s.callback;
    if (cb.searchParams.get('error')) throw new Error(`authorization error: ${cb.searchParams.get('error')}: ${cb.searchParams.get('error_description')}`);
    if (cb.searchParams.get('state') !== s.state) throw new Error('state mismatch');
    await sdk.finishAuth(transport, cb);
    client = newClient();
    transport = new sdk.StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
    await client.connect(transport);
  }
  const authz = new URL(s.authorizeUrl);
  const tools = (await client.listTools()).tools.map((t) => t.name);
  const whoami = JSON.parse(text(await client.callTool({ name: 'whoami', arguments: {} })));
  const added = tools.includes('add_todo') ? text(await client.callTool({ name: 'add_todo', arguments: { text: `from ${label}` } })) : null;
  const a = {
    phase: 'a',
    sdk: label,
    version,
    challenged,
    // What the SDK discovered (v2 keeps it through saveDiscoveryState; v1 may not).
    discovery: s.discovery ? {
      resource_metadata_url: s.discovery.resourceMetadataUrl ?? null,
      prm_resource: s.discovery.resourceMetadata?.resource ?? null,
      authorization_server: s.discovery.authorizationServerUrl ?? null,
      issuer: s.discovery.authorizationServerMetadata?.issuer ?? null,
    } : null,
    client_id: s.client?.client_id,
    authorize: Object.fromEntries([...authz.searchParams].filter(([k]) => ['resource', 'scope', 'prompt', 'code_challenge_method'].includes(k))),
    token: { expires_in: s.tokens?.expires_in, scope: s.tokens?.scope, has_refresh: !!s.tokens?.refresh_token, at: fp(s.tokens?.access_token) },
    tools,
    whoami,
    added,
  };
  console.log('RESULT ' + JSON.stringify(a));
  console.log('READY');
  const go = await waitForLine();
  if (go === null) { await client.close(); return; }

  // Phase B: the access token has expired; the gateway answers 401 and the SDK must
  // refresh (rotating the refresh token) and retry, on the same session.
  s.phase = 'b';
  const before = { at: fp(s.tokens?.access_token), rt: fp(s.tokens?.refresh_token) };
  const todos = tools.includes('list_todos')
    ? text(await client.callTool({ name: 'list_todos', arguments: {} }))
    : text(await client.callTool({ name: 'whoami', arguments: {} }));
  const b = {
    phase: 'b',
    todos,
    saves_in_b: s.saves.filter((x) => x.phase === 'b').length,
    access_token_changed: fp(s.tokens?.access_token) !== before.at,
    refresh_token_rotated: fp(s.tokens?.refresh_token) !== before.rt,
    reauthorized: s.authorizeUrl?.toString() !== authz.toString(),
    invalidated: s.invalidated ?? [],
  };
  console.log('RESULT ' + JSON.stringify(b));
  await client.close();
}
