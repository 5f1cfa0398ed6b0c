"""The HTTP API's speed: rule turns against a bare endpoint, and streamed LLM replies.

    python bench/server.py            # both parts (a few minutes on 2 cores)
    python bench/server.py --quick    # smoke run
    python bench/server.py --part rules|stream [--store URL] [--connections N]

**Rule turns.** ``dialogue serve flows/customer_service.yaml`` (one worker, the
store given by ``--store``, default SQLite on a temporary file, no LLM) beside a
bare FastAPI app served the same way (uvicorn in a child process, access log
off) whose one endpoint validates the same JSON body with a pydantic model and
returns a constant ``TurnOut``-sized answer. Clients: ``httpx.AsyncClient`` with
keep-alive in this process, 1 and ``--connections`` connections at once; each
connection plays whole conversations (create a session, then the five messages
of ``rule_turns.py``), the bare app gets the same number of requests. Rounds
alternate (which goes first alternating too). Beside them, in this process: the
engine's own turn (``await Engine.ahandle`` over the same kind of store, same
conversation) and the store's round trip (``await Engine.asession``: the load the
endpoint makes before the turn). Target: a rule turn over HTTP costs no more
than the bare endpoint + the in-process turn + the store's round trip (p50, one
connection).

**Streaming.** The fake Chat Completions server (``FakeChatServer``, its own child
process) answers after ``--delay`` (0.3 s) with a streamed reply; ``dialogue
serve`` over a copy of the flow whose fallback mode is ``--mode`` (``respond``:
free text; ``both``: the structured answer, streamed once the engine streams it)
talks to it. ``--sessions`` (200) sessions are brought to the order-number
question, then all send "what are your opening hours? (visitor N)" to the SSE
endpoint at once over raw sockets opened beforehand. For each, the time from the
fake writing its first token (``first_token_times``, ``time.monotonic``, one
clock for every process) to this process reading the first ``delta`` event.
Targets: p50 <= 50 ms, p99 <= 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _common as c
import _serving as s
import httpx
from rule_turns import SCRIPT

from dialogue.server.models import MessageIn, TurnOut

REPLY = "We're open Monday to Saturday, 8:00 to 20:00 (UK time)."
VISITOR = re.compile(r"visitor (\d+)")


# --------------------------------------------------------------------------- child processes


def serve_bare(port: int) -> None:
    """A FastAPI app with one endpoint that returns a constant, served by uvicorn."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    constant = TurnOut(
        session_id="x" * 32,
        turn=3,
        replies=["Why are you sending it back: damaged, wrong item, or changed your mind?"],
        flow="customer_service",
        state="returning",
        slots={"order_id": "AB123456"},
        ended=False,
        handoff=False,
        duplicate=False,
        options=[],
        language="en",
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/sessions", status_code=201, response_model=TurnOut)
    async def create() -> TurnOut:
        return constant

    @app.post("/v1/sessions/{session_id}/messages", response_model=TurnOut)
    async def message(session_id: str, body: MessageIn) -> TurnOut:
        return constant

    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


def serve_fake(delay: float, mode: str) -> None:
    """The fake LLM; on stdin's end, print each request's visitor and first-token time."""
    from dialogue.testing import FakeChatServer, FakeReply

    answer = {"intent": None, "slots": {"order_id": None}, "reply": REPLY}
    reply = FakeReply.text(REPLY) if mode == "respond" else FakeReply.json(answer)
    with FakeChatServer(delay=delay, responder=lambda request: reply) as server:
        print(server.url, flush=True)
        sys.stdin.read()
        out = []
        for request, at in zip(server.requests, server.first_token_times, strict=True):
            found = VISITOR.search(json.dumps(request["messages"][-1]))
            out.append([int(found.group(1)) if found else None, at, bool(request.get("stream"))])
        print(json.dumps(out), flush=True)


# --------------------------------------------------------------------------- rule turns


async def conversations(
    url: str, connections: int, count: int, latencies: list[float]
) -> tuple[int, float]:
    """``count`` conversations over ``connections`` keep-alive connections; the requests
    made and the seconds taken; message latencies appended to ``latencies``."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    todo = iter(range(count))
    requests = 0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

        async def one_connection() -> None:
            nonlocal requests
            for n in todo:
                made = await http.post("/v1/sessions")
                assert made.status_code == 201, made.text
                path = f"/v1/sessions/{made.json()['session_id']}/messages"
                for i, text in enumerate(SCRIPT):
                    t0 = time.perf_counter()
                    said = await http.post(path, json={"text": text, "message_id": f"{n}-{i}"})
                    latencies.append(time.perf_counter() - t0)
                    assert said.status_code == 200, said.text
                requests += 1 + len(SCRIPT)

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        return requests, time.perf_counter() - started


async def in_process(store: str, count: int) -> tuple[list[float], list[float]]:
    """Seconds per ``ahandle`` of the conversation's messages, and per ``asession``."""
    import dialogue

    engine = dialogue.Engine.from_path(c.FLOW, llm=None, store=store)
    turns: list[float] = []
    loads: list[float] = []
    clock = time.perf_counter
    for n in range(count):
        sid = f"bench-{n}-{time.monotonic_ns()}"
        await engine.astart(sid)
        for text in SCRIPT:
            t0 = clock()
            await engine.asession(sid)
            t1 = clock()
            await engine.ahandle(sid, text)
            t2 = clock()
            loads.append(t1 - t0)
            turns.append(t2 - t1)
        await engine.areset(sid)
    await engine.aclose()
    return turns, loads


