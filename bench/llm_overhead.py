"""Engine overhead of an LLM-fallback turn over the bare openai SDK call, same server, same run.

    python bench/llm_overhead.py            # full run (about 25 s on 2 cores)
    python bench/llm_overhead.py --quick    # smoke run (under 10 s)

The turn: flows/customer_service.yaml, a session waiting for the order number
("where is my order"), the customer asks "what are your opening hours?". No
rule matches, so the engine renders the prompt and asks the LLM (mode ``both``);
the fake server answers with a reply, the engine checks it and says it, then
asks for the order number again. Every timed turn uses a fresh session at that
same point, so every request is identical.

The bare call is ``openai.OpenAI(...).chat.completions.create`` with exactly the
request the engine sends (checked first: both bodies, as the server received
them, must be equal), to the same fake server (``FakeChatServer`` in a child
process, so its work does not share this process's GIL; ``--in-process`` runs it
in a thread here instead). Bare calls and engine turns alternate one by one
(which goes first alternating too); gc is disabled inside each repetition and run
between them; each call is timed with ``time.perf_counter``.

Two more rows say where an overhead would come from: ``OpenAIChatClient.complete``
(the engine's client alone, same request) and ``Engine.handle`` with an in-memory
LLM client that answers at once (the engine's own work: prompt, checks, store).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import _common as c

import dialogue
from dialogue.llm.openai_client import (
    LLMRequest,
    LLMResponse,
    LLMSettings,
    LLMStream,
    OpenAIChatClient,
    Usage,
)
from dialogue.testing import FakeChatServer, FakeReply

TARGET_MS = 1.0
TARGET_SHARE = 0.10
SETUP = "where is my order"
TEXT = "what are your opening hours?"
REPLY = "We're open Monday to Saturday, 8:00 to 20:00 (UK time)."
ANSWER = {"intent": None, "slots": {"order_id": None}, "reply": REPLY}
USAGE = (600, 25)
SETTINGS: dict[str, Any] = {"retries": 0, "timeout": 10.0}
SENT = ("model", "messages", "temperature", "max_completion_tokens", "response_format")


def answer(request: Mapping[str, Any]) -> FakeReply:
    return FakeReply.json(ANSWER, usage=USAGE)


# --------------------------------------------------------------------------- the server


def _serve(delay: float) -> None:
    """Child process: serve until stdin closes; the first line of stdout is the URL."""
    with FakeChatServer(delay=delay, responder=answer) as server:
        print(server.url, flush=True)
        sys.stdin.read()


@contextlib.contextmanager
def fake_server(delay: float = 0.0, *, in_process: bool = False) -> Iterator[str]:
    """The base_url of a FakeChatServer answering ``ANSWER`` after ``delay`` seconds."""
    if in_process:
        with FakeChatServer(delay=delay, responder=answer) as server:
            yield server.url
        return
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(delay)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        url = child.stdout.readline().strip()
        if not url.startswith("http"):
            sys.exit(f"the fake server did not start (said {url!r})")
        yield url
    finally:
        child.stdin.close()
        child.wait(10)


# --------------------------------------------------------------------------- engine and request


def make_engine(llm: Any, **options: Any) -> dialogue.Engine:
    return dialogue.Engine.from_path(c.FLOW, llm=llm, llm_settings=SETTINGS, **options)


def at_the_question(engine: dialogue.Engine, ids: Sequence[str]) -> None:
    """Bring fresh sessions to the point where TEXT goes to the fallback (rule turns)."""
    for sid in ids:
        engine.start(sid)
        engine.handle(sid, SETUP)


def bare_arguments(body: Mapping[str, Any]) -> dict[str, Any]:
    """``create()`` arguments that send exactly ``body`` (and the same timeout)."""
    return {**{k: body[k] for k in SENT}, "timeout": SETTINGS["timeout"]}


def engine_request() -> tuple[dict[str, Any], LLMRequest]:
    """The body the engine sends for the timed turn, and an ``LLMRequest`` for it;
    checks that a bare ``create()`` with ``bare_arguments`` and
    ``OpenAIChatClient.complete`` with that request both send the same body."""
    import openai

    with FakeChatServer(responder=answer) as server:
        client = OpenAIChatClient(api_key="bench", base_url=server.url)
        engine = make_engine(client)
        at_the_question(engine, ["check"])
        result = engine.handle("check", TEXT)
        llm = result.trace.llm
        if llm is None or llm.outcome != "reply" or result.replies[0] != REPLY:
            sys.exit(f"the turn did not go to the LLM fallback: {result.trace.summary()}")
        body = server.requests[-1]
        spec = body["response_format"]["json_schema"]
        settings = LLMSettings(
            model=body["model"],
            temperature=body["temperature"],
            max_tokens=body["max_completion_tokens"],
            **SETTINGS,
        )
        request = LLMRequest(tuple(body["messages"]), settings, spec["schema"], spec["name"])
        bare = openai.OpenAI(api_key="bench", base_url=server.url, max_retries=0)
        bare.chat.completions.create(**bare_arguments(body))
        client.complete(request)
        if server.requests[-2:] != [body, body]:
            sys.exit("the bare call or the client does not send the engine's request body")
        bare.close()
        engine.close()
    return body, request


class Instant:
    """An LLM client that answers at once, without HTTP: the engine's own cost."""

    def __init__(self) -> None:
        self._response = LLMResponse(
            json.dumps(ANSWER), ANSWER, None, Usage(*USAGE, sum(USAGE)), "instant", 0.0, "stop"
        )

    def complete(self, request: LLMRequest) -> LLMResponse:
        return self._response

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        return self._response

    def astream(self, request: LLMRequest) -> LLMStream:
        raise NotImplementedError


