// The dashboard in headless Chromium, driven by crates/gatehouse/tests/browser/main.rs.
//
// Usage: node scenario.mjs <phase>, with the environment set by the Rust test:
//   GATEHOUSE_BASE_URL        the Gatehouse under test (http://127.0.0.1:PORT)
//   GATEHOUSE_SETUP_LINK      the first-run setup link (phase "setup")
//   GATEHOUSE_MCP_URL         the MCP server to register (phase "setup")
//   GATEHOUSE_USER_EMAIL, GATEHOUSE_USER_PASSWORD  the end user to create (phase "setup")
//   GATEHOUSE_MISMATCH        JSON {sent, registered} of the failed connection (phase "logs")
//   GATEHOUSE_WORK            a folder for the browser state and the phase's result.json
//   GATEHOUSE_SCREENSHOTS     where screenshots go
// Phases: "setup" (setup link, environment, MCP server, copy metadata, CORS, user),
// "logs" (find the redirect_uri failure and its fix, revoke the consent), "tour" (every page).
// Every page visited is screenshotted at 1280 and 390 px and checked with axe-core; serious
// or critical violations, CSP violations, script errors and page-wide horizontal scrolling
// at 390 px fail the phase.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const WIDTHS = [1280, 390];
const ENV = 'staging';

const phase = process.argv[2];
const base = need('GATEHOUSE_BASE_URL');
const work = need('GATEHOUSE_WORK');
const shots = need('GATEHOUSE_SCREENSHOTS');
const stateFile = join(work, 'browser-state.json');
mkdirSync(shots, { recursive: true });

function need(name) {
  const v = process.env[name];
  if (!v) { throw new Error(`${name} is not set`); }
  return v;
}

function log(...args) { console.log(`[browser:${phase}]`, ...args); }

// --- Pages browsers can load from origins other than Gatehouse's (CORS checks) ------------
// A real HTTP server (not page.route, which answers CORS preflights itself), reached through
// Chromium's host resolver rules so that http://localhost:6274 (MCP Inspector's origin) and
// http://inspector.test:6274 are real origins without binding port 6274.
async function originServer() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>Inspector stand-in</title><body><p>A browser app on another origin.</p></body></html>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

// --- Checks run on every page ----------------------------------------------------------------
const problems = [];
const visited = [];

function watch(page) {
  page.on('console', (m) => {
    const text = m.text();
    if (/Content Security Policy/i.test(text)) { problems.push(`CSP violation on ${page.url()}: ${text}`); }
  });
  page.on('pageerror', (e) => problems.push(`script error on ${page.url()}: ${e.message}`));
  page.on('dialog', (d) => d.accept());
}

async function check(page, name) {
  await page.waitForLoadState('load');
  const restore = page.viewportSize();
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    const file = join(shots, `${name}-${width}.png`);
    await page.screenshot({ path: file, fullPage: true });
    await page.evaluate(AXE);
    const result = await page.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + n.failureSummary) }));
    });
    const serious = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    for (const v of serious) {
      problems.push(`axe ${v.impact} "${v.id}" (${v.help}) on ${name} at ${width}px:\n    ${v.nodes.join('\n    ')}`);
    }
    const minor = result.filter((v) => !serious.includes(v));
    if (minor.length) { log(`axe (not failing) on ${name} at ${width}px: ${minor.map((v) => `${v.impact} ${v.id}`).join(', ')}`); }
    const overflow = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const extra = document.documentElement.scrollWidth - width;
      if (extra <= 1) { return null; }
      // Name the outermost elements that stick out, to say what to fix.
      const out = [...document.body.querySelectorAll('*')].filter((el) => el.getBoundingClientRect().right > width + 1 && !(el.parentElement && el.parentElement.getBoundingClientRect().right > width + 1));
      return { extra, culprits: out.slice(0, 3).map((el) => `<${el.tagName.toLowerCase()} class="${el.className}">`) };
    });
    if (overflow) { problems.push(`${name} scrolls sideways at ${width}px (${overflow.extra}px too wide): ${overflow.culprits.join(', ')}`); }
  }
  await page.setViewportSize(restore);
  visited.push(name);
}

