#!/usr/bin/env python3
"""Attribute `perf script` samples (recorded with call stacks) to what they were doing:
the store call they serve, the blocking pool's thread parking, JWT signing or verification,
HTTP, the runtime. Reads `perf script` output on stdin; used by bench/profile."""
import collections
import re
import sys

RULES = [
    ("JWT verify (ECDSA verify)", r"ECDSA_do_verify|ECDSA_verify|verify_sig|jose::verify"),
    ("JWT sign (ECDSA sign, JSON, base64)", r"sign_jwt|ECDSA_sign|ECDSA_do_sign"),
    ("argon2id", r"argon2"),
    ("guard: token verification", r"gatehouse_guard::verify"),
    ("guard: JSON-RPC / tools/list", r"gatehouse_guard::mcp"),
    ("gateway: upstream client", r"hyper_util::client::legacy|hyper::client"),
]


def classify(stack):
    joined = "\n".join(stack)
    m = re.search(r"gatehouse_store_[a-z]+::([a-z_]+)::<impl [^>]*>::([a-z_]+)", joined) or re.search(
        r"gatehouse_store_[a-z]+::([a-z_]+)::\{impl#0\}::([a-z_]+)", joined
    )
    if m and m.group(2) not in ("read", "write"):
        return "store: " + m.group(2)
    for name, pat in RULES:
        if re.search(pat, joined):
            return name
    if "blocking::pool" in joined or "Condvar" in joined:
        return "blocking pool: parking/unparking threads (no task)"
    if "spawn_blocking" in joined or "spawn_task" in joined:
        return "spawn_blocking: submitting, waking a thread"
    if "hyper::proto" in joined or "writev" in joined or "recvfrom" in joined:
        return "HTTP (hyper, socket I/O)"
    if "tokio::runtime" in joined or "epoll" in joined:
        return "tokio scheduler / epoll"
    if "serde_json" in joined:
        return "serde_json"
    if "tracing" in joined:
        return "tracing"
    return "other"


def main():
    counts = collections.Counter()
    stack = []
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                counts[classify(stack)] += 1
            stack = []
        elif line.startswith(("\t", " ")):
            stack.append(line.strip())
    if stack:
        counts[classify(stack)] += 1
    total = sum(counts.values()) or 1
    for k, v in counts.most_common():
        print(f"{100 * v / total:6.1f}%  {k}")
    print(f"({total} samples)")


if __name__ == "__main__":
    main()
