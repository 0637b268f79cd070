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


# Threads of Gatehouse's own, by name (`perf script` prints it first on a sample's line).
THREADS = [
    ("gatehouse-db-wr", "SQLite writer thread (transactions, WAL)"),
    ("gatehouse-db-ch", "SQLite checkpointer thread"),
    ("gatehouse-db-rd", "SQLite reader threads"),
]


def classify(thread, stack):
    joined = "\n".join(stack)
    m = re.search(r"gatehouse_store_[a-z]+::([a-z_]+)::<impl [^>]*>::([a-z_]+)", joined) or re.search(
        r"gatehouse_store_[a-z]+::([a-z_]+)::\{impl#0\}::([a-z_]+)", joined
    )
    if m and m.group(2) not in ("read", "write"):
        return "store: " + m.group(2)
    for name, pat in RULES:
        if re.search(pat, joined):
            return name
    for prefix, name in THREADS:
        if thread.startswith(prefix):
            return name
    # tokio's workers run on threads of the blocking pool too: a worker's stack is the
    # scheduler's unless it is polling a task (`run_task`).
    worker = "multi_thread::worker" in joined
    if worker and "run_task" not in joined:
        return "tokio scheduler / epoll (no task)"
    if not worker and ("blocking::pool" in joined or "Condvar" in joined):
        return "blocking pool: parking/unparking threads (no task)"
    if "spawn_blocking" in joined or "spawn_task" in joined:
        return "spawn_blocking: submitting, waking a thread"
    # A handler runs inside hyper's dispatcher (the stack lists the leaf first): a sample is
    # the handler's when a frame of Gatehouse or axum lies between the leaf and hyper.
    inner = next((i for i, f in enumerate(stack) if "hyper::proto" in f), None)
    if inner is not None and any(
        "gatehouse_" in f or "axum::" in f or "tower::" in f for f in stack[:inner]
    ):
        return "request handlers (Gatehouse, axum; not the above)"
    if inner is not None or "writev" in joined or "recvfrom" in joined:
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
    thread, stack = "", []
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                counts[classify(thread, stack)] += 1
            thread, stack = "", []
        elif line.startswith(("\t", " ")):
            stack.append(line.strip())
        else:
            thread = line.split(maxsplit=1)[0] if line.split() else ""
    if stack:
        counts[classify(thread, stack)] += 1
    total = sum(counts.values()) or 1
    for k, v in counts.most_common():
        print(f"{100 * v / total:6.1f}%  {k}")
    print(f"({total} samples)")


if __name__ == "__main__":
    main()
