#!/usr/bin/env python3
"""The user, without a browser: signs in on Gatehouse's HTML login form and allows on its
consent form (plain forms, no JavaScript), keeping cookies and hidden fields, and stops at
the redirect back to the client.

As a program (what a client's "open the browser" step runs, see `open-browser`):

    browser.py URL               follow URL, sign in, allow, then GET the callback URL so
                                 the client's loopback listener receives the code
    browser.py --print URL       do not deliver: print the callback URL on stdout (for
                                 SDK drivers that take the code themselves)

The user comes from INTEROP_EMAIL / INTEROP_PASSWORD. Progress goes to stderr with codes,
states and every other query value of the callback redacted; nothing secret is printed
except the callback URL on stdout with --print (read by the caller, never logged).

Standard library only: it runs before any dependency is installed.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

MAX_STEPS = 12


class Page(HTMLParser):
    """The forms and the error/alert text of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.cur: dict | None = None
        self.title = ""
        self.text: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "title":
            self._in_title = True
        if tag == "form":
            self.cur = {
                "action": a.get("action") or "",
                "method": (a.get("method") or "get").lower(),
                "fields": {},
                "buttons": [],
            }
            self.forms.append(self.cur)
        elif self.cur is not None and tag in ("input", "button"):
            kind = (a.get("type") or ("submit" if tag == "button" else "text")).lower()
            name = a.get("name")
            if kind == "submit":
                if name:
                    self.cur["buttons"].append((name, a.get("value") or ""))
            elif name:
                self.cur["fields"][name] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.cur = None
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif data.strip():
            self.text.append(data.strip())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def redact(url: str) -> str:
    """The URL with every query value but a few harmless ones replaced by `…`."""
    parts = urllib.parse.urlsplit(url)
    keep = {"error", "error_description", "iss", "response_type", "code_challenge_method",
            "redirect_uri", "resource", "scope", "prompt", "client_id"}
    q = [(k, short(v) if k in keep else "...") for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q, safe=".:/ ")))


def short(v: str, n: int = 48) -> str:
    """Long values (self-contained client ids) cut for the log."""
    return v if len(v) <= n else v[: n - 3] + "..."


class Browser:
    def __init__(self, email: str, password: str, log=sys.stderr):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)
        self.email = email
        self.password = password
        self.log = log

    def fetch(self, url: str, data: bytes | None = None):
        req = urllib.request.Request(url, data=data, headers={"User-Agent": "gatehouse-interop-browser"})
        try:
            r = self.opener.open(req, timeout=20)
            return r.status, r.headers, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode(errors="replace")

    def authorize(self, url: str, decision: str = "allow") -> str:
        """Follows `url` through login and consent; returns the first URL outside the
        authorization server's origin (the client's redirect URI with code or error)."""
        as_origin = origin(url)
        data = None
        for _ in range(MAX_STEPS):
            if origin(url) != as_origin:
                print(f"browser: back to the client at {redact(url)}", file=self.log)
                return url
            status, headers, body = self.fetch(url, data)
            print(f"browser: {'POST' if data else 'GET'} {redact(url)} -> {status}", file=self.log)
            data = None
            if status in (301, 302, 303, 307, 308):
                url = urllib.parse.urljoin(url, headers["Location"])
                continue
            page = Page()
            page.feed(body)
            form = next((f for f in page.forms if f["method"] == "post"), None)
            if status != 200 or form is None:
                raise RuntimeError(
                    f"stuck at HTTP {status} {redact(url)}: {page.title.strip()!r}: "
                    + " | ".join(page.text)[:1500]
                )
            fields = dict(form["fields"])
            if "password" in fields:
                fields["email"] = self.email
                fields["password"] = self.password
            else:
                choices = dict(form["buttons"])
                if "decision" not in choices:
                    raise RuntimeError(f"a form that is neither login nor consent at {redact(url)}: {page.title!r}")
                fields["decision"] = decision
            url = urllib.parse.urljoin(url, form["action"] or url)
            data = urllib.parse.urlencode(fields).encode()
        raise RuntimeError("too many steps")

    def deliver(self, callback: str) -> int:
        """GETs the callback URL: the client's own loopback listener receives the code."""
        status, _, _ = self.fetch(callback)
        print(f"browser: delivered to the client's listener -> {status}", file=self.log)
        return status


def origin(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def main(argv: list[str]) -> int:
    print_only = False
    if argv and argv[0] == "--print":
        print_only, argv = True, argv[1:]
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    b = Browser(os.environ.get("INTEROP_EMAIL", "alice@example.com"), os.environ.get("INTEROP_PASSWORD", ""))
    try:
        callback = b.authorize(argv[0], os.environ.get("INTEROP_DECISION", "allow"))
    except Exception as e:  # noqa: BLE001 - reported to the caller
        print(f"browser: FAILED: {e}", file=sys.stderr)
        return 1
    if print_only:
        print(callback, flush=True)
        return 0
    if not re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/", callback):
        print(f"browser: not a loopback redirect: {redact(callback)}", file=sys.stderr)
        return 1
    b.deliver(callback)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