def rule_part(args: argparse.Namespace, folder: Path) -> bool:
    store = args.store or f"sqlite:///{folder}/served.db"
    own = args.store or f"sqlite:///{folder}/in-process.db"
    levels = [1, args.connections]
    rounds, per_round = (2, 20) if args.quick else (6, 60)
    bare_port, engine_port = s.free_port(), s.free_port()
    bare_cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(bare_port)]
    print(
        f"rule turns: store {store}; {rounds} rounds x {per_round} conversations "
        f"(1 + {len(SCRIPT)} requests) per endpoint and level; {s.load_average()}"
    )
    results: dict[tuple[str, int], dict[str, list[float]]] = {}
    inner: dict[str, list[float]] = {"turn": [], "load": []}
    with (
        s.serving(bare_cmd, bare_port, env=s.clean_environment()) as bare_url,
        s.dialogue_serve(c.FLOW, engine_port, "--store", store) as engine_url,
    ):
        urls = {"bare": bare_url, "engine": engine_url}
        for url in urls.values():  # warm-up
            asyncio.run(conversations(url, 4, 10, []))
        asyncio.run(in_process(own, 10))
        for level in levels:
            for r in range(rounds):
                for name in list(urls) if r % 2 == 0 else list(reversed(urls)):
                    lat: list[float] = []
                    made, took = asyncio.run(conversations(urls[name], level, per_round, lat))
                    row = results.setdefault((name, level), {"lat": [], "rps": []})
                    row["lat"] += lat
                    row["rps"].append(made / took)
                turns, loads = asyncio.run(in_process(own, per_round // 4))
                inner["turn"] += turns
                inner["load"] += loads
    return report_rules(results, inner, levels)


def report_rules(
    results: dict[tuple[str, int], dict[str, list[float]]],
    inner: dict[str, list[float]],
    levels: list[int],
) -> bool:
    rows = []
    for (name, level), row in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lat = sorted(row["lat"])
        rows.append(
            [
                name,
                level,
                c.median(row["rps"]),
                c.percentile(lat, 50) * 1000,
                c.percentile(lat, 99) * 1000,
            ]
        )
    print(
        c.table(
            ["endpoint", "connections", "requests/s (median of rounds)", "p50 ms", "p99 ms"], rows
        )
    )
    for level in levels:
        ratio = c.median(results[("engine", level)]["rps"]) / c.median(
            results[("bare", level)]["rps"]
        )
        print(f"  {level} connection(s): engine / bare throughput {ratio:.2f}")
    turn = c.percentile(sorted(inner["turn"]), 50) * 1000
    load = c.percentile(sorted(inner["load"]), 50) * 1000
    added = (
        c.percentile(sorted(results[("engine", 1)]["lat"]), 50)
        - c.percentile(sorted(results[("bare", 1)]["lat"]), 50)
    ) * 1000
    print(
        f"in process: ahandle p50 {turn:.2f} ms, asession (the store's round trip) "
        f"p50 {load:.2f} ms"
    )
    budget = turn + load
    ok = added <= budget
    print(
        f"verdict: a rule turn over HTTP adds {added:.2f} ms (p50, 1 connection) to the bare "
        f"endpoint; budget: turn + store round trip = {budget:.2f} ms: "
        + ("PASS" if ok else "FAIL")
    )
    return ok


# --------------------------------------------------------------------------- streaming


def flow_copy(folder: Path, mode: str) -> Path:
    """The example flows in ``folder`` with the main flow's fallback mode set to ``mode``."""
    target = folder / "flows"
    shutil.copytree(c.FLOW.parent, target, ignore=shutil.ignore_patterns("*.db*", "tests", "eval"))
    flow = target / c.FLOW.name
    text = flow.read_text(encoding="utf-8")
    flow.write_text(text.replace("  mode: both\n", f"  mode: {mode}\n", 1), encoding="utf-8")
    return flow


async def read_stream(reader: asyncio.StreamReader) -> tuple[float | None, bytes]:
    """Read a response to its end; when the first non-empty delta event arrived."""
    seen = b""
    first = None
    while chunk := await reader.read(65536):
        seen += chunk
        if first is None and re.search(rb'event: delta\ndata: \{[^\n]*"text":"[^"]', seen):
            first = time.monotonic()
    return first, seen


async def fire(port: int, paths: list[str]) -> list[tuple[float | None, bytes, float]]:
    """Open a connection per path, then send every request at once and read them all."""
    opened = []
    for n, path in enumerate(paths):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps({"text": f"what are your opening hours? (visitor {n})"}).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        opened.append((reader, writer, head + body))
    sent_at = time.monotonic()
    for _, writer, data in opened:
        writer.write(data)

    async def one(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[float | None, bytes, float]:
        first, seen = await read_stream(reader)
        writer.close()
        return first, seen, sent_at

    return await asyncio.gather(*(one(r, w) for r, w, _ in opened))


async def prepare(url: str, count: int) -> list[str]:
    """``count`` sessions waiting for the order number (rule turns)."""
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:

        async def one() -> str:
            sid: str = (await http.post("/v1/sessions")).json()["session_id"]
            said = await http.post(
                f"/v1/sessions/{sid}/messages", json={"text": "where is my order"}
            )
            assert said.json()["state"] == "tracking", said.text
            return sid

        return list(await asyncio.gather(*(one() for _ in range(count))))


def stream_part(args: argparse.Namespace, folder: Path) -> bool:
    import subprocess

    count = 50 if args.quick else args.sessions
    flow = flow_copy(folder, args.mode)
    fake_cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve-fake",
        str(args.delay),
        args.mode,
    ]
    fake = subprocess.Popen(fake_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert fake.stdin is not None and fake.stdout is not None
    fake_url = fake.stdout.readline().strip()
    if not fake_url.startswith("http"):
        sys.exit(f"the fake server did not start (said {fake_url!r})")
    print(
        f"streaming: {count} sessions at once, fake LLM delay {args.delay:g} s, fallback mode "
        f"{args.mode}, store sqlite; {s.load_average()}"
    )
    env = s.clean_environment(OPENAI_API_KEY="bench", OPENAI_BASE_URL=fake_url)
    port = s.free_port()
    try:
        with s.dialogue_serve(
            flow, port, "--store", f"sqlite:///{folder}/stream.db", env=env
        ) as url:
            # warm-up: as many streams at once, so that the SDK's imports are done and its
            # pool holds as many connections to the fake as the measured burst needs
            for rnd in ("warm-up", "measured"):
                sids = asyncio.run(prepare(url, count))
                got = asyncio.run(
                    fire(port, [f"/v1/sessions/{sid}/messages/stream" for sid in sids])
                )
                print(f"  {rnd} burst done; {s.load_average()}")
    finally:
        fake.stdin.close()
        sent = json.loads(fake.stdout.readline() or "[]")
        fake.wait(30)
    return report_stream(got, sent, count)


def report_stream(
    got: list[tuple[float | None, bytes, float]], sent: list[Any], count: int
) -> bool:
    first_token = {n: at for n, at, _ in sent[-count:] if n is not None and at is not None}
    streamed = sum(1 for _, _, stream in sent[-count:] if stream)
    gaps, whole, missing = [], [], 0
    for n, (first, body, sent_at) in enumerate(got):
        if first is None or n not in first_token or REPLY.encode() not in body:
            missing += 1
            continue
        gaps.append((first - first_token[n]) * 1000)
        whole.append((first - sent_at) * 1000)
    gaps.sort()
    whole.sort()
    print(
        f"  {len(gaps)} of {count} streams measured ({missing} without a delta or the LLM's "
        f"reply); {streamed} of {count} LLM requests were streamed"
    )
    if not gaps:
        print("verdict: streaming: nothing measured: FAIL")
        return False
    rows = [
        [
            "fake's first token -> first delta at the client",
            *(c.percentile(gaps, q) for q in (50, 90, 99)),
            gaps[-1],
        ],
        [
            "request sent -> first delta (includes the 300 ms)",
            *(c.percentile(whole, q) for q in (50, 90, 99)),
            whole[-1],
        ],
    ]
    print(c.table(["ms", "p50", "p90", "p99", "max"], rows))
    p50, p99 = c.percentile(gaps, 50), c.percentile(gaps, 99)
    ok = p50 <= 50 and p99 <= 250 and missing == 0
    print(
        f"verdict: first reply byte within {p50:.1f} ms (p50, target 50) and {p99:.1f} ms "
        f"(p99, target 250) of the fake's first token: " + ("PASS" if ok else "FAIL")
    )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--part", choices=["rules", "stream", "all"], default="all")
    parser.add_argument("--store", help="store URL of the rule-turn part (default: SQLite)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--mode", choices=["respond", "both"], default="respond")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-fake", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0
    if args.serve_fake is not None:
        serve_fake(float(args.serve_fake[0]), args.serve_fake[1])
        return 0
    print(c.machine())
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        if args.part in ("rules", "all"):
            rule_part(args, Path(tmp))
        if args.part in ("stream", "all"):
            stream_part(args, Path(tmp))
    print(s.load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
