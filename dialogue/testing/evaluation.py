"""Intent and slot evaluation of a flow's rules on labelled utterances (``dialogue eval``).

The data is a CSV file with a header: ``text``, ``intent`` and optional
``slot:NAME`` columns. ``intent`` is one of the flow's intents or the
out-of-scope label (``out_of_scope`` by default) for a message no rule should
match. A ``slot:NAME`` cell holds the value the slot should get, written as the
slot stores it (``AB123456``, ``2026-11-24``), or nothing when the message gives
none.

What is evaluated (a :class:`Target`):

* by default the flow as a whole: one matcher with *all* of the flow's intents
  (local and global, in file order), and every slot that can be picked out of
  any message (pattern, enum, email, phone, date, time) or is filled by a
  named group of an intent pattern;
* with ``state``: exactly what that state sees: its matcher (its own intents,
  then the global ones) and the slots it extracts. Labels of intents this state
  cannot match are counted as out of scope here (``Report.remapped``).

Rules are evaluated, and, when the flow's intents have ``examples`` (extra
``[nlu]``), the classifier trained on them, over the same intents, exactly as a
turn uses it: when no rule fires, its best intent at or above the threshold. A
message neither matches predicts out of scope (in a running flow it would go to
the LLM fallback, if one is configured). :func:`sweep` recomputes in-scope
accuracy and out-of-scope recall at other thresholds, so a designer can pick one.
"""

from __future__ import annotations

import csv
import datetime
import re
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dialogue.errors import DatasetError, did_you_mean
from dialogue.runtime.classify import StateClassifier
from dialogue.runtime.compiled import CompiledFlow
from dialogue.runtime.rules import IntentMatcher, prepare

__all__ = [
    "Dataset",
    "DatasetError",
    "Example",
    "Prediction",
    "Ratio",
    "Report",
    "Score",
    "Target",
    "evaluate",
    "predict",
    "read_dataset",
    "SweepRow",
    "score",
    "sweep",
    "target",
]

OOS_LABEL = "out_of_scope"
SLOT_PREFIX = "slot:"


# --------------------------------------------------------------------------- what is evaluated


@dataclass(frozen=True)
class Target:
    """The rules under evaluation: a matcher and the slots picked out of any message."""

    flow: CompiledFlow
    state: str | None
    matcher: IntentMatcher
    extract: tuple[str, ...]
    group_slots: frozenset[str]
    """Slots that named groups of intent patterns fill."""
    classifier: StateClassifier | None = None
    """The example-trained matcher over the same intents (None: no examples)."""

    @property
    def intents(self) -> tuple[str, ...]:
        return self.matcher.names

    @property
    def slots(self) -> tuple[str, ...]:
        """Every slot whose value this target can predict."""
        return tuple(n for n in self.flow.slots if n in self.extract or n in self.group_slots)


def target(flow: CompiledFlow, state: str | None = None) -> Target:
    """The whole flow (``state=None``) or one state, as :class:`Target`.

    Raises ``KeyError`` with a readable message for an unknown state.
    """
    intents = flow.definition.intents
    groups = frozenset(
        name
        for intent in intents.values()
        for source in intent.patterns
        for name in re.compile(source).groupindex
        if name in flow.slots
    )
    if state is None:
        extract = tuple(n for n, s in flow.slots.items() if s.parser.extractable)
        matcher = IntentMatcher(list(intents.items()))
        return Target(flow, None, matcher, extract, groups, _whole_flow(flow, matcher.names))
    if state not in flow.states:
        raise KeyError(
            f"no state {state!r} in flow {flow.name!r}; states: {', '.join(flow.states)}"
        )
    st = flow.states[state]
    return Target(flow, state, st.matcher, st.extract, groups, st.classifier)


def _whole_flow(flow: CompiledFlow, names: Sequence[str]) -> StateClassifier | None:
    """A classifier over every intent of the flow, from the model its states share."""
    some = next((st.classifier for st in flow.states.values() if st.classifier), None)
    if some is None:
        return None
    nlu, intents = flow.definition.nlu, flow.definition.intents
    thresholds = {
        n: i.threshold if i.threshold is not None else nlu.cutoff for n, i in intents.items()
    }
    return StateClassifier(some.scorer, names, thresholds)


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Example:
    line: int
    text: str
    label: str
    """As written in the file: an intent of the flow, or the out-of-scope label."""
    slots: Mapping[str, str]
    """Labelled slot -> expected value; ``""`` when the message gives none."""


@dataclass(frozen=True)
class Dataset:
    path: str
    examples: tuple[Example, ...]
    slots: tuple[str, ...]
    """The labelled slots (the ``slot:NAME`` columns), in column order."""
    oos_label: str = OOS_LABEL


