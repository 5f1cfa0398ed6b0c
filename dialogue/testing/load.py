"""A load run against a served flow: many clients talk to many sessions at once, and
afterwards every session's stored history is checked against what was sent.

The flow (``LOAD_FLOW``, written by ``write_flow``) answers ``note c2m5`` with
``noted c2m5`` and keeps up to 1,000 turns of history, so a session's history is
a record of every message it applied, in the order it applied them.

Each session gets ``clients`` concurrent clients; each client sends ``messages``
messages, one after the other (it waits for each answer, as a chat user does),
each with its own ``message_id``, some through the SSE endpoint. Each client also
redelivers one of its messages: half of them send it twice at once (a retry
racing the first try), half send it again after the answer. At most
``concurrency`` requests are in flight at any moment, over keep-alive
connections. Then, for every session, ``GET /v1/sessions/{id}`` must show:

* every message applied exactly once (a redelivery is never applied: exactly one
  of the answers to a message id says ``duplicate: false``);
* each message at the place in the history its answer's ``turn`` names, so the
  turns of a session were serialised and none was lost or overwritten;
* each client's messages in the order it sent them;

and every answer must be a 200 with the reply its message asked for. The
protocol orders messages of one session that are in flight at the same time in
either order (docs/embedding.md, "Atomic turns and concurrency"), so only the
per-client order is checked.

Used by ``tests/test_server_load.py`` (a bounded run in the suite) and
``bench/server_load.py`` (the full run). Needs ``httpx``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

LOAD_FLOW = """\
# A flow for load runs: "note c2m5" is answered "noted c2m5"; the history keeps
# every turn, so it records which messages were applied, in which order.
flow: load
start: chat
settings:
  history_turns: 1000

slots:
  tag:
    type: pattern
    pattern: 'c\\d+m\\d+'

intents:
  note:
    patterns: ['note (?P<tag>c\\d+m\\d+)']

states:
  chat:
    say: "ready"
    on:
      note:
        say: "noted {{ tag }}"
"""


RETRIES = 3
"""Tries per request when the connection fails."""


def write_flow(directory: Path) -> Path:
    """Write ``LOAD_FLOW`` to ``directory/load.yaml`` and return its path."""
    path = directory / "load.yaml"
    path.write_text(LOAD_FLOW, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Plan:
    """How much load: ``sessions`` x ``clients`` x (``messages`` + 1 redelivery)
    message requests, at most ``concurrency`` in flight; every ``stream_every``-th
    message of a client goes through the SSE endpoint (0: none)."""

    sessions: int = 36
    clients: int = 4
    messages: int = 6
    concurrency: int = 50
    stream_every: int = 3
    seed: int = 0

    @property
    def requests(self) -> int:
        """Message requests (the sessions' creation and the final reads not counted)."""
        return self.sessions * self.clients * (self.messages + 1)


@dataclass
class Answer:
    """One message request's outcome."""

    tag: str
    status: int
    turn: int = 0
    replies: list[str] = field(default_factory=list)
    duplicate: bool = False
    seconds: float = 0.0
    retried: bool = False
    """Sent again after a connection error (with the same message id, as a client should)."""


@dataclass
class Report:
    plan: Plan
    seconds: float = 0.0
    answers: list[Answer] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    """Connection errors (by type) after which a request was sent again."""
    problems: list[str] = field(default_factory=list)
    sessions_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and set(self.statuses) <= {"200", "201"}

    def latencies(self) -> list[float]:
        return sorted(a.seconds for a in self.answers if a.status == 200)

    def summary(self) -> str:
        p, lat = self.plan, self.latencies()
        sse = f"1 in {p.stream_every} messages over SSE" if p.stream_every else "no SSE"
        rate = len(self.answers) / max(self.seconds, 1e-9)
        timing = f"ran {len(self.answers)} message requests in {self.seconds:.1f} s ({rate:.0f}/s)"
        if lat:
            p50, p99 = (lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 for q in (0.5, 0.99))
            timing += f", latency p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        statuses = ", ".join(f"{k} x{v}" for k, v in sorted(self.statuses.items()))
        lines = [
            f"plan: {p.sessions} sessions x {p.clients} clients x ({p.messages} messages + 1 "
            f"redelivery) = {p.requests} message requests, {p.concurrency} in flight, {sse}",
            timing,
            f"statuses (all requests): {statuses}; sent again after a connection error: "
            + (", ".join(f"{k} x{v}" for k, v in sorted(self.retried.items())) or "none"),
            f"answers marked duplicate: {sum(a.duplicate for a in self.answers)}; "
            f"sessions checked: {self.sessions_checked}",
            f"problems: {len(self.problems)}",
            *(f"  {problem}" for problem in self.problems[:20]),
            "verdict: " + ("PASS" if self.ok else "FAIL"),
        ]
        return "\n".join(lines)


async def run(url: str, plan: Plan, *, token: str | None = None, timeout: float = 120.0) -> Report:
    """Run ``plan`` against the server at ``url`` (serving ``LOAD_FLOW``); check it."""
    report = Report(plan)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(
        max_connections=plan.concurrency, max_keepalive_connections=plan.concurrency
    )
    gate = asyncio.Semaphore(plan.concurrency)
    rng = random.Random(plan.seed)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=httpx.Timeout(timeout, pool=None)
    ) as http:
        load = _Load(http, gate, report)
        started = time.perf_counter()
        ids = await asyncio.gather(*(load.create() for _ in range(plan.sessions)))
        sessions = [sid for sid in ids if sid is not None]
        runs = [
            load.client(sid, c, redeliver=rng.randrange(plan.messages), racing=rng.random() < 0.5)
            for sid in sessions
            for c in range(plan.clients)
        ]
        per_client = await asyncio.gather(*runs)
        report.seconds = time.perf_counter() - started
        for n, sid in enumerate(sessions):
            mine = per_client[n * plan.clients : (n + 1) * plan.clients]
            await load.check(sid, mine)
    return report