# --------------------------------------------------------------------------- timing

Call = Callable[[int], object]


def time_pairs(calls: Mapping[str, Call], n: int, rep: int) -> dict[str, list[float]]:
    """Call each of ``calls`` ``n`` times, interleaved (order rotating); seconds per call."""
    clock = time.perf_counter
    names = list(calls)
    out: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.disable()
    try:
        for i in range(n):
            shift = (i + rep) % len(names)
            for name in names[shift:] + names[:shift]:
                t0 = clock()
                calls[name](i)
                out[name].append(clock() - t0)
    finally:
        gc.enable()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--turns", type=int, help="timed turns per repetition")
    parser.add_argument("--reps", type=int, help="repetitions")
    parser.add_argument("--in-process", action="store_true", help="fake server in a thread")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        _serve(args.serve)
        return 0
    turns = args.turns or (150 if args.quick else 500)
    reps = args.reps or (3 if args.quick else 5)
    warmup = 50 if args.quick else 200

    import openai

    body, request = engine_request()
    with fake_server(in_process=args.in_process) as url:
        client = OpenAIChatClient(api_key="bench", base_url=url)
        engine = make_engine(client)
        instant = make_engine(Instant())
        bare = openai.OpenAI(api_key="bench", base_url=url, max_retries=0)
        arguments = bare_arguments(body)
        results: list[Any] = []

        def run(engine: dialogue.Engine, prefix: str) -> Call:
            return lambda i: results.append(engine.handle(f"{prefix}{i}", TEXT))

        runs: dict[str, list[list[float]]] = {}
        for rep in range(-1, reps):  # rep -1: warm-up, not kept
            n = warmup if rep < 0 else turns
            tag = f"r{rep}-"
            at_the_question(engine, [f"e{tag}{i}" for i in range(n)])
            at_the_question(instant, [f"i{tag}{i}" for i in range(n)])
            calls: dict[str, Call] = {
                "bare": lambda i: bare.chat.completions.create(**arguments),
                "client": lambda i: client.complete(request),
                "engine": run(engine, f"e{tag}"),
                "instant": run(instant, f"i{tag}"),
            }
            timed = time_pairs(calls, n, rep)
            bad = [r for r in results if r.trace.llm is None or r.trace.llm.outcome != "reply"]
            if bad:
                sys.exit(f"a timed turn did not get the LLM's reply: {bad[0].trace.summary()}")
            results.clear()
            for sid in range(n):
                engine.reset(f"e{tag}{sid}")
                instant.reset(f"i{tag}{sid}")
            if rep >= 0:
                for name, samples in timed.items():
                    runs.setdefault(name, []).append(samples)
        bare.close()
        engine.close()
        instant.close()

    report(runs, turns, reps, warmup, args.in_process, body)
    return 0


