"""The full load run: ``dialogue serve --workers 2`` on Redis, 5,000 message requests.

    python bench/server_load.py                 # 180 sessions: 5,040 message requests
    python bench/server_load.py --quick         # 12 sessions: 336
    python bench/server_load.py [--sessions N] [--concurrency C] [--workers W] [--redis-url URL]

``dialogue.testing.load`` (also run, smaller, by ``tests/test_server_load.py``):
per session 4 concurrent clients, each sending 6 messages one after the other
with message ids (1 in 3 over the SSE endpoint) and redelivering one of them
(half racing the first try, half after its answer); at most ``--concurrency``
(50) requests in flight over keep-alive connections. 28 messages per session,
under the server's default rate limit of 30 a minute. Afterwards each session's
stored history must hold every message exactly once, at the turn its answer
named, each client's messages in send order, and every answer must be a 200.
The sessions live in Redis db 13 under a random key prefix, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import _common as c
import _serving as s

from dialogue.testing.load import Plan, run, write_flow


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args(argv)
    import redis

    plan = Plan(sessions=args.sessions or (12 if args.quick else 180), concurrency=args.concurrency)
    prefix = f"dialogue-bench-load:{secrets.token_hex(6)}:"
    print(c.machine())
    print(f"dialogue serve --workers {args.workers} --store {args.redis_url}?prefix={prefix}")
    print(s.load_average())
    try:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
            flow = write_flow(Path(tmp))
            store = f"{args.redis_url}?prefix={prefix}"
            port = s.free_port()
            with s.dialogue_serve(
                flow, port, "--workers", str(args.workers), "--store", store
            ) as url:
                report = asyncio.run(run(url, plan))
    finally:
        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
    print(report.summary())
    print(s.load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
