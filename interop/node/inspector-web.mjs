// MCP Inspector 1.x web UI in headless Debian Chromium, "direct" connection mode: discovery,
// registration, the token request and the MCP calls are fetch()es from the page at
// http://localhost:6274, so Gatehouse and the gateway must answer CORS; the user signs in
// and allows on Gatehouse's pages in the same real browser.
//
// usage: node inspector-web.mjs <mcp-url> <inspector-proxy-token>
// env:   INTEROP_EMAIL, INTEROP_PASSWORD, CHROMIUM (default /usr/bin/chromium), INSPECTOR_URL
//        (default http://localhost:6274), INSPECTOR_PROXY_PORT (default 6277: the Inspector's
//        own proxy)
//
// Same protocol as ts-client-lib.mjs: `RESULT {json}` per phase, `READY`, a stdin line starts
// phase B (after the access token expired: listing tools again makes the page refresh).
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const [mcp, proxyToken] = process.argv.slice(2);
const base = process.env.INSPECTOR_URL ?? 'http://localhost:6274';
const proxyPort = process.env.INSPECTOR_PROXY_PORT ?? '6277';
const T = 30_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
});
const ctx = await browser.newContext();
await ctx.addInitScript(() => localStorage.setItem('lastConnectionType', 'direct'));
const page = await ctx.newPage();

// Every cross-origin call the page made to Gatehouse or the gateway, and every CORS refusal.
const asOrigins = new Set([new URL(mcp).origin]);
const calls = [];
const cors = [];
page.on('console', (m) => { if (/CORS|Access-Control/i.test(m.text())) cors.push(m.text().slice(0, 300)); });
page.on('requestfinished', async (r) => {
  const u = new URL(r.url());
  if (u.origin === base || r.isNavigationRequest()) return;
  const res = await r.response().catch(() => null);
  calls.push({ method: r.method(), url: `${u.origin}${u.pathname}`, status: res?.status() ?? null, acao: res?.headers()['access-control-allow-origin'] ?? null });
});
const tokenRequests = [];
page.on('request', (r) => {
  if (r.method() === 'POST' && new URL(r.url()).pathname.endsWith('/token')) {
    const h = r.headers();
    tokenRequests.push({ phase: typeof phase === 'undefined' ? 'a' : phase, content_type: h['content-type'] ?? null, grant_type: new URLSearchParams(r.postData() ?? '').get('grant_type') });
  }
});
page.on('requestfailed', (r) => {
  const u = new URL(r.url());
  if (u.origin === base || r.isNavigationRequest()) return;
  calls.push({ method: r.method(), url: `${u.origin}${u.pathname}`, status: null, failure: r.failure()?.errorText ?? 'failed' });
});
page.on('framenavigated', (f) => {
  if (f === page.mainFrame()) {
    const u = new URL(f.url());
    console.error(`inspector-web: at ${u.origin}${u.pathname}`);
  }
});

function waitForLine() {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.once('line', (l) => { resolve(l); rl.close(); });
    rl.once('close', () => resolve(null));
  });
}

async function toolResult() {
  const out = page.getByText(/Tool Result: (Success|Error)/).first();
  await out.waitFor({ timeout: T });
  return page.locator('body').innerText();
}

async function runTool(name) {
  await page.getByRole('button', { name: 'List Tools' }).click({ timeout: T });
  await page.getByText(name, { exact: true }).first().click({ timeout: T });
  await page.getByRole('button', { name: /Run Tool/ }).click({ timeout: T });
  return toolResult();
}

let phase = 'a';
try {
  const query = new URLSearchParams({ MCP_PROXY_AUTH_TOKEN: proxyToken, transport: 'streamable-http', serverUrl: mcp });
  // On a port other than 6277 the page needs the proxy's address. Inspector 1.0.3 forgets
  // MCP_PROXY_PORT (the parameter its own launcher sets) on the way back from the OAuth
  // callback, and then talks to port 6277; MCP_PROXY_FULL_ADDRESS stays in sessionStorage.
  if (proxyPort !== '6277') query.set('MCP_PROXY_FULL_ADDRESS', `${new URL(base).protocol}//${new URL(base).hostname}:${proxyPort}`);
  await page.goto(`${base}/?${query}`);
  await page.getByRole('button', { name: 'Connect', exact: true }).click({ timeout: T });

  // Gatehouse's login and consent pages, in the browser.
  await page.waitForURL(/\/login\?/, { timeout: T });
  const asOrigin = new URL(page.url()).origin;
  asOrigins.add(asOrigin);
  await page.fill('input[name=email]', process.env.INTEROP_EMAIL ?? 'alice@example.com');
  await page.fill('input[name=password]', process.env.INTEROP_PASSWORD ?? '');
  await page.click('button[type=submit]');
  await page.waitForURL(/\/consent\?/, { timeout: T });
  const consentText = await page.locator('main').innerText();
  await page.click('button[name=decision][value=allow]');
  await page.waitForURL((u) => u.origin === base && !u.pathname.startsWith('/oauth'), { timeout: T });
  await page.getByText('Connected', { exact: true }).first().waitFor({ timeout: T });

  const body = await runTool('whoami');
  const whoami = /authorization_seen/.test(body);
  const a = {
    phase: 'a',
    connected: true,
    consent_names_client: /MCP Inspector/.test(consentText),
    tool_call_ok: /Tool Result: Success/.test(body) && whoami,
    calls,
    cors_errors: [...cors],
  };
  console.log('RESULT ' + JSON.stringify(a));
  console.log('READY');
  const go = await waitForLine();
  if (go !== null) {
    phase = 'b';
    calls.length = 0;
    cors.length = 0;
    await page.getByRole('button', { name: 'Clear' }).first().click().catch(() => {});
    const body2 = await runTool('list_todos');
    console.log('RESULT ' + JSON.stringify({
      phase: 'b',
      tool_call_ok: /Tool Result: Success/.test(body2),
      still_on_inspector: new URL(page.url()).origin === base,
      calls,
      cors_errors: [...cors],
      token_requests: tokenRequests,
    }));
  }
} catch (e) {
  console.error(`inspector-web: phase ${phase} failed: ${e.message.split('\n')[0]}`);
  console.error(`inspector-web: page ${page.url().replace(/([?&](code|state)=)[^&]+/g, '$1...')}`);
  console.error((await page.locator('body').innerText().catch(() => '')).slice(0, 2000));
  console.log('RESULT ' + JSON.stringify({ phase, error: e.message.split('\n')[0], calls, cors_errors: cors, token_requests: tokenRequests }));
  await browser.close();
  process.exit(1);
}
await browser.close();
