"""dialogue.testing.evaluation and `eval`: exact metrics on a tiny hand-made dataset."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dialogue import CompiledFlow, compile_flows, parse_flow
from dialogue.cli.evaluate import eval_command
from dialogue.testing.evaluation import DatasetError, Ratio, Score, evaluate, read_dataset, target

ROOT = Path(__file__).resolve().parent.parent
TODAY = datetime.date(2026, 11, 24)

FLOW = r"""
flow: tiny
language: en
start: menu
slots:
  order_id:
    type: pattern
    pattern: '\b[A-Za-z]{2}\d{4}\b'
    normalize: upper
    ask: "Which order?"
  size:
    type: enum
    values: {small: [], large: [big]}
    ask: "Which size?"
intents:
  track:
    keywords: [track, where is my order]
  refund:
    keywords: [refund]
    patterns: ['return (?P<order_id>[a-z]{2}\d{4})']
  hello:
    scope: global
    keywords: [hello, hi]
    say: "Hi!"
states:
  menu:
    on:
      track: tracking
      refund: refunding
  tracking:
    collect: [order_id]
    next:
      - goto: menu
  refunding:
    collect: [order_id, size]
    next:
      - goto: menu
"""

DATA = """\
text,intent,slot:order_id
track AB1234,track,AB1234
where is my order,track,
my parcel is late,track,
refund please,refund,
return cd5678 now,refund,CD5678
hello,hello,
hi I want a refund,refund,
what time is it,out_of_scope,
track the weather,out_of_scope,
order XY9999 please,out_of_scope,XY9999
hi there ZZ0000,hello,
"""


@pytest.fixture
def flow() -> CompiledFlow:
    bot = compile_flows([parse_flow(FLOW, path="tiny.yaml")])
    return bot.flows["tiny"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.csv"
    path.write_text(DATA, encoding="utf-8")
    return path


def test_metrics_of_the_whole_flow(flow: CompiledFlow, data: Path) -> None:
    report = evaluate(flow, data, today=TODAY)
    assert report.target.intents == ("track", "refund", "hello")
    assert report.target.slots == ("order_id", "size")
    assert report.accuracy == Ratio(9, 11)
    assert report.precision == Ratio(7, 8)
    assert report.coverage == Ratio(7, 8)
    assert report.oos_recall == Ratio(2, 3)
    assert report.intents == (
        Score("track", correct=2, predicted=3, support=3),
        Score("refund", correct=3, predicted=3, support=3),
        Score("hello", correct=2, predicted=2, support=2),
    )
    track = report.intents[0]
    assert (track.precision, track.recall, track.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    (order_id,) = report.slots  # only labelled slots are scored
    assert order_id == Score("order_id", correct=3, predicted=4, support=3)
    assert (order_id.precision, order_id.recall) == (0.75, 1.0)
    assert order_id.f1 == pytest.approx(6 / 7)
    assert report.confusions == (("out_of_scope", "track", 1), ("track", None, 1))
    assert [(p.example.line, p.intent, p.matched) for p in report.mistakes] == [
        (4, None, None),
        (10, "track", "track"),
    ]
    assert report.remapped == {}


def test_a_state_sees_only_its_own_rules(flow: CompiledFlow, data: Path) -> None:
    report = evaluate(flow, data, state="tracking", today=TODAY)
    assert report.target.intents == ("hello",) and report.target.extract == ("order_id",)
    assert report.remapped == {"refund": 3, "track": 3}
    assert report.accuracy == Ratio(10, 11)
    assert report.coverage == Ratio(2, 2) and report.oos_recall == Ratio(8, 9)
    assert report.confusions == (("out_of_scope", "hello", 1),)
    assert report.slots == (Score("order_id", correct=3, predicted=4, support=3),)


def test_nothing_to_divide_by_is_none() -> None:
    assert Ratio(0, 0).value is None
    assert Score("x", 0, 0, 0).f1 is None and Score("x", 0, 1, 1).f1 == 0.0


def test_an_unknown_state(flow: CompiledFlow) -> None:
    with pytest.raises(KeyError, match="no state 'nowhere' in flow 'tiny'; states: menu, "):
        target(flow, "nowhere")


# --------------------------------------------------------------------------- reading the CSV


def problems(tmp_path: Path, text: str, **options: object) -> str:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError) as raised:
        read_dataset(path, intents=["track", "refund"], slots=["order_id"], **options)  # type: ignore[arg-type]
    assert raised.value.code == "dataset_error" and raised.value.path == str(path)
    return str(raised.value).replace(str(path), "bad.csv")


def test_missing_and_unknown_columns(tmp_path: Path) -> None:
    assert problems(tmp_path, "text,label,slot:ordr\nhi,track,\n") == (
        "bad.csv:1: missing column 'intent': the header is 'text,label,slot:ordr'; "
        "write text,intent\n"
        "bad.csv:1: unknown column 'label'; use text, intent and slot:NAME (a slot to evaluate)\n"
        "bad.csv:1: unknown slot 'ordr' in column 'slot:ordr'; did you mean 'order_id'?"
    )
    assert problems(tmp_path, "text,intent,text\n") == "bad.csv:1: column 'text' appears 2 times"


def test_bad_rows_are_all_reported_with_their_line(tmp_path: Path) -> None:
    text = (
        "text,intent\n"
        "where is it,trak\n"
        '"a message\nover two lines",refnud\n'
        "\n"
        ",track\n"
        "hello,\n"
        "one,track,extra\n"
    )
    assert problems(tmp_path, text) == (
        "bad.csv:2: unknown intent 'trak'; did you mean 'track'? "
        "(intents: refund, track; out of scope: 'out_of_scope')\n"
        "bad.csv:3: unknown intent 'refnud'; did you mean 'refund'? "
        "(intents: refund, track; out of scope: 'out_of_scope')\n"
        "bad.csv:6: the text is empty\n"
        "bad.csv:7: no intent: write one of the flow's intents, or 'out_of_scope'\n"
        "bad.csv:8: 3 fields, but the header has 2"
    )


def test_the_out_of_scope_label_is_configurable(tmp_path: Path) -> None:
    text = "text,intent\nnope,out_of_scope\n"
    assert problems(tmp_path, text, oos_label="none") == (
        "bad.csv:2: unknown intent 'out_of_scope' (intents: refund, track; out of scope: 'none')"
    )
    path = tmp_path / "ok.csv"
    path.write_text("text,intent\nnope,none\n", encoding="utf-8")
    data = read_dataset(path, intents=["track"], slots=[], oos_label="none")
    assert [(e.line, e.text, e.label) for e in data.examples] == [(2, "nope", "none")]


def test_empty_files_and_broken_csv(tmp_path: Path) -> None:
    assert problems(tmp_path, "") == (
        "bad.csv:1: the file is empty; the first line must be: text,intent"
    )
    assert problems(tmp_path, "text,intent\n\n") == (
        "bad.csv:1: no utterances: add rows of text,intent under the header"
    )
    assert problems(tmp_path, 'text,intent\n"hi"there,track\n').startswith(
        "bad.csv:2: not valid CSV: "
    )
    missing = tmp_path / "missing.csv"
    with pytest.raises(DatasetError, match="missing.csv:1: cannot read the file: No such file"):
        read_dataset(missing, intents=[], slots=[])


def test_a_byte_order_mark_and_spaces_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("\ufefftext , intent\n  track it , track \n", encoding="utf-8")
    (example,) = read_dataset(path, intents=["track"], slots=[]).examples
    assert (example.text, example.label) == ("track it", "track")


# --------------------------------------------------------------------------- the command


def run(*args: str) -> Result:
    return CliRunner().invoke(eval_command, list(args))


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(FLOW, encoding="utf-8")
    return path


def test_the_table(flow_file: Path, data: Path) -> None:
    result = run(str(flow_file), str(data), "--today", "2026-11-24")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "flow tiny (all states: 3 intents, 2 slots; rules only)\n"
        f"data {data}: 11 utterances, 8 in scope, 3 out of scope ('out_of_scope')\n"
        "\n"
        "  accuracy                          81.8%       9/11  no match counts as out_of_scope\n"
        "  precision when a rule commits     87.5%        7/8\n"
        "  coverage of in-scope utterances   87.5%        7/8  a rule committed, right or wrong\n"
        "  out-of-scope recall               66.7%        2/3  no rule matched\n"
        "\n"
        "  intent    precision  recall      f1  support\n"
        "  track         66.7%   66.7%   66.7%        3\n"
        "  refund       100.0%  100.0%  100.0%        3\n"
        "  hello        100.0%  100.0%  100.0%        2\n"
        "  macro F1                      88.9%\n"
        "\n"
        "  slot      precision  recall      f1  support\n"
        "  order_id      75.0%  100.0%   85.7%        3\n"
        "\n"
        "  most confused (expected -> predicted)\n"
        '     1  out_of_scope -> track  line 10: "track the weather"\n'
        '     1  track -> (no match)    line 4: "my parcel is late"\n'
    )


def test_mistakes_and_a_state(flow_file: Path, data: Path) -> None:
    result = run(str(flow_file), str(data), "--state", "tracking", "--mistakes", "--top", "0")
    assert result.exit_code == 0, result.output
    assert "flow tiny (state tracking: 1 intent, 1 slot; rules only)\n" in result.output
    assert (
        "counted as out of scope, as this state has no rule for them: refund (3), track (3)\n"
        in result.output
    )
    assert "most confused" not in result.output
    assert result.output.endswith(
        "  mistakes\n"
        f"  {data}:8: expected out_of_scope, got hello ('hi'): \"hi I want a refund\"\n"
        f"  {data}:12: slot order_id: expected nothing, got 'ZZ0000': \"hi there ZZ0000\"\n"
    )


def test_json_output(flow_file: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run(str(flow_file), str(data), "--json", str(out))
    assert result.exit_code == 0 and "accuracy" in result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["accuracy"] == {"value": 9 / 11, "hits": 9, "total": 11}
    assert report["oos_recall"] == {"value": 2 / 3, "hits": 2, "total": 3}
    assert report["intents"][0] == {
        "name": "track",
        "precision": 2 / 3,
        "recall": 2 / 3,
        "f1": pytest.approx(2 / 3),
        "correct": 2,
        "predicted": 3,
        "support": 3,
    }
    assert report["confusions"] == [
        {"expected": "out_of_scope", "predicted": "track", "count": 1},
        {"expected": "track", "predicted": None, "count": 1},
    ]
    assert report["mistakes"][0] == {
        "line": 4,
        "text": "my parcel is late",
        "expected": "track",
        "predicted": None,
        "matched": None,
    }
    assert report["slot_mistakes"] == [
        {"line": 12, "slot": "order_id", "expected": None, "predicted": "ZZ0000"}
    ]
    stdout = run(str(flow_file), str(data), "--json", "-")
    assert json.loads(stdout.output) == report


def test_errors_and_thresholds(flow_file: Path, data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,intent\nhi,helo\n", encoding="utf-8")
    result = run(str(flow_file), str(bad))
    assert result.exit_code == 1
    assert result.output.startswith(f"{bad}:2: unknown intent 'helo'; did you mean 'hello'?")
    state = run(str(flow_file), str(data), "--state", "nowhere")
    assert state.exit_code == 2 and "no state 'nowhere' in flow 'tiny'" in state.output
    other = run(str(flow_file), str(data), "--flow", "other")
    assert other.exit_code == 2 and "no flow 'other'; flows: tiny" in other.output
    missing = run(str(tmp_path / "none.yaml"), str(data))
    assert missing.exit_code == 1 and "none.yaml:1:1: file not found" in missing.output
    assert run(str(flow_file), str(data), "--fail-under", "0.8").exit_code == 0
    low = run(str(flow_file), str(data), "--fail-under", "0.9")
    assert low.exit_code == 1 and "accuracy 81.8% is below --fail-under 0.9" in low.output


@pytest.mark.parametrize(
    ("flow_path", "data_path"),
    [
        ("flows/customer_service.yaml", "flows/eval/customer_service.csv"),
        ("flows/eval/banking.yaml", "flows/eval/banking77_sample.csv"),
    ],
)
def test_the_example_data_evaluates(flow_path: str, data_path: str) -> None:
    result = run(str(ROOT / flow_path), str(ROOT / data_path), "--today", "2026-11-24")
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "most confused" in result.output
