"""Where a turn's time goes: cProfile of the turn loop, then the cost of its pieces.

    python bench/profile_turn.py            # 2,000 profiled sessions
    python bench/profile_turn.py --quick    # 300 (under 10 s)

Part 1 runs the conversation of ``turn_latency.py`` under cProfile and prints
the functions with the largest cumulative and own time (cProfile inflates
small calls several times over: read it for shares, not for microseconds).
Part 2 times single pieces of a turn without the profiler (best of 5 rounds,
microseconds per call), each beside a plain-Python equivalent where one
exists, to size the proposals in docs/benchmarks.md. It reaches into the
engine's internals, which may change: a piece it can no longer find is
reported as such, not skipped silently.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import pstats
import time
import timeit
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import _common as c

import dialogue
from dialogue.runtime.rules import prepare, sanitize
from dialogue.runtime.turn import Turn
from dialogue.trace import Trace


def play(engine: dialogue.Engine, prefix: str, sessions: int) -> None:
    for i in range(sessions):
        sid = f"{prefix}-{i}"
        for text in c.SCRIPT:
            engine.handle(sid, text)
        engine.reset(sid)


def profile(engine: dialogue.Engine, sessions: int) -> str:
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    play(engine, "prof", sessions)
    prof.disable()
    wall = time.perf_counter() - t0
    out = io.StringIO()
    turns = sessions * len(c.SCRIPT)
    out.write(
        f"{turns:,} turns in {wall:.2f} s under cProfile ({wall / turns * 1e6:.0f} us/turn)\n"
    )
    stats = pstats.Stats(prof, stream=out)
    stats.strip_dirs()
    out.write("\n-- top 25 by cumulative time --\n")
    stats.sort_stats("cumulative").print_stats(25)
    out.write("\n-- top 20 by own time --\n")
    stats.sort_stats("tottime").print_stats(20)
    return out.getvalue()


def per_call_us(fn: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def pieces(engine: dialogue.Engine, number: int) -> list[list[object]]:
    """(piece, us per call, plain-Python equivalent, us per call)."""
    for text in c.SCRIPT[:4]:
        engine.handle("piece", text)
    stored = engine.session("piece")
    flow = engine.bot.flows[engine.bot.main]
    assert stored is not None
    ctx = {**flow.base_context, **stored.slots}
    slots = stored.slots
    allowed = {"menu": frozenset({"tracking", "returning", "goodbye", "handoff"})}
    prepared = prepare(c.SCRIPT[0])
    pool = ThreadPoolExecutor(1)
    pool.submit(int).result()
    rows: list[list[object]] = []

    def add(name: str, build: Callable[[], Callable[[], Any]], plain: str = "", alt: Any = None):
        try:
            fn = build()
        except (AttributeError, KeyError, IndexError, TypeError) as exc:
            rows.append([name, f"n/a ({type(exc).__name__}: {exc})", plain, ""])
            return
        plain_us = per_call_us(alt, number) if alt is not None else ""
        rows.append([name, per_call_us(fn, number), plain, plain_us])

    add(
        "Engine.handle, 'help' (a whole rule turn)",
        lambda: lambda: engine.handle("piece", "help"),
    )
    add(
        "thread-pool hop per action (submit + result)",
        lambda: lambda: pool.submit(int).result(),
        "call the action inline",
        int,
    )
    add(
        "FlowMachine.fire (transitions trigger)",
        lambda: lambda: flow.machine.fire("menu", "tracking"),
        "dest in allowed[state]",
        lambda: "tracking" in allowed["menu"],
    )
    add(
        "Expression.evaluate('order is none')",
        lambda: lambda: flow.states["tracking"].next[0].cond.evaluate(ctx),
        "ctx['order'] is None",
        lambda: ctx["order"] is None,
    )
    add(
        "Text.render(order status reply)",
        lambda: lambda: flow.states["tracking"].next[1].say[0].render(ctx),
        "str.format",
        lambda: "Order {} is {}, expected {}. Anything else?".format(
            slots["order_id"], slots["order"]["status"], slots["order"]["eta"]
        ),
    )
    add(
        "Turn.context() (base_context + slots)",
        lambda: lambda: {**flow.base_context, **slots},
        "(pass slots as they are)",
        lambda: slots,
    )
    add(
        "MemoryStore.load (Session.copy)",
        lambda: lambda: engine.store.load("piece"),
    )
    add(
        "MemoryStore.save (version check + copy)",
        lambda: _saver(engine),
    )
    add("engine._locks acquire + release", lambda: _locker(engine))
    add(
        "Trace(...) + Turn(...)",
        lambda: (
            lambda: Turn(
                engine.bot,
                stored,
                Trace("piece", 1, stored.flow, stored.state),
                today=datetime.date.today,
            )
        ),
    )
    add(
        "sanitize(text) + prepare(text)",
        lambda: lambda: prepare(sanitize(c.SCRIPT[0])),
        "text.lower()",
        lambda: c.SCRIPT[0].lower(),
    )
    add(
        "menu matcher.match(prepared)",
        lambda: lambda: flow.states["menu"].matcher.match(prepared),
        "any(k in text for k in 5 keywords)",
        lambda: any(k in prepared.folded for k in ("help", "agent", "cancel", "track", "return")),
    )
    pool.shutdown()
    engine.reset("piece")
    return rows


def _saver(engine: dialogue.Engine) -> Callable[[], None]:
    session = engine.session("piece")
    assert session is not None

    def save() -> None:
        engine.store.save(session)

    return save


def _locker(engine: dialogue.Engine) -> Callable[[], None]:
    locks = engine._locks

    def cycle() -> None:
        locks.release("piece", locks.acquire("piece"))

    return cycle


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller run for smoke tests")
    args = parser.parse_args(argv)
    sessions = 300 if args.quick else 2000
    number = 500 if args.quick else 5000

    engine = dialogue.Engine.from_path(c.FLOW)
    play(engine, "warm", 200)
    print("profile of the turn loop: Engine.handle on flows/customer_service.yaml")
    print(f"machine:  {c.machine()}")
    print(f"dialogue: {dialogue.__version__} from {dialogue.__file__}; {c.versions()}")
    print(f"script:   {list(c.SCRIPT)} x {sessions:,} sessions")
    print()
    print(profile(engine, sessions))
    print("pieces of a turn, without the profiler (best of 5 rounds of", number, "calls):")
    rows = pieces(engine, number)
    print(c.table(["piece", "us/call", "plain-Python equivalent", "us/call "], rows))
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
