"""The per-chunk cost of streaming a structured answer's reply.

    python bench/stream_scan.py            # 200 repetitions of each answer
    python bench/stream_scan.py --quick    # smoke test

A structured answer (``{"intent": null, "slots": {...}, "reply": "..."}``) is
cut into chunks of 4 characters (about one token each, as the API streams) and
fed through what ``Engine.astream`` runs per chunk in mode ``both``:
``ReplyReader.feed`` (the ``FieldScanner`` plus the trim) and ``TurnStream``'s
sink (what the client is shown). Beside it, in the same run: ``json.loads`` of
the whole answer once (what the unstreamed path pays), and re-parsing the whole
prefix at every chunk with ``jiter``'s partial mode (the way partial-JSON
libraries work), to show why the scanner reads each chunk once; and, for
scale, what the openai SDK itself does with every chunk it receives (``json.loads``
of the SSE data line and ``construct_type`` into a ``ChatCompletionChunk``).
Replies of 300 and 2,000 characters (the longest a reply may be), plain and full
of escapes.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import _common as c

from dialogue.runtime.reply_stream import reply_reader
from dialogue.runtime.streaming import Delta, _Shown

TARGET_US = 10.0
"""Microseconds per chunk, scanner and sink together."""
CHUNK = 4


def answer(length: int, escapes: bool) -> str:
    word = 'caf\u00e9 "x"\n\\ 😀 ' if escapes else "opening hours "
    reply = (word * (length // len(word) + 1))[:length].strip()
    return json.dumps({"intent": None, "slots": {"order_id": None}, "reply": reply})


def chunks(text: str) -> list[str]:
    return [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]


def streamed(pieces: list[str]) -> None:
    reader = reply_reader("both")
    assert reader is not None
    out: list[Delta] = []
    shown = _Shown(out.append)
    replies: list[str] = []
    for piece in pieces:
        text = reader.feed(piece)
        if text:
            shown.sink(replies, text)


def reparsed(pieces: list[str]) -> None:
    import jiter

    prefix = ""
    for piece in pieces:
        prefix += piece
        jiter.from_json(prefix.encode(), partial_mode="trailing-strings")


def sdk(pieces: list[str]) -> None:
    from openai._models import construct_type
    from openai.types.chat import ChatCompletionChunk

    for piece in pieces:
        choice = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
        data = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        line = json.dumps({**data, "choices": [choice], "usage": None})
        construct_type(type_=ChatCompletionChunk, value=json.loads(line))


def whole(pieces: list[str]) -> None:
    json.loads("".join(pieces))


def best_of(reps: int, run: Callable[[list[str]], None], pieces: list[str]) -> float:
    """Microseconds of the fastest of ``reps`` runs over the whole answer."""
    best = float("inf")
    for _ in range(reps):
        started = time.perf_counter()
        run(pieces)
        best = min(best, time.perf_counter() - started)
    return best * 1e6


def check(pieces: list[str]) -> None:
    """The scanner gives exactly the reply before anything is timed."""
    reader = reply_reader("both")
    assert reader is not None
    text = "".join(reader.feed(p) for p in pieces)
    assert text == json.loads("".join(pieces))["reply"].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    reps = 5 if args.quick else args.reps
    print(__doc__)
    print(f"machine: {c.machine()}")
    print(f"best of {reps} runs per answer; chunks of {CHUNK} characters\n")
    rows = []
    worst = 0.0
    for length in (300, 2000):
        for escapes in (False, True):
            pieces = chunks(answer(length, escapes))
            check(pieces)
            scan = best_of(reps, streamed, pieces)
            again = best_of(max(1, reps // 10), reparsed, pieces)
            once = best_of(reps, whole, pieces)
            own = best_of(max(1, reps // 10), sdk, pieces) / len(pieces)
            per_chunk = scan / len(pieces)
            worst = max(worst, per_chunk)
            name = f"{length} chars{', escapes' if escapes else ''}"
            rows.append([name, len(pieces), scan, per_chunk, once, again / len(pieces), own])
    headers = [
        "reply",
        "chunks",
        "stream us",
        "us/chunk",
        "json.loads us",
        "re-parse us/chunk",
        "SDK us/chunk",
    ]
    print(c.table(headers, rows))
    verdict = "PASS" if worst <= TARGET_US else "FAIL"
    print(f"\nworst {worst:.2f} us per chunk (target <= {TARGET_US:g} us): {verdict}")


if __name__ == "__main__":
    main()
