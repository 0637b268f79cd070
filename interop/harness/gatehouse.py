"""A Gatehouse under test: a fresh data directory, the admin CLI, `gatehouse serve` with
`[[gateway]]` routes in front of `gatehouse demo-server`, and the authentication log.

Everything listens on 127.0.0.1 on ports picked at random. The server runs exactly as
shipped: it is set up only with the admin commands a user would run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    """Whether a server could listen on `port` now. With SO_REUSEADDR, as Node and Rust
    servers bind: connections of a finished run in TIME_WAIT do not hold the port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """Waits until `url` answers at all (any HTTP status)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except Exception as e:  # noqa: BLE001 - retried
            last = e
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last}")


@dataclass
class Route:
    """A `[[gateway]]` route: the guard in front of the demo MCP server."""

    env: str
    port: int
    tool_scopes: dict[str, str] = field(default_factory=dict)
    allowed_origins: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


class Gatehouse:
    def __init__(self, binary: str, work: Path, name: str = "gatehouse", port: int | None = None):
        self.bin = binary
        self.dir = work / name
        self.data = self.dir / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.routes: list[Route] = []
        self.demo_port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.demo: subprocess.Popen | None = None
        self.name = name

    # -- admin CLI -------------------------------------------------------------------------
    def admin(self, *args: str, stdin: str | None = None, json_out: bool = False):
        cmd = [self.bin, *args, "--data-dir", str(self.data)] + (["--json"] if json_out else [])
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"`gatehouse {' '.join(args)}` failed ({r.returncode}): {r.stderr.strip()}")
        return json.loads(r.stdout) if json_out else r.stdout

    def issuer(self, env: str) -> str:
        return self.base if env == "dev" else f"{self.base}/{env}"

    def add_user(self, env: str, email: str, password: str) -> str:
        out = self.admin("user", "add", "--env", env, "--email", email, "--password-stdin", stdin=password + "\n", json_out=True)
        return out.get("id") or out.get("user_id") or ""

    def add_resource(self, env: str, name: str, url: str, scopes: str, ttl: int, describe: dict[str, str] | None = None) -> None:
        args = ["resource", "add", "--env", env, "--name", name, "--url", url, "--scopes", scopes, "--token-ttl", str(ttl)]
        for k, v in (describe or {}).items():
            args += ["--describe", f"{k}={v}"]
        self.admin(*args)

    # -- processes -------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> None:
        """Starts the demo MCP server (once) and `gatehouse serve` with the gateway routes."""
        if self.demo is None or self.demo.poll() is not None:
            self.demo_port = self.demo_port or free_port()
            self.demo = subprocess.Popen(
                [self.bin, "demo-server", "--listen", f"127.0.0.1:{self.demo_port}"],
                stdout=open(self.dir / "demo.log", "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        config = [f'listen = "127.0.0.1:{self.port}"', f'data_dir = "{self.data}"', 'log = "info"', ""]
        for r in self.routes:
            config += [
                "[[gateway]]",
                f'env = "{r.env}"',
                f'resource = "{r.url}"',
                f'listen = "127.0.0.1:{r.port}"',
                f'upstream = "http://127.0.0.1:{self.demo_port}/mcp"',
                "tool_scopes = { " + ", ".join(f'{k} = "{v}"' for k, v in r.tool_scopes.items()) + " }",
                "allowed_origins = [" + ", ".join(f'"{o}"' for o in r.allowed_origins) + "]",
                "",
            ]
        (self.dir / "gatehouse.toml").write_text("\n".join(config))
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--config", str(self.dir / "gatehouse.toml")],
            stdout=open(self.dir / "serve.log", "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "GATEHOUSE_LOG": os.environ.get("GATEHOUSE_LOG", "info")},
        )
        wait_http(f"{self.base}/.well-known/oauth-authorization-server", timeout, self.proc)
        wait_http(f"http://127.0.0.1:{self.demo_port}/mcp", timeout, self.demo)
        for r in self.routes:
            wait_http(f"http://127.0.0.1:{r.port}/.well-known/oauth-protected-resource/mcp", timeout, self.proc)

    def stop(self, demo: bool = True) -> None:
        procs = [self.proc] + ([self.demo] if demo else [])
        for p in procs:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in procs:
            if p is not None:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.proc = None
        if demo:
            self.demo = None

    def server_log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.dir / "serve.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    # -- the authentication log ------------------------------------------------------------
    def events(self, env: str, since_ms: int = 0, until_ms: int | None = None, settle: float = 1.2) -> list[dict]:
        """The environment's log events in order, from `since_ms`. Waits `settle` seconds
        first: the server writes its log in batches."""
        if settle:
            time.sleep(settle)
        evs = self.admin("logs", "--env", env, "--limit", "2000", json_out=True)
        evs = [e for e in evs if e["at_ms"] >= since_ms and (until_ms is None or e["at_ms"] <= until_ms)]
        return sorted(evs, key=lambda e: (e["at_ms"], e["id"]))


def short_client(cid: str | None) -> str:
    if not cid:
        return "-"
    return cid if len(cid) <= 28 else cid[:20] + "…" + cid[-6:]


def format_event(e: dict, t0: int | None = None) -> str:
    """One log line for humans: time, event, outcome, error, client, the event's data."""
    at = f"+{(e['at_ms'] - t0) / 1000:6.2f}s" if t0 is not None else str(e["at_ms"])
    data = {k: v for k, v in (e.get("data") or {}).items() if k not in ("jti", "reporter", "software_id")}
    err = f" {e['error']}: {e.get('error_detail') or ''}" if e.get("error") else ""
    return (
        f"  {at} {e['event']:<9} {e['outcome']:<7}{err} client={short_client(e.get('client_id'))}"
        f" corr={e.get('correlation_id') or '-'} {json.dumps(data, sort_keys=True)}"
    )