def read_dataset(
    path: str | Path,
    *,
    intents: Collection[str],
    slots: Collection[str],
    oos_label: str = OOS_LABEL,
) -> Dataset:
    """Read and check a labelled CSV file against the flow's ``intents`` and ``slots``."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetError(name, [(1, f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise DatasetError(name, [(1, f"not UTF-8 text ({exc.reason})")]) from None
    rows = _rows(name, text)
    header = next(rows, None)
    if header is None:
        raise DatasetError(name, [(1, "the file is empty; the first line must be: text,intent")])
    columns = _columns(name, header[1], slots)
    examples, problems = [], []
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        try:
            examples.append(_example(line, row, columns, intents, oos_label))
        except ValueError as exc:
            problems.append((line, str(exc)))
    if problems:
        raise DatasetError(name, problems)
    if not examples:
        raise DatasetError(name, [(1, "no utterances: add rows of text,intent under the header")])
    labelled = tuple(c[len(SLOT_PREFIX) :] for c in columns if c.startswith(SLOT_PREFIX))
    return Dataset(name, tuple(examples), labelled, oos_label)


def _rows(path: str, text: str) -> Iterator[tuple[int, list[str]]]:
    """``(line where the row starts, cells)``; a quoted cell may span lines."""
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DatasetError(path, [(reader.line_num, f"not valid CSV: {exc}")]) from None


def _columns(path: str, header: list[str], slots: Collection[str]) -> tuple[str, ...]:
    columns = tuple(c.strip() for c in header)
    problems = []
    for column in ("text", "intent"):
        if column not in columns:
            found = ",".join(columns)
            problems.append(
                f"missing column '{column}': the header is '{found}'; write text,intent"
            )
    for column, count in Counter(columns).items():
        if count > 1:
            problems.append(f"column '{column}' appears {count} times")
    for column in columns:
        if column in ("text", "intent"):
            continue
        if not column.startswith(SLOT_PREFIX):
            problems.append(
                f"unknown column '{column}'; use text, intent and slot:NAME (a slot to evaluate)"
            )
        elif (slot := column[len(SLOT_PREFIX) :]) not in slots:
            problems.append(f"unknown slot '{slot}' in column '{column}'{_suggest(slot, slots)}")
    if problems:
        raise DatasetError(path, [(1, p) for p in problems])
    return columns


def _example(
    line: int, row: list[str], columns: Sequence[str], intents: Collection[str], oos: str
) -> Example:
    if len(row) != len(columns):
        raise ValueError(f"{len(row)} fields, but the header has {len(columns)}")
    cells = {c: v.strip() for c, v in zip(columns, row, strict=True)}
    if not cells["text"]:
        raise ValueError("the text is empty")
    label = cells["intent"]
    if not label:
        raise ValueError(f"no intent: write one of the flow's intents, or '{oos}'")
    if label != oos and label not in intents:
        choices = ", ".join(sorted(intents))
        raise ValueError(
            f"unknown intent '{label}'{_suggest(label, intents)} (intents: {choices}; "
            f"out of scope: '{oos}')"
        )
    slots = {c[len(SLOT_PREFIX) :]: v for c, v in cells.items() if c.startswith(SLOT_PREFIX)}
    return Example(line, cells["text"], label, slots)


def _suggest(word: str, choices: Collection[str]) -> str:
    hint = did_you_mean(word, choices)
    return f"; {hint}" if hint else ""


# --------------------------------------------------------------------------- predicting


@dataclass(frozen=True)
class Prediction:
    example: Example
    expected: str | None
    """The expected intent for this target; ``None`` when the message is out of scope."""
    intent: str | None
    """The intent a rule matched; ``None`` when none did (out of scope)."""
    matched: str | None
    """The keyword or pattern that matched."""
    slots: Mapping[str, str]
    """The labelled slots' predicted values, as text (``""``: none)."""
    guess: str | None = None
    """The classifier's best intent when no rule matched (taken or not)."""
    confidence: float | None = None
    """Its confidence (None: no rule matched and no classifier, or a rule matched)."""


def predict(tgt: Target, data: Dataset, *, today: datetime.date) -> list[Prediction]:
    """Run the target's rules on every example."""
    flow, known = tgt.flow, set(tgt.intents)
    predictions = []
    for example in data.examples:
        text = prepare(example.text)
        found = tgt.matcher.match(text)
        guess = None
        if found is None and tgt.classifier is not None:
            guess = tgt.classifier.classify(text)
        values: dict[str, object] = {}
        for name, raw in (found.groups if found is not None else {}).items():
            result = flow.slots[name].parser.validate(raw, today=today)
            if result.ok:
                values[name] = result.value
        for name in tgt.extract:
            if name not in values:
                value = flow.slots[name].parser.extract(text, today=today)
                if value is not None:
                    values[name] = value
        expected = example.label if example.label in known else None
        intent = found.intent if found is not None else None
        if guess is not None and guess.taken:
            intent = guess.best
        predictions.append(
            Prediction(
                example,
                expected,
                intent,
                found.matched if found is not None else None,
                {name: _as_text(values.get(name)) for name in data.slots},
                guess.best if guess is not None else None,
                guess.confidence if guess is not None else None,
            )
        )
    return predictions


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Ratio:
    hits: int
    total: int

    @property
    def value(self) -> float | None:
        """``hits / total``; ``None`` when there is nothing to divide by."""
        return self.hits / self.total if self.total else None