class _Load:
    def __init__(self, http: httpx.AsyncClient, gate: asyncio.Semaphore, report: Report) -> None:
        self.http, self.gate, self.report = http, gate, report
        self.plan = report.plan

    def problem(self, text: str) -> None:
        self.report.problems.append(text)

    async def create(self) -> str | None:
        made, _, _ = await self.request("POST", "/v1/sessions", "create")
        if made is None:
            return None
        if made.status_code != 201:
            self.problem(f"create: {made.status_code} {made.text[:200]}")
            return None
        sid: str = made.json()["session_id"]
        return sid

    async def request(
        self, method: str, path: str, what: str, body: dict[str, str] | None = None
    ) -> tuple[httpx.Response | None, float, bool]:
        """The response (None if the connection failed every time), its seconds, and
        whether it was sent again. A connection error (a keep-alive connection the
        server closed as it was reused, say) is retried, as a client would."""
        retried = False
        for attempt in range(RETRIES):
            async with self.gate:
                started = time.perf_counter()
                try:
                    answered = await self.http.request(method, path, json=body)
                except httpx.TransportError as exc:
                    if attempt == RETRIES - 1:
                        self.report.statuses[type(exc).__name__] += 1
                        self.problem(f"{what}: {type(exc).__name__}: {exc}")
                        return None, 0.0, retried
                    self.report.retried[type(exc).__name__] += 1
                    retried = True
                    continue
                seconds = time.perf_counter() - started
            self.report.statuses[str(answered.status_code)] += 1
            return answered, seconds, retried
        raise AssertionError("unreachable")

    async def client(self, sid: str, c: int, *, redeliver: int, racing: bool) -> list[Answer]:
        """One client's messages, in order; the first answer to each message id."""
        firsts: list[Answer] = []
        for m in range(self.plan.messages):
            tag = f"c{c}m{m}"
            stream = self.plan.stream_every > 0 and m % self.plan.stream_every == 1
            if m == redeliver and racing:
                pair = await asyncio.gather(self.send(sid, tag, stream), self.send(sid, tag, False))
                fresh = [a for a in pair if not a.duplicate]
                if len(fresh) > 1 or (not fresh and not any(a.retried for a in pair)):
                    self.problem(f"{sid[:8]} {tag}: {len(fresh)} of 2 racing tries were applied")
                first = fresh[0] if fresh else pair[0]
                self.same_answer(sid, first, list(pair))
            else:
                first = await self.send(sid, tag, stream)
                if first.duplicate and not first.retried:
                    self.problem(f"{sid[:8]} {tag}: a first delivery was answered as a duplicate")
                if m == redeliver:
                    again = await self.send(sid, tag, not stream)
                    if again.status == 200 and not again.duplicate:
                        self.problem(f"{sid[:8]} {tag}: a redelivery was applied again")
                    self.same_answer(sid, first, [again])
            firsts.append(first)
        return firsts

    def same_answer(self, sid: str, first: Answer, answers: list[Answer]) -> None:
        for a in answers:
            if a.status == 200 and (a.replies != first.replies or a.turn < first.turn):
                self.problem(
                    f"{sid[:8]} {a.tag}: redelivery answered {a.replies} at turn "
                    f"{a.turn}, first {first.replies} at turn {first.turn}"
                )

    async def send(self, sid: str, tag: str, stream: bool) -> Answer:
        path = f"/v1/sessions/{sid}/messages" + ("/stream" if stream else "")
        body = {"text": f"note {tag}", "message_id": tag}
        answered, seconds, retried = await self.request("POST", path, f"{sid[:8]} {tag}", body)
        if answered is None:
            return Answer(tag, 0, retried=retried)
        answer = Answer(tag, answered.status_code, seconds=seconds, retried=retried)
        self.report.answers.append(answer)
        if answered.status_code != 200:
            self.problem(f"{sid[:8]} {tag}: {answered.status_code} {answered.text[:200]}")
            return answer
        data = sse_result(answered.text) if stream else answered.json()
        if data is None:
            self.problem(f"{sid[:8]} {tag}: the stream has no result event: {answered.text[:200]}")
            return answer
        answer.turn, answer.replies = data["turn"], data["replies"]
        answer.duplicate = data["duplicate"]
        if answer.replies != [f"noted {tag}"]:
            self.problem(f"{sid[:8]} {tag}: answered {answer.replies}")
        return answer

    async def check(self, sid: str, clients: list[list[Answer]]) -> None:
        """The stored session against the answers its clients got."""
        got, _, _ = await self.request("GET", f"/v1/sessions/{sid}", f"{sid[:8]}: GET")
        if got is None:
            return
        if got.status_code != 200:
            self.problem(f"{sid[:8]}: GET {got.status_code}")
            return
        self.report.sessions_checked += 1
        for problem in history_problems(got.json(), clients, self.plan.messages):
            self.problem(f"{sid[:8]}: {problem}")