function finish(result) {
  writeFileSync(join(work, 'result.json'), JSON.stringify({ visited, ...result }, null, 2));
  log(`checked ${visited.length} pages at ${WIDTHS.join(' and ')} px; screenshots in ${shots}`);
  if (problems.length) {
    console.error(`[browser:${phase}] ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`);
    process.exitCode = 1;
  }
}

async function flash(page, text) {
  await page.getByRole('status').filter({ hasText: text }).first().waitFor();
}

// Follows a link of the side navigation.
async function nav(page, name) {
  await Promise.all([page.waitForEvent('load'), page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name, exact: true }).click()]);
}

// Clicks a submit button and waits for the page it leads to (post/redirect/get).
async function submit(page, name) {
  await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name, exact: true }).click()]);
}

// --- Phase: setup ----------------------------------------------------------------------------
async function corsFetch(page, origin, env) {
  await page.goto(`${origin}/`);
  return page.evaluate(async (url) => {
    try {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_name: 'CORS probe', redirect_uris: ['http://127.0.0.1:9/callback'], token_endpoint_auth_method: 'none' }),
      });
      return { ok: true, status: r.status };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  }, `${base}/${env}/register`);
}

async function setup(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await context.newPage();
  watch(page);

  // First run: the setup link creates the first administrator.
  await page.goto(need('GATEHOUSE_SETUP_LINK'));
  await check(page, '01-setup');
  await page.getByLabel('Email').fill('admin@example.com');
  await page.getByLabel('Password', { exact: true }).fill('an admin password');
  await page.getByLabel('Repeat the password').fill('an admin password');
  await submit(page, 'Create administrator');
  await flash(page, 'Welcome. You are signed in as admin@example.com.');
  assert.match(page.url(), /\/admin\/env\/dev$/);

  // Sign out and in again through the sign-in page.
  await submit(page, 'Sign out');
  await page.getByText('You are signed out.').waitFor();
  await check(page, '02-login');
  await page.getByLabel('Email').fill('admin@example.com');
  await page.getByLabel('Password').fill('wrong password');
  await submit(page, 'Sign in');
  await page.getByText('Wrong email or password.').waitFor();
  await page.getByLabel('Password').fill('an admin password');
  await submit(page, 'Sign in');
  await flash(page, 'Signed in as admin@example.com.');

  // A development environment for the MCP server, and a production one.
  for (const [name, profile] of [[ENV, 'Development'], ['prod', 'Production']]) {
    await nav(page, 'New environment');
    await page.getByLabel('Name').fill(name);
    await page.getByLabel(profile, { exact: true }).check();
    await submit(page, 'Create environment');
    await flash(page, `Environment ${name} created`);
  }
  await check(page, '03-environment-overview');

  // The switcher, then the MCP server.
  await page.getByLabel('Environment', { exact: true }).selectOption(ENV);
  await submit(page, 'Switch');
  assert.match(page.url(), new RegExp(`/admin/env/${ENV}$`));
  await nav(page, 'MCP servers');
  await page.getByRole('link', { name: 'Add an MCP server' }).click();
  const mcpUrl = need('GATEHOUSE_MCP_URL');
  await page.getByLabel('Name', { exact: true }).fill('Todo MCP');
  await page.getByLabel('Resource URL').fill('ftp://mcp.example.com/mcp');
  await submit(page, 'Add MCP server');
  await page.getByRole('alert').first().waitFor();
  assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'Todo MCP', 'input kept after a validation error');
  await check(page, '04-mcp-server-invalid');
  await page.getByLabel('Resource URL').fill(mcpUrl);
  await page.getByLabel('Scope 1', { exact: true }).fill('todo:read');
  await page.getByLabel('Scope 1: what it allows (consent page)').fill('Read your todo lists');
  await submit(page, 'Add MCP server');
  await flash(page, 'MCP server Todo MCP added.');
  await check(page, '05-mcp-server-connect');

  // Copy the metadata with the copy button and read it back from the clipboard.
  await page.getByRole('button', { name: 'Copy Protected Resource Metadata (JSON)' }).click();
  await page.locator('button[data-copy="prm-json"][data-copied="true"]').waitFor();
  const copied = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
  const shown = JSON.parse(await page.locator('#prm-json').textContent());
  assert.deepEqual(copied, shown, 'the clipboard holds exactly the JSON on the page');
  assert.equal(copied.resource, mcpUrl);
  assert.deepEqual(copied.authorization_servers, [`${base}/${ENV}`]);
  assert.deepEqual(copied.scopes_supported, ['todo:read']);
  const published = await (await fetch(new URL('/.well-known/oauth-protected-resource/mcp', mcpUrl))).json();
  for (const k of ['resource', 'authorization_servers', 'scopes_supported']) {
    assert.deepEqual(copied[k], published[k], `the MCP server publishes the same ${k}`);
  }
  log('copied the metadata:', JSON.stringify(copied));

  // CORS. MCP Inspector (http://localhost:6274) calling the production environment is
  // refused until its origin is allowed there; so is another app calling the development one.
  const probe = await context.newPage();
  watch(probe);
  const cors = {};
  cors.localhostProdBefore = await corsFetch(probe, 'http://localhost:6274', 'prod');
  cors.inspectorBefore = await corsFetch(probe, 'http://inspector.test:6274', ENV);
  assert.equal(cors.localhostProdBefore.ok, false, `refused before: ${JSON.stringify(cors.localhostProdBefore)}`);
  assert.equal(cors.inspectorBefore.ok, false, `refused before: ${JSON.stringify(cors.inspectorBefore)}`);

  // In production, ADM-04 refuses http origins off loopback: the page says why and keeps the input.
  await page.goto(`${base}/admin/env/prod/urls`);
  await page.getByLabel('Allowed CORS origins (one per line)').fill('http://inspector.test:6274');
  await submit(page, 'Save');
  await page.getByText('production environments allow https origins, and http only on localhost').first().waitFor();
  assert.equal(await page.getByLabel('Allowed CORS origins (one per line)').inputValue(), 'http://inspector.test:6274');
  await check(page, '06-urls-production-refused');

  // Add MCP Inspector's origin to production: its preflight now succeeds.
  await page.getByLabel('Allowed CORS origins (one per line)').fill('http://localhost:6274');
  await submit(page, 'Save');
  await flash(page, 'Saved 0 allowed callback URLs and 1 allowed origin.');
  await check(page, '07-urls-saved');
  cors.localhostProdAfter = await corsFetch(probe, 'http://localhost:6274', 'prod');
  assert.deepEqual(cors.localhostProdAfter, { ok: true, status: 201 }, 'the preflight succeeds once the origin is allowed');

  // In the development environment, allow the other app's origin too.
  await page.goto(`${base}/admin/env/${ENV}/urls`);
  await page.getByLabel('Allowed CORS origins (one per line)').fill('http://inspector.test:6274');
  await submit(page, 'Save');
  await flash(page, 'Saved 0 allowed callback URLs and 1 allowed origin.');
  cors.inspectorAfter = await corsFetch(probe, 'http://inspector.test:6274', ENV);
  cors.localhostDev = await corsFetch(probe, 'http://localhost:6274', ENV);
  assert.deepEqual(cors.inspectorAfter, { ok: true, status: 201 }, 'allowed once listed');
  assert.deepEqual(cors.localhostDev, { ok: true, status: 201 }, 'development allows loopback origins by itself');
  log('CORS:', JSON.stringify(cors));
  await probe.close();

  // The end user who will connect.
  await nav(page, 'Users');
  await page.getByLabel('Email').fill(need('GATEHOUSE_USER_EMAIL'));
  await page.getByLabel('Password').fill(need('GATEHOUSE_USER_PASSWORD'));
  await submit(page, 'Create user');
  await flash(page, `User ${need('GATEHOUSE_USER_EMAIL')} created.`);

  await context.storageState({ path: stateFile });
  await context.close();
  return { cors, copied };
}