@dataclass(frozen=True)
class Score:
    """Precision, recall and F1 of one intent or slot."""

    name: str
    correct: int
    predicted: int
    """How often it was predicted (for a slot: a value was, right or wrong)."""
    support: int
    """How often it was expected (for a slot: a value was)."""

    @property
    def precision(self) -> float | None:
        return Ratio(self.correct, self.predicted).value

    @property
    def recall(self) -> float | None:
        return Ratio(self.correct, self.support).value

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Report:
    data: Dataset
    target: Target
    predictions: tuple[Prediction, ...]
    accuracy: Ratio
    """Right over all: an intent as expected, or no match on an out-of-scope message."""
    precision: Ratio
    """Right when a rule committed (matched an intent)."""
    coverage: Ratio
    """In-scope messages where a rule committed, right or wrong."""
    oos_recall: Ratio
    """Out-of-scope messages no rule matched."""
    in_scope_accuracy: Ratio
    """In-scope messages given their intent (no match counts as wrong)."""
    intents: tuple[Score, ...]
    slots: tuple[Score, ...]
    confusions: tuple[tuple[str, str | None, int], ...]
    """``(expected, predicted, count)``, most frequent first; ``None``: no match."""
    remapped: Mapping[str, int] = field(default_factory=dict)
    """Labels of intents the target cannot match, counted as out of scope."""

    @property
    def mistakes(self) -> tuple[Prediction, ...]:
        return tuple(p for p in self.predictions if p.intent != p.expected)


def score(tgt: Target, data: Dataset, predictions: Sequence[Prediction]) -> Report:
    """The metrics of ``predictions`` (from :func:`predict`)."""
    in_scope = [p for p in predictions if p.expected is not None]
    oos = [p for p in predictions if p.expected is None]
    committed = [p for p in predictions if p.intent is not None]
    right = sum(p.intent == p.expected for p in predictions)
    counts = Counter((p.expected, p.intent) for p in predictions)
    intents = tuple(
        Score(
            name,
            counts[name, name],
            sum(p.intent == name for p in predictions),
            sum(p.expected == name for p in predictions),
        )
        for name in tgt.intents
    )
    confusions = sorted(
        ((e or data.oos_label, i, n) for (e, i), n in counts.items() if e != i),
        key=lambda c: (-c[2], c[0], c[1] or ""),
    )
    remapped = Counter(p.example.label for p in oos if p.example.label != data.oos_label)
    return Report(
        data,
        tgt,
        tuple(predictions),
        accuracy=Ratio(right, len(predictions)),
        precision=Ratio(sum(p.intent == p.expected for p in committed), len(committed)),
        coverage=Ratio(sum(p.intent is not None for p in in_scope), len(in_scope)),
        oos_recall=Ratio(sum(p.intent is None for p in oos), len(oos)),
        in_scope_accuracy=Ratio(sum(p.intent == p.expected for p in in_scope), len(in_scope)),
        intents=intents,
        slots=tuple(_slot_score(name, predictions) for name in data.slots),
        confusions=tuple(confusions),
        remapped=dict(sorted(remapped.items())),
    )


def _slot_score(name: str, predictions: Sequence[Prediction]) -> Score:
    """A wrong value counts against both precision and recall."""
    pairs = [(p.example.slots[name], p.slots[name]) for p in predictions]
    correct = sum(bool(got) and got == expected for expected, got in pairs)
    predicted = sum(bool(got) for _, got in pairs)
    return Score(name, correct, predicted, sum(bool(expected) for expected, _ in pairs))


def evaluate(
    flow: CompiledFlow,
    path: str | Path,
    *,
    state: str | None = None,
    oos_label: str = OOS_LABEL,
    today: datetime.date | None = None,
) -> Report:
    """Read ``path``, run the rules of ``flow`` (or of one ``state``) and score them."""
    tgt = target(flow, state)
    labelable = target(flow).slots  # a state is scored on the slots the whole flow predicts
    data = read_dataset(path, intents=flow.definition.intents, slots=labelable, oos_label=oos_label)
    predictions = predict(tgt, data, today=today or datetime.date.today())
    return score(tgt, data, predictions)


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class SweepRow:
    threshold: float
    in_scope_accuracy: Ratio
    oos_recall: Ratio
    accuracy: Ratio


def sweep(report: Report, thresholds: Sequence[float]) -> list[SweepRow]:
    """In-scope accuracy and out-of-scope recall if the classifier's threshold were each
    of ``thresholds`` (one for every intent); rule matches stay as they are."""
    rows = []
    for t in thresholds:
        got = [
            (p.expected, p.guess if p.confidence >= t else None)
            if p.confidence is not None
            else (p.expected, p.intent)
            for p in report.predictions
        ]
        in_scope = [g == e for e, g in got if e is not None]
        oos = [g is None for e, g in got if e is None]
        rows.append(
            SweepRow(
                t,
                Ratio(sum(in_scope), len(in_scope)),
                Ratio(sum(oos), len(oos)),
                Ratio(sum(e == g for e, g in got), len(got)),
            )
        )
    return rows