def history_problems(
    session: dict[str, Any], clients: list[list[Answer]], messages: int
) -> list[str]:
    """What is wrong with a stored session (``SessionOut``), given each client's answers."""
    history: list[str] = session["history"]
    said, replied = history[0::2], history[1::2]
    sent = [f"note c{c}m{m}" for c in range(len(clients)) for m in range(messages)]
    problems: list[str] = []
    if session["turns"] != 1 + len(sent):
        problems.append(f"{session['turns']} turns for {len(sent)} messages and the greeting")
    counts = Counter(said)
    lost = [t for t in sent if counts[t] == 0]
    twice = [t for t, n in counts.items() if n > 1]
    stray = [t for t in counts if t not in set(sent)]
    for name, texts in (("lost", lost), ("applied twice", twice), ("never sent", stray)):
        if texts:
            problems.append(f"{name}: {texts[:5]}")
    if replied != [t.replace("note ", "noted ", 1) for t in said]:
        problems.append("a reply in the history does not answer its message")
    for c, answers in enumerate(clients):
        order = [said.index(f"note c{c}m{m}") for m in range(messages) if counts[f"note c{c}m{m}"]]
        if order != sorted(order):
            problems.append(f"client {c}: its messages are out of order in the history")
        for a in answers:  # a duplicate (a retry of an applied try) names no turn
            where = a.turn - 2
            if (
                a.status == 200
                and not a.duplicate
                and not (0 <= where < len(said) and said[where] == f"note {a.tag}")
            ):
                problems.append(f"{a.tag}: answered as turn {a.turn}, not there in the history")
    return problems


def sse_result(text: str) -> dict[str, Any] | None:
    """The data of the ``result`` event of a Server-Sent Events body."""
    for block in text.split("\n\n"):
        lines = block.split("\n")
        if lines and lines[0] == "event: result":
            data = "\n".join(
                line[len("data: ") :] for line in lines[1:] if line.startswith("data: ")
            )
            found: dict[str, Any] = json.loads(data)
            return found
    return None
