"""Throughput of concurrent LLM-fallback turns through Engine.ahandle vs bare AsyncOpenAI calls.

    python bench/llm_concurrency.py            # full run (about 25 s on 2 cores)
    python bench/llm_concurrency.py --quick    # smoke run (under 10 s)

200 sessions (``--sessions``) of flows/customer_service.yaml, each waiting for
the order number, send "what are your opening hours?" at once
(``asyncio.gather`` of ``Engine.ahandle``): each turn goes to the LLM fallback.
The fake Chat Completions server answers every request after 100 ms
(``FakeChatServer(delay=0.1)``, in a child process; ``--in-process`` runs it in a
thread of this process). The baseline is the same number of bare
``AsyncOpenAI().chat.completions.create`` calls at once, with exactly the request
the engine sends (checked as in ``llm_overhead.py``). Rounds of the two alternate
(which goes first alternating too); sessions are prepared between rounds, not
inside them. Throughput = turns / wall time of the round; CPU = this process's
CPU time (``time.process_time``) per turn. At this concurrency the wall time is
100 ms plus the client's CPU work (the SDK's request building, HTTP, response
parsing; the engine's prompt, checks and store), so the ratio compares CPU costs.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import _common as c
from llm_overhead import SETUP, TEXT, bare_arguments, engine_request, fake_server, make_engine

import dialogue
from dialogue.llm.openai_client import OpenAIChatClient

TARGET = 0.80
DELAY = 0.1


async def prepare(engine: dialogue.Engine, ids: Sequence[str]) -> None:
    """Sessions waiting for the order number: TEXT will go to the fallback."""
    for sid in ids:
        await engine.astart(sid)
        await engine.ahandle(sid, SETUP)


async def timed(run: Callable[[], Awaitable[Any]]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result) of one round, gc disabled inside it."""
    gc.collect()
    gc.disable()
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        out = await run()
        return time.perf_counter() - t0, time.process_time() - cpu0, out
    finally:
        gc.enable()


async def measure(
    url: str, arguments: Mapping[str, Any], sessions: int, rounds: int
) -> dict[str, list[tuple[float, float]]]:
    import openai

    engine = make_engine(OpenAIChatClient(api_key="bench", base_url=url))
    bare = openai.AsyncOpenAI(api_key="bench", base_url=url, max_retries=0)

    async def engine_round(tag: str) -> list[Any]:
        return await asyncio.gather(*(engine.ahandle(f"{tag}{i}", TEXT) for i in range(sessions)))

    async def bare_round() -> list[Any]:
        calls = (bare.chat.completions.create(**arguments) for _ in range(sessions))
        return await asyncio.gather(*calls)

    out: dict[str, list[tuple[float, float]]] = {"bare": [], "engine": []}
    for rnd in range(-1, rounds):  # round -1 warms up both (connections, caches)
        tag = f"r{rnd}-"
        await prepare(engine, [f"{tag}{i}" for i in range(sessions)])
        order = ["bare", "engine"] if rnd % 2 == 0 else ["engine", "bare"]
        for name in order:
            if name == "bare":
                wall, cpu, _ = await timed(bare_round)
            else:
                wall, cpu, results = await timed(functools.partial(engine_round, tag))
                bad = [r for r in results if r.trace.llm is None or r.trace.llm.outcome != "reply"]
                if bad:
                    sys.exit(f"a turn did not get the LLM's reply: {bad[0].trace.summary()}")
            if rnd >= 0:
                out[name].append((wall, cpu))
        for i in range(sessions):
            engine.reset(f"{tag}{i}")
    await bare.close()
    await engine.aclose()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--sessions", type=int, default=200, help="concurrent sessions")
    parser.add_argument("--rounds", type=int, help="timed rounds of each")
    parser.add_argument("--delay", type=float, default=DELAY, help="server latency, seconds")
    parser.add_argument("--in-process", action="store_true", help="fake server in a thread")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 11)

    body, _ = engine_request()
    with fake_server(args.delay, in_process=args.in_process) as url:
        runs = asyncio.run(measure(url, bare_arguments(body), args.sessions, rounds))
    report(runs, args.sessions, rounds, args.delay, args.in_process)
    return 0


def report(
    runs: Mapping[str, list[tuple[float, float]]],
    sessions: int,
    rounds: int,
    delay: float,
    in_process: bool,
) -> None:
    import openai

    where = "in a thread of this process" if in_process else "in a child process"
    print("LLM fallback under concurrency: Engine.ahandle vs bare AsyncOpenAI calls")
    print(f"machine:  {c.machine()}")
    print(f"dialogue: {dialogue.__version__} from {dialogue.__file__}; openai {openai.__version__}")
    print(
        f"method:   {rounds} timed rounds of each (after 1 warm-up round), alternating;\n"
        f"          {sessions} turns at once per round (asyncio.gather); FakeChatServer "
        f"{where},\n          {delay * 1000:g} ms per answer. throughput = turns / round wall "
        "time; CPU = this\n          process's CPU time per turn. Medians over rounds; "
        "'min'/'max' over rounds."
    )
    print()
    figures = {}
    rows = []
    for name, title in (("bare", "bare AsyncOpenAI create"), ("engine", "Engine.ahandle")):
        rates = sorted(sessions / wall for wall, _ in runs[name])
        cpu = c.median([cpu * 1000 / sessions for _, cpu in runs[name]])
        wall = c.median([wall * 1000 for wall, _ in runs[name]])
        figures[name] = c.median(rates)
        rows.append([title, f"{figures[name]:.0f}", f"{rates[0]:.0f}", f"{rates[-1]:.0f}"])
        rows[-1] += [f"{wall:.0f}", f"{cpu:.2f}"]
    headers = ["row", "turns/s", "min", "max", "round wall ms", "CPU ms/turn"]
    print(c.table(headers, rows))
    print()
    per_round = [
        bare_wall / engine_wall
        for (bare_wall, _), (engine_wall, _) in zip(runs["bare"], runs["engine"], strict=True)
    ]
    ratio = figures["engine"] / figures["bare"]
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    ideal = sessions / delay
    print(
        f"target: Engine.ahandle throughput >= {TARGET:.0%} of bare AsyncOpenAI calls at the same\n"
        f"        concurrency: {verdict} (ratio of the median throughputs {ratio:.2f}; median of\n"
        f"        the per-round ratios {c.median(per_round):.2f}; per round: "
        f"{' '.join(f'{r:.2f}' for r in per_round)}).\n"
        f"        For scale: {sessions} requests x {delay * 1000:g} ms with no client cost "
        f"would be {ideal:,.0f} turns/s."
    )


if __name__ == "__main__":
    sys.exit(main())
