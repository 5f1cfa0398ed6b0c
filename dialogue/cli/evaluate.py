"""``dialogue eval FLOW DATA``: how well a flow's rules understand labelled utterances.

A thin layer over :mod:`dialogue.testing.evaluation`: options in, a table (or JSON) out.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from dialogue.cli.common import choose_flow, compile_or_exit
from dialogue.testing.evaluation import (
    OOS_LABEL,
    DatasetError,
    Prediction,
    Ratio,
    Report,
    Score,
    SweepRow,
    evaluate,
)
from dialogue.testing.evaluation import sweep as sweep_thresholds
from dialogue.testing.json_file import json_text, write_json

SWEEP = tuple(round(0.05 * i, 2) for i in range(1, 20))
"""The thresholds of ``--sweep``: 0.05 to 0.95."""

NO_MATCH = "(no match)"


@click.command("eval")
@click.argument("flow_path", metavar="FLOW", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--flow", "flow_name", default=None, help="The flow to evaluate (default: main).")
@click.option("--state", default=None, help="Evaluate what this state understands.")
@click.option("--oos-label", default=OOS_LABEL, show_default=True, help="Out-of-scope label.")
@click.option("--json", "json_path", default=None, help="Write JSON here ('-': stdout).")
@click.option("--top", default=10, show_default=True, help="Confused pairs to show.")
@click.option("--mistakes", is_flag=True, help="List every utterance the rules got wrong.")
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Read relative dates ('tomorrow') from this day (default: today).",
)
@click.option("--fail-under", type=float, default=None, help="Exit 1 if accuracy is below this.")
@click.option(
    "--sweep",
    is_flag=True,
    help="Also show in-scope accuracy and out-of-scope recall at classifier thresholds "
    "0.05 to 0.95 (flows whose intents have examples).",
)
def eval_command(
    flow_path: str,
    data: str,
    flow_name: str | None,
    state: str | None,
    oos_label: str,
    json_path: str | None,
    top: int,
    mistakes: bool,
    today: datetime.datetime | None,
    fail_under: float | None,
    sweep: bool,
) -> None:
    """Evaluate the intent rules and slot extraction of FLOW on DATA (CSV: text,intent).

    DATA may have slot:NAME columns with the value each message gives. Rules first,
    then the classifier trained on the intents' examples (if any); a message neither
    matches counts as predicting the out-of-scope label.
    """
    bot = compile_or_exit(flow_path)
    flow = choose_flow(bot, flow_name)
    if state is not None and state not in flow.states:
        states = ", ".join(flow.states)
        raise click.BadParameter(
            f"no state {state!r} in flow {flow.name!r}; states: {states}", param_hint="--state"
        )
    try:
        day = today.date() if today is not None else None
        report = evaluate(flow, data, state=state, oos_label=oos_label, today=day)
    except DatasetError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    rows = sweep_thresholds(report, SWEEP) if sweep else None
    if json_path == "-":
        click.echo(json_text(as_json(report, rows)), nl=False)
    else:
        click.echo(render(report, top=top, mistakes=mistakes), nl=False)
        if rows is not None:
            click.echo(render_sweep(report, rows), nl=False)
        if json_path is not None:
            write_json(json_path, as_json(report, rows))
    accuracy = report.accuracy.value
    if fail_under is not None and (accuracy or 0.0) < fail_under:
        click.echo(f"accuracy {_pct(accuracy)} is below --fail-under {fail_under:g}", err=True)
        sys.exit(1)


# --------------------------------------------------------------------------- the table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _label(intent: str | None) -> str:
    return NO_MATCH if intent is None else intent


def _quote(text: str, width: int = 60) -> str:
    return json.dumps(text if len(text) <= width else text[: width - 3] + "...", ensure_ascii=False)


def _headline(report: Report) -> list[str]:
    t, d = report.target, report.data
    where = f"state {t.state}" if t.state else "all states"
    n_oos = report.oos_recall.total
    how = "rules only"
    if t.classifier is not None:
        how = f"rules, then the classifier at threshold {t.flow.definition.nlu.cutoff:g}"
    lines = [
        f"flow {t.flow.name} ({where}: {_count(len(t.intents), 'intent')}, "
        f"{_count(len(t.slots), 'slot')}; {how})",
        f"data {d.path}: {len(d.examples)} utterances, {report.coverage.total} in scope, "
        f"{n_oos} out of scope ('{d.oos_label}')",
    ]
    if report.remapped:
        moved = ", ".join(f"{k} ({n})" for k, n in report.remapped.items())
        lines.append(f"counted as out of scope, as this state has no rule for them: {moved}")
    return lines + [""]


def _metrics(report: Report) -> list[str]:
    rows: list[tuple[str, Ratio, str]] = [
        ("accuracy", report.accuracy, f"no match counts as {report.data.oos_label}"),
        ("precision when a rule commits", report.precision, ""),
        ("coverage of in-scope utterances", report.coverage, "a rule committed, right or wrong"),
        ("out-of-scope recall", report.oos_recall, "no rule matched"),
    ]
    if report.target.classifier is not None:
        rows[1] = ("precision when it commits", report.precision, "a rule or the classifier")
        rows[3] = ("out-of-scope recall", report.oos_recall, "nothing matched")
        rows.append(("in-scope accuracy", report.in_scope_accuracy, "no match counts as wrong"))
    return [
        f"  {name:<32} {_pct(r.value):>6}  {f'{r.hits}/{r.total}':>9}  {note}".rstrip()
        for name, r, note in rows
    ] + [""]


def _scores(title: str, scores: tuple[Score, ...], width: int) -> list[str]:
    if not scores:
        return []
    head = f"  {title:<{width}}  precision  recall      f1  support"
    lines = [head]
    for s in scores:
        p, r, f = (_pct(v) for v in (s.precision, s.recall, s.f1))
        lines.append(f"  {s.name:<{width}}  {p:>9}  {r:>6}  {f:>6}  {s.support:>7}")
    supported = [s.f1 for s in scores if s.support and s.f1 is not None]
    if len(supported) > 1:
        macro = sum(supported) / len(supported)
        lines.append(f"  {'macro F1':<{width}}  {'':>9}  {'':>6}  {_pct(macro):>6}")
    return lines + [""]


def _confusions(report: Report, top: int) -> list[str]:
    if not report.confusions or top <= 0:
        return []
    first: dict[tuple[str | None, str | None], Prediction] = {}
    for p in report.predictions:
        first.setdefault((p.expected, p.intent), p)
    oos = report.data.oos_label
    shown = [(f"{e} -> {_label(p)}", e, p, n) for e, p, n in report.confusions[:top]]
    width = max(len(pair) for pair, *_ in shown)
    lines = ["  most confused (expected -> predicted)"]
    for pair, expected, predicted, count in shown:
        example = first[None if expected == oos else expected, predicted].example
        lines.append(f"  {count:>4}  {pair:<{width}}  line {example.line}: {_quote(example.text)}")
    return lines + [""]


def _mistakes(report: Report) -> list[str]:
    path, lines = report.data.path, ["  mistakes"]
    for p in report.mistakes:
        how = f" ({p.matched!r})" if p.matched else ""
        expected = p.expected or report.data.oos_label
        text = _quote(p.example.text)
        lines.append(
            f"  {path}:{p.example.line}: expected {expected}, got {_label(p.intent)}{how}: {text}"
        )
    for line, slot, expected, got, text in _slot_mistakes(report):
        want, have = (repr(v) if v else "nothing" for v in (expected, got))
        lines.append(f"  {path}:{line}: slot {slot}: expected {want}, got {have}: {text}")
    return lines + [""] if len(lines) > 1 else []


def _slot_mistakes(report: Report) -> list[tuple[int, str, str, str, str]]:
    return [
        (p.example.line, name, p.example.slots[name], got, _quote(p.example.text))
        for p in report.predictions
        for name, got in p.slots.items()
        if got != p.example.slots[name]
    ]


def render(report: Report, *, top: int = 10, mistakes: bool = False) -> str:
    """The report as the terminal table of ``dialogue eval``."""
    lines = _headline(report) + _metrics(report)
    width = max(len("macro F1"), *(len(s.name) for s in report.intents + report.slots))
    lines += _scores("intent", report.intents, width) + _scores("slot", report.slots, width)
    lines += _confusions(report, top)
    if mistakes:
        lines += _mistakes(report)
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- JSON


def _ratio(r: Ratio) -> dict[str, Any]:
    return {"value": r.value, "hits": r.hits, "total": r.total}


def _score(s: Score) -> dict[str, Any]:
    return {
        "name": s.name,
        "precision": s.precision,
        "recall": s.recall,
        "f1": s.f1,
        "correct": s.correct,
        "predicted": s.predicted,
        "support": s.support,
    }


def render_sweep(report: Report, rows: Sequence[SweepRow]) -> str:
    """The threshold table of ``dialogue eval --sweep``."""
    if report.target.classifier is None:
        return "  no classifier: the flow's intents have no examples (or [nlu] is missing)\n"
    lines = ["", "  classifier threshold  in-scope accuracy  out-of-scope recall  accuracy"]
    current = report.target.flow.definition.nlu.cutoff
    for r in rows:
        mark = "  <- the flow's" if abs(r.threshold - current) < 1e-9 else ""
        lines.append(
            f"  {r.threshold:>20.2f}  {_pct(r.in_scope_accuracy.value):>17}  "
            f"{_pct(r.oos_recall.value):>19}  {_pct(r.accuracy.value):>8}{mark}"
        )
    return "\n".join(lines) + "\n"


def as_json(report: Report, rows: Sequence[SweepRow] | None = None) -> dict[str, Any]:
    """The report as JSON data: fractions in 0..1, ``null`` where nothing was counted."""
    d, t, oos = report.data, report.target, report.data.oos_label
    extra: dict[str, Any] = {}
    if rows is not None:
        extra["sweep"] = [
            {
                "threshold": r.threshold,
                "in_scope_accuracy": _ratio(r.in_scope_accuracy),
                "oos_recall": _ratio(r.oos_recall),
                "accuracy": _ratio(r.accuracy),
            }
            for r in rows
        ]
    return {
        "flow": t.flow.name,
        "state": t.state,
        "data": d.path,
        "oos_label": oos,
        "utterances": len(d.examples),
        "accuracy": _ratio(report.accuracy),
        "precision": _ratio(report.precision),
        "coverage": _ratio(report.coverage),
        "oos_recall": _ratio(report.oos_recall),
        "in_scope_accuracy": _ratio(report.in_scope_accuracy),
        "intents": [_score(s) for s in report.intents],
        "slots": [_score(s) for s in report.slots],
        "confusions": [
            {"expected": e, "predicted": p, "count": n} for e, p, n in report.confusions
        ],
        "remapped": dict(report.remapped),
        "mistakes": [
            {
                "line": p.example.line,
                "text": p.example.text,
                "expected": p.expected or oos,
                "predicted": p.intent,
                "matched": p.matched,
            }
            for p in report.mistakes
        ],
        "slot_mistakes": [
            {"line": line, "slot": slot, "expected": e or None, "predicted": g or None}
            for line, slot, e, g, _ in _slot_mistakes(report)
        ],
    } | extra