// --- Phase: logs -----------------------------------------------------------------------------
async function logs(browser) {
  const context = await browser.newContext({ storageState: stateFile, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watch(page);
  const { sent, registered } = JSON.parse(need('GATEHOUSE_MISMATCH'));
  await page.goto(`${base}/admin/env/${ENV}`);
  await nav(page, 'Authentication logs');
  await page.getByLabel('Outcome').selectOption('failure');
  await submit(page, 'Filter');
  assert.match(page.url(), /outcome=failure/);
  const failure = page.locator('ol.events > li.failure').filter({ hasText: 'redirect_uri mismatch' }).first();
  await failure.waitFor();
  const text = await failure.innerText();
  for (const needle of [sent, registered, 'What to do:', 'must match a registered one exactly']) {
    assert.ok(text.includes(needle), `the failure names ${needle}:\n${text}`);
  }
  const corsFailure = page.locator('ol.events > li.failure').filter({ hasText: 'inspector.test:6274' }).first();
  assert.ok((await corsFailure.innerText()).includes("Add the origin to the environment's allowed origins"));
  await check(page, '10-logs-failures');

  // The export link (JSON lines) with the same filters.
  const href = await page.getByRole('link', { name: 'Export these events as JSON lines' }).getAttribute('href');
  const exported = await context.request.get(new URL(href, base).toString());
  assert.equal(exported.headers()['content-type'], 'application/x-ndjson');
  const lines = (await exported.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.every((e) => e.outcome === 'failure') && lines.some((e) => e.error_detail?.includes(sent)));

  // One connect attempt, step by step.
  await failure.getByRole('link', { name: 'Trace of this attempt' }).click();
  await page.getByRole('heading', { name: 'Trace of one connect attempt' }).waitFor();
  const trace = await page.locator('main').innerText();
  assert.ok(trace.includes('failed at step authorize') && trace.includes(registered), trace);
  await check(page, '11-trace');

  // Revoke the user's consent: the client's refresh token stops working (checked in Rust).
  await nav(page, 'Users');
  await page.getByRole('link', { name: need('GATEHOUSE_USER_EMAIL') }).click();
  await check(page, '12-user');
  const revoke = page.getByRole('button', { name: /^Revoke the consent of/ });
  assert.equal(await revoke.count(), 1);
  await Promise.all([page.waitForEvent('load'), revoke.click()]);
  await flash(page, 'Consent revoked');
  assert.equal(await page.getByRole('button', { name: /^Revoke the consent of/ }).count(), 0);
  await context.close();
  return {};
}

// --- Phase: tour -----------------------------------------------------------------------------
async function tour(browser) {
  const context = await browser.newContext({ storageState: stateFile, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watch(page);
  const env = `${base}/admin/env/${ENV}`;
  const go = async (url, name) => { const r = await page.goto(url); assert.equal(r.status(), 200, `${url}: ${r.status()}`); await check(page, name); };
  await go(env, '20-overview');
  await go(`${env}/servers`, '21-servers');
  await go(`${env}/servers/new`, '22-server-new');
  await go(`${env}/clients`, '23-clients');
  const client = await page.locator('table a[href*="/clients/"]').first().getAttribute('href');
  await go(new URL(client, base).toString(), '24-client');
  await go(`${env}/users`, '25-users');
  await go(`${env}/logs`, '26-logs');
  await go(`${env}/urls`, '27-urls');
  await go(`${env}/settings`, '28-settings');
  await go(`${env}/keys`, '29-keys');
  await go(`${base}/admin/environments/new`, '30-environment-new');
  await go(`${base}/admin/api-keys`, '31-api-keys');
  await page.getByLabel('Name').fill('CI pipeline');
  await submit(page, 'Create API key');
  assert.match(await page.locator('#admin-api-key').textContent(), /^gha_/);
  await check(page, '32-api-key-created');
  await page.goto(`${env}/clients`);
  await page.getByLabel('Name', { exact: true }).fill('nightly-agent');
  await submit(page, 'Create client');
  assert.match(await page.locator('#client-secret').textContent(), /^ghs_/);
  await check(page, '33-client-created');
  await go(`${base}/admin/env/prod/urls`, '34-urls-production');
  await context.close();
  return {};
}

const phases = { setup, logs, tour };
if (!phases[phase]) { throw new Error(`unknown phase ${phase}`); }
const origins = await originServer();
const port = origins.address().port;
const browser = await chromium.launch({
  executablePath: process.env.GATEHOUSE_CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    `--host-resolver-rules=MAP localhost:6274 127.0.0.1:${port}, MAP inspector.test:6274 127.0.0.1:${port}`,
  ],
});
try {
  finish(await phases[phase](browser));
} catch (e) {
  problems.push(String(e.stack || e));
  finish({});
} finally {
  await browser.close();
  origins.close();
}
if (!existsSync(join(work, 'result.json'))) { process.exitCode = 1; }
