"""BANKING77 through the example-trained intent classifier (extra ``[nlu]``).

A flow is built whose intents take their examples from BANKING77's ``train.csv``
(one state allowing every intent); ``test.csv`` measures it:

* ``accuracy``: all 77 intents, abstention off (the best intent always taken);
* ``in_scope_accuracy`` / ``oos_recall``: at the default threshold (what a
  designer gets without configuring anything), with 10 intents held out of
  training as out-of-scope: every 8th intent in alphabetical order, starting with
  the first (``HELD_OUT``). An abstention on an in-scope query counts as wrong;
* ``fit_s``: training the 77-intent model (features + logistic regression);
* ``match_ms``: one ``classify`` call on one utterance (not a batch), median
  over the test set.

``--cv`` also shows how the default threshold was chosen without the test set:
10 *other* intents of the training data held out (every 8th, starting with the
fifth), the rest split 80/20, a sweep of thresholds on the 20%.

Data: ``../shared/data/banking77/`` beside the repository, or ``BANKING77_DIR``.
Prints a table, then a last line of the form
``banking77 accuracy=0.913 in_scope_accuracy=0.897 oos_recall=0.741 fit_s=6.2 match_ms=0.21``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from _common import REPO

from dialogue import compile_flows, parse_flow
from dialogue.compiler.examples import training_set
from dialogue.nlu.train import train
from dialogue.runtime.classify import StateClassifier
from dialogue.runtime.rules import prepare

Rows = list[tuple[str, str]]


def data_dir() -> Path:
    return Path(os.environ.get("BANKING77_DIR", REPO.parent / "shared" / "data" / "banking77"))


def read(path: Path) -> Rows:
    with path.open(encoding="utf-8") as f:
        # one category is spelt 'reverted_card_payment?': intent names are identifiers
        return [(" ".join(r["text"].split()), r["category"].rstrip("?")) for r in csv.DictReader(f)]


EMBEDDINGS = "none"
"""``nlu.embeddings`` of every flow built here (``--embeddings``)."""


def nlu_settings() -> dict[str, object]:
    return {"embeddings": EMBEDDINGS}


def held_out(categories: list[str], start: int = 0) -> set[str]:
    return set(sorted(categories)[start::8][:10])


def flow_text(rows: Rows, threshold: float | None = None) -> str:
    """A one-state flow (JSON) whose intents are the categories of ``rows``."""
    intents: dict[str, list[str]] = {}
    for text, category in rows:
        intents.setdefault(category, []).append(text)
    flow = {
        "flow": "banking77",
        "start": "menu",
        "intents": {name: {"examples": texts} for name, texts in intents.items()},
        "states": {"menu": {"on": dict.fromkeys(intents, "menu")}},
        "nlu": nlu_settings() | ({} if threshold is None else {"threshold": threshold}),
    }
    return json.dumps(flow)


def flow_of(rows: Rows, threshold: float | None = None) -> StateClassifier:
    """Compile the flow of ``rows``; its classifier."""
    bot = compile_flows([parse_flow(flow_text(rows, threshold), path="banking77.yaml")])
    classifier = bot.flows["banking77"].states["menu"].classifier
    assert classifier is not None
    return classifier


def fit_seconds(rows: Rows) -> tuple[float, float]:
    """Wall-clock and CPU seconds of training the model (the machine may be shared)."""
    data = training_set(parse_flow(flow_text(rows), path="banking77.yaml").flow)
    assert data is not None
    start, cpu = time.perf_counter(), time.process_time()
    train(data)
    return time.perf_counter() - start, time.process_time() - cpu


def scores(c: StateClassifier, test: Rows, oos: set[str], t: float) -> tuple[float, float]:
    """(in-scope accuracy, out-of-scope recall) at threshold ``t``."""
    ins, rej = [], []
    for text, category in test:
        guess = c.classify(prepare(text))
        assert guess is not None
        if category in oos:
            rej.append(guess.confidence < t)
        else:
            ins.append(guess.confidence >= t and guess.best == category)
    return sum(ins) / max(1, len(ins)), sum(rej) / max(1, len(rej))


def cross_validate(train_rows: Rows) -> None:
    """Choose a threshold on training data only (see the module docstring)."""
    oos = held_out(sorted({c for _, c in train_rows}), start=4)
    inside = [r for r in train_rows if r[1] not in oos]
    random.Random(0).shuffle(inside)
    cut = len(inside) * 4 // 5
    fit_rows, dev = inside[:cut], inside[cut:] + [r for r in train_rows if r[1] in oos]
    c = flow_of(fit_rows)
    print("threshold chosen on training data only (10 other intents held out, 80/20 split):")
    print("  threshold  in_scope_accuracy  oos_recall")
    for t in [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75]:
        a, r = scores(c, dev, oos, t)
        print(f"  {t:9.2f}  {a:17.3f}  {r:10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the data")
    parser.add_argument("--cv", action="store_true", help="also show the threshold choice")
    parser.add_argument(
        "--embeddings", default="none", help="nlu.embeddings of the flow (e.g. wordllama)"
    )
    args = parser.parse_args()
    global EMBEDDINGS
    EMBEDDINGS = args.embeddings
    folder = data_dir()
    if not (folder / "train.csv").exists():
        sys.exit(f"no BANKING77 data in {folder}; set BANKING77_DIR")
    train_rows, test = read(folder / "train.csv"), read(folder / "test.csv")
    if args.quick:
        train_rows, test = train_rows[::10], test[::10]
    categories = sorted({c for _, c in train_rows})
    oos = held_out(categories)
    print(
        f"embeddings: {EMBEDDINGS}; "
        f"BANKING77 from {folder}: {len(train_rows)} train, {len(test)} test, "
        f"{len(categories)} intents; held out: {', '.join(sorted(oos))}"
    )
    fit_s, fit_cpu = fit_seconds(train_rows)
    every = flow_of(train_rows, threshold=0.0)
    accuracy = scores(every, test, set(), 0.0)[0]
    timings = []
    for text, _ in test:
        prepared = prepare(text)
        start = time.perf_counter()
        every.classify(prepared)
        timings.append(time.perf_counter() - start)
    match_ms = statistics.median(timings) * 1000
    print(
        f"all 77 intents, no abstention: accuracy {accuracy:.3f}; fit {fit_s:.1f} s "
        f"({fit_cpu:.1f} s of CPU); "
        f"classify median {match_ms:.3f} ms, p99 "
        f"{sorted(timings)[int(len(timings) * 0.99)] * 1000:.3f} ms"
    )
    scoped = flow_of([r for r in train_rows if r[1] not in oos])
    threshold = scoped._allowed[0][2]  # the flow's default, unconfigured
    in_scope, oos_recall = scores(scoped, test, oos, threshold)
    print(
        f"67 intents, 10 held out, default threshold {threshold}: "
        f"in-scope accuracy {in_scope:.3f}, out-of-scope recall {oos_recall:.3f}"
    )
    if args.cv:
        cross_validate(train_rows)
    print(
        f"banking77 accuracy={accuracy:.3f} in_scope_accuracy={in_scope:.3f} "
        f"oos_recall={oos_recall:.3f} fit_s={fit_s:.1f} match_ms={match_ms:.2f}"
    )


if __name__ == "__main__":
    main()
