"""Soak: many sessions through ``Engine.ahandle`` on Redis, with faults at random.

Two engines (workers) over one Redis key prefix serve flows/customer_service.yaml;
the fake LLM (a loopback ``FakeChatServer``) answers badly half the time (HTTP 500,
slow, past the timeout, garbage, the system prompt, a move not allowed), saves are
dropped at random, a fifth of the messages are delivered twice at once
(``dialogue.testing.soak``). Target: no problem (every history complete and in
order, no action run twice for one message without a failed save and always with
one key, no leak, no move outside the state's, no session lock left behind) and
traced memory flat: the least-squares slope of the traced bytes over the rounds
after the warm-up (``SoakReport.slope``), per session, below 256 bytes per
session per round. A leak keeps a little of every session and its slope stays
at that size; a bounded cache filling (pydantic-core's JSON strings, left out
of the count; the leak check's 64 prompts) or a connection pool reaching a new
high-water mark (Redis and HTTP connections: as many as turns ran at once)
flattens as it fills, and it does not grow with the sessions of a round, so
many sessions per round keep it small per session. The slope of the second half
of the rounds is printed too: near the whole run's for a leak, smaller for a
cache filling.

    python bench/soak.py [--quick] [--sessions N] [--rounds R] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from dialogue.testing import FakeChatServer
from dialogue.testing.soak import SoakPlan, soak

TARGET = 256
"""Bytes per session a round after the warm-up may keep, on average."""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--sessions", type=int, default=120, help="sessions per round")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--messages", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    if args.quick:
        args.sessions, args.rounds, args.messages = 10, 3, 5
    logging.getLogger("dialogue").setLevel(logging.ERROR)
    plan = SoakPlan(
        sessions=args.sessions,
        messages=args.messages,
        rounds=args.rounds,
        concurrency=50,
        seed=args.seed,
    )
    print(f"plan: {plan}")
    started = time.perf_counter()
    with FakeChatServer() as server:
        report = asyncio.run(soak(plan, redis_url=args.redis_url, server=server))
    seconds = time.perf_counter() - started
    print(report.summary())
    print(f"llm outcomes: {dict(sorted(report.outcomes.items()))}")
    for problem in report.problems[:20]:
        print("problem:", problem)
    per_session = report.slope() / plan.sessions
    second_half = report.slope(warmup=max(1, plan.rounds // 2)) / plan.sessions
    print(f"{report.turns} turns in {seconds:.1f} s (with tracemalloc on)")
    print(
        f"memory: slope {per_session:+.1f} bytes per session per round after the warm-up "
        f"(rounds 2 to {plan.rounds}); {second_half:+.1f} over the second half"
    )
    locks = max(report.locks, default=0)
    ok = not report.problems and per_session < TARGET and locks == 0
    print(
        f"{'PASS' if ok else 'FAIL'}: problems={len(report.problems)}, locks left={locks}, "
        f"{per_session:+.1f} B/session/round (target < {TARGET})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