def stats(samples: list[list[float]]) -> tuple[float, float, float, float]:
    """ms: median over repetitions of the p50, min of the p50s, median of the p90s; and
    the median of the pooled samples (all repetitions)."""
    p50s = [c.median(s) * 1000 for s in samples]
    p90s = [c.percentile(sorted(s), 90) * 1000 for s in samples]
    pooled = c.median([x for s in samples for x in s]) * 1000
    return c.median(p50s), min(p50s), c.median(p90s), pooled


def report(
    runs: Mapping[str, list[list[float]]],
    turns: int,
    reps: int,
    warmup: int,
    in_process: bool,
    body: Mapping[str, Any],
) -> None:
    import openai

    where = "in a thread of this process" if in_process else "in a child process"
    chars = sum(len(m["content"]) for m in body["messages"])
    print("LLM fallback overhead: Engine.handle (a turn answered by the LLM) vs the bare SDK call")
    print(f"machine:  {c.machine()}")
    print(f"dialogue: {dialogue.__version__} from {dialogue.__file__}; openai {openai.__version__}")
    print(
        f"method:   {reps} repetitions x {turns} turns of each row, after {warmup} warm-up turns;\n"
        "          rows interleaved call by call (order rotating); gc disabled per repetition;\n"
        f"          FakeChatServer {where}, no delay; the request: {len(body['messages'])} "
        f"messages,\n          {chars:,} characters, response_format json_schema (strict). "
        "Times in ms:\n          'p50' = median over repetitions of each repetition's median, "
        "'p50 min' =\n          the least disturbed repetition's, 'p90' likewise; "
        "'pooled p50' over all turns."
    )
    print()
    titles = {
        "bare": "bare openai.OpenAI().chat.completions.create",
        "client": "OpenAIChatClient.complete (same request)",
        "engine": "Engine.handle, fallback turn",
        "instant": "Engine.handle, in-memory LLM client (no HTTP)",
    }
    rows = []
    figures = {name: stats(samples) for name, samples in runs.items()}
    base = figures["bare"][0]
    for name, title in titles.items():
        p50, p50min, p90, pooled = figures[name]
        extra = "" if name in ("bare", "instant") else f"{p50 - base:+.3f}"
        ratio = "" if name == "instant" else f"{p50 / base:.3f}"
        rows.append(
            [title, f"{p50:.3f}", f"{p50min:.3f}", f"{p90:.3f}", f"{pooled:.3f}", extra, ratio]
        )
    headers = ["row", "p50", "p50 min", "p90", "pooled p50", "- bare p50", "/ bare p50"]
    print(c.table(headers, rows))
    print()
    engine = figures["engine"][0]
    overhead = engine - base
    limit = max(TARGET_MS, TARGET_SHARE * base)
    per_rep = [
        c.median(e) * 1000 - c.median(b) * 1000
        for e, b in zip(runs["engine"], runs["bare"], strict=True)
    ]
    verdict = "PASS" if overhead <= limit else "FAIL"
    print(
        f"target: engine overhead <= {TARGET_MS:g} ms or <= {TARGET_SHARE:.0%} of the bare call, "
        f"whichever is larger\n        (here {limit:.3f} ms): {verdict}\n"
        f"        (engine {engine:.3f} ms - bare {base:.3f} ms = {overhead:+.3f} ms, "
        f"ratio {engine / base:.3f};\n"
        f"        per repetition: {', '.join(f'{d:+.3f}' for d in per_rep)} ms).\n"
        f"        The engine's own work, without HTTP: {figures['instant'][0]:.3f} ms."
    )


if __name__ == "__main__":
    sys.exit(main())
