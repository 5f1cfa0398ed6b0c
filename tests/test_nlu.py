"""Intents trained from their examples: matching paraphrases and typos, abstaining when
unsure, only among the intents a state allows, cached on disk, optional."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dialogue import Engine, MissingExtra, compile_flows, parse_flow
from dialogue.assemble import load_bot
from dialogue.compiler.examples import training_set
from dialogue.events import Classified, IntentMatched
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.nlu.cache import CachedTrainer
from dialogue.nlu.data import TrainingSet
from dialogue.nlu.model import IntentModel
from dialogue.nlu.train import train
from dialogue.testing import FakeChatServer, FakeReply

SHOP = """\
flow: shop
start: menu
intents:
  track:
    keywords: [track]
    examples:
      - where is my order
      - when will my package arrive
      - has my parcel been shipped yet
      - I'm still waiting for my delivery
      - can you check the status of my order
      - my order hasn't come yet
  refund:
    keywords: [refund]
    examples:
      - I want my money back
      - can I return this item
      - the product is broken, I want to send it back
      - how do I get reimbursed
      - I'd like to return my purchase
  human:
    scope: global
    keywords: [agent]
    examples:
      - let me talk to a real person
      - I need to speak with someone
      - connect me to customer service staff
      - is there a human I can chat with
    goto: agent
states:
  menu:
    say: "How can I help?"
    on: {track: tracking, refund: refunding}
  tracking:
    say: "Let me look that up."
    on: {refund: refunding}
  refunding:
    say: "Refund started."
    on: {track: tracking}
  agent:
    say: "Connecting you."
    final: true
"""


def engine(text: str = SHOP, **options: Any) -> Engine:
    return Engine(compile_flows([parse_flow(text, path="shop.yaml")]), **options)


def classified(result: Any) -> list[Classified]:
    return [e for e in result.trace.events if isinstance(e, Classified)]


def test_a_typo_d_paraphrase_matches_by_the_classifier() -> None:
    e = engine()
    e.start("s")
    r = e.handle("s", "wher is my pakage")
    assert r.state == "tracking"
    assert r.trace.rule == "intent" and r.trace.intent == "track"
    assert r.trace.confidence is not None and r.trace.confidence >= 0.5
    assert IntentMatched("shop", "menu", "track", "shop", "classifier") in r.trace.events
    (c,) = classified(r)
    assert c.best == "track" and c.taken and c.runner_up in {"refund", "human"}
    assert c.margin == pytest.approx(c.confidence - c.runner_up_confidence)
    assert c.threshold == 0.5


def test_an_unrelated_message_abstains_and_goes_to_the_no_match_ladder() -> None:
    e = engine()
    e.start("s")
    r = e.handle("s", "which football team do you support")
    assert r.state == "menu" and r.trace.rule == "no_match"
    (c,) = classified(r)
    assert not c.taken and c.confidence < c.threshold
    assert not any(isinstance(ev, IntentMatched) for ev in r.trace.events)


def test_keywords_still_win_over_the_classifier() -> None:
    e = engine()
    e.start("s")
    # reads like a tracking question, but the refund keyword fires first
    r = e.handle("s", "where is my refund")
    assert r.state == "refunding" and r.trace.matched == "refund"
    assert classified(r) == []


def test_a_state_without_the_intent_in_on_never_gets_it() -> None:
    e = engine()
    e.start("s")
    assert e.handle("s", "I want my money back").state == "refunding"
    # refunding allows only track (and the global human): a refund paraphrase is not
    # taken as anything here, however sure the model is of 'refund'
    r = e.handle("s", "I want my money back")
    assert r.state == "refunding" and r.trace.rule == "no_match"
    (c,) = classified(r)
    assert c.best in {"track", "human"} and not c.taken


def test_a_global_intent_is_matched_in_every_state() -> None:
    e = engine()
    e.start("s")
    e.handle("s", "I want my money back")
    r = e.handle("s", "I need to speak with a real person please")
    assert r.state == "agent" and r.trace.intent == "human"


def test_a_per_intent_threshold_overrides_the_flow_s() -> None:
    strict = SHOP.replace("  track:\n", "  track:\n    threshold: 0.99\n", 1)
    e = engine(strict)
    e.start("s")
    r = e.handle("s", "wher is my pakage")
    assert r.state == "menu" and r.trace.rule == "no_match"
    assert classified(r)[0].threshold == 0.99


def test_the_flow_threshold_is_a_setting() -> None:
    lax = SHOP + "nlu: {threshold: 0.05}\n"
    e = engine(lax)
    e.start("s")
    r = e.handle("s", "which football team do you support")
    assert r.trace.rule == "intent" and classified(r)[0].threshold == 0.05


def test_the_classifier_can_be_turned_off() -> None:
    e = engine(SHOP + "nlu: {enabled: false}\n")
    e.start("s")
    r = e.handle("s", "wher is my pakage")
    assert r.trace.rule == "no_match" and classified(r) == []


ZH = """\
flow: shop_zh
language: zh
start: menu
intents:
  track:
    keywords: [查订单]
    examples: [我的快递到哪了, 订单什么时候到, 包裹发货了吗, 我买的东西还没收到, 帮我看看物流]
  refund:
    keywords: [退款]
    examples: [我要退货, 东西坏了想退, 怎么申请退钱, 我不想要了能退吗, 商品有问题要退回]
states:
  menu:
    on: {track: tracking, refund: refunding}
  tracking: {say: 查询中, final: true}
  refunding: {say: 退款中, final: true}
"""


def test_chinese_paraphrases_match_without_a_tokeniser() -> None:
    e = engine(ZH)
    e.start("s")
    assert e.handle("s", "我的包裹什么时候能到").state == "tracking"
    e.start("t")
    assert e.handle("t", "东西有问题我想退").state == "refunding"


def test_candidates_are_named_in_the_prompt_when_the_classifier_abstains(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    e = engine(SHOP.replace("states:", "fallback: {mode: understand}\nstates:"), llm=client)
    e.start("s")
    fake.script(FakeReply.json({"intent": None, "slots": {}}))
    e.handle("s", "which football team do you support")
    assert "best guesses" not in fake.requests[-1]["messages"][0]["content"]  # off by default
    e = engine(
        SHOP.replace("states:", "fallback: {mode: understand}\nnlu: {candidates: true}\nstates:"),
        llm=client,
    )
    e.start("s")
    fake.script(FakeReply.json({"intent": "track", "slots": {}}))
    r = e.handle("s", "which football team do you support")
    assert r.trace.rule == "llm" and r.state == "tracking"
    system = fake.requests[-1]["messages"][0]["content"]
    c = classified(r)[0]
    assert f"its best guesses were: {c.best} ({c.confidence:.2f}), {c.runner_up}" in system


# ----------------------------------------------------------------- the cache


def counting() -> tuple[list[TrainingSet], Any]:
    fitted: list[TrainingSet] = []

    def fit(data: TrainingSet) -> IntentModel:
        fitted.append(data)
        return train(data)

    return fitted, fit


def test_a_cached_model_is_loaded_not_trained_again(tmp_path: Path) -> None:
    fitted, fit = counting()
    loaded = [parse_flow(SHOP, path="shop.yaml")]
    first = compile_flows(loaded, trainer=CachedTrainer(tmp_path, train=fit))
    assert len(fitted) == 1 and len(list(tmp_path.glob("nlu-*.npz"))) == 1
    restarted = CachedTrainer(tmp_path, train=fit)  # a new process, the same folder
    again = compile_flows(loaded, trainer=restarted)
    assert len(fitted) == 1 and restarted.fits == 0
    text = "wher is my pakage"
    from dialogue.runtime.rules import prepare

    before = first.flows["shop"].states["menu"].classifier
    after = again.flows["shop"].states["menu"].classifier
    assert before is not None and after is not None
    assert before.classify(prepare(text)) == after.classify(prepare(text))


def test_changed_examples_train_again(tmp_path: Path) -> None:
    fitted, fit = counting()
    trainer = CachedTrainer(tmp_path, train=fit)
    compile_flows([parse_flow(SHOP, path="shop.yaml")], trainer=trainer)
    changed = SHOP.replace("      - where is my order\n", "      - where is my stuff\n")
    compile_flows([parse_flow(changed, path="shop.yaml")], trainer=trainer)
    assert len(fitted) == 2 and trainer.fits == 2
    assert len(list(tmp_path.glob("nlu-*.npz"))) == 2
    # settings that change the model change the key too
    a = training_set(parse_flow(SHOP, path="a.yaml").flow)
    b = training_set(parse_flow(SHOP + "nlu: {background: false}\n", path="a.yaml").flow)
    assert a is not None and b is not None and a.key() != b.key()


def test_an_unreadable_cache_file_is_trained_again(tmp_path: Path) -> None:
    fitted, fit = counting()
    trainer = CachedTrainer(tmp_path, train=fit)
    data = training_set(parse_flow(SHOP, path="shop.yaml").flow)
    assert data is not None
    trainer.path(data).write_bytes(b"not a model")
    trainer(data)
    assert len(fitted) == 1
    assert IntentModel.load(trainer.path(data)).classes == data.classes


def test_engine_from_path_keeps_models_beside_the_flow(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(SHOP, encoding="utf-8")
    Engine.from_path(tmp_path / "shop.yaml", llm=None)
    assert len(list((tmp_path / ".dialogue-cache").glob("nlu-*.npz"))) == 1
    elsewhere = tmp_path / "models"
    load_bot(tmp_path / "shop.yaml", nlu_cache=elsewhere)
    assert len(list(elsewhere.glob("nlu-*.npz"))) == 1
    load_bot(tmp_path / "shop.yaml", nlu_cache=False)
    assert len(list(tmp_path.rglob("nlu-*.npz"))) == 2


# ----------------------------------------------------------------- optional


def test_without_the_extra_a_warning_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "sklearn"] + ["sklearn"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    # other examples than elsewhere: a model trained earlier in this process is not reused
    unique = SHOP.replace("- where is my order\n", "- where is my order now\n")
    bot = compile_flows([parse_flow(unique, path="shop.yaml")])
    (warning,) = [w for w in bot.warnings if w.code == "nlu_not_installed"]
    assert str(warning) == (
        "shop.yaml:7:7: warning: intents have examples but scikit-learn is not installed: "
        "matching by keywords and patterns only\n    hint: pip install 'dialogue[nlu]'"
    )
    e = Engine(bot)
    e.start("s")
    assert e.handle("s", "track it").state == "tracking"  # keywords still work
    assert e.handle("s", "wher is my pakage").trace.rule == "no_match"
    with pytest.raises(MissingExtra, match="scikit-learn"):
        train(TrainingSet((("a", ("x",)), ("b", ("y",)))))


def test_one_intent_with_examples_is_a_warning() -> None:
    one = """\
flow: f
start: s
intents:
  a: {keywords: [a], examples: [alpha one, alpha two]}
  b: {keywords: [b]}
states:
  s: {on: {a: s, b: s}}
"""
    bot = compile_flows([parse_flow(one, path="f.yaml")])
    assert "nlu_one_intent" in [w.code for w in bot.warnings]
    assert bot.flows["f"].states["s"].classifier is None


def test_import_dialogue_imports_neither_sklearn_nor_numpy() -> None:
    code = (
        "import sys, dialogue\n"
        "from dialogue import Engine\n"
        "print(sorted(m for m in ('sklearn', 'numpy', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------- dialogue eval


EVAL_CSV = """\
text,intent
wher is my pakage,track
has my parcl shipped,track
I want my mony back,refund
can I return this thing,refund
which football team do you support,out_of_scope
what is the capital of peru,out_of_scope
"""


def test_eval_counts_the_classifier_and_sweeps_the_threshold(tmp_path: Path) -> None:
    from dialogue.testing.evaluation import evaluate, sweep

    (tmp_path / "data.csv").write_text(EVAL_CSV, encoding="utf-8")
    flow = compile_flows([parse_flow(SHOP, path="shop.yaml")]).flows["shop"]
    report = evaluate(flow, tmp_path / "data.csv")
    assert report.target.classifier is not None
    assert report.in_scope_accuracy.total == 4 and report.oos_recall.total == 2
    guesses = [p for p in report.predictions if p.confidence is not None]
    assert len(guesses) == 6  # no keyword fires on any of them
    rows = sweep(report, [0.0, 0.5, 1.0])
    assert rows[0].oos_recall.hits == 0  # threshold 0: everything is taken
    assert rows[-1].in_scope_accuracy.hits == 0 and rows[-1].oos_recall.hits == 2
    assert rows[1].in_scope_accuracy == report.in_scope_accuracy
    assert rows[1].oos_recall == report.oos_recall
    ins = [r.in_scope_accuracy.hits for r in rows]
    oos = [r.oos_recall.hits for r in rows]
    assert ins == sorted(ins, reverse=True) and oos == sorted(oos)


def test_eval_cli_prints_the_sweep_table(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dialogue.cli.main import main

    (tmp_path / "shop.yaml").write_text(SHOP, encoding="utf-8")
    (tmp_path / "data.csv").write_text(EVAL_CSV, encoding="utf-8")
    args = ["eval", str(tmp_path / "shop.yaml"), str(tmp_path / "data.csv"), "--sweep"]
    out = CliRunner().invoke(main, args).output
    assert "rules, then the classifier at threshold 0.5" in out
    assert "  classifier threshold  in-scope accuracy  out-of-scope recall  accuracy" in out
    assert "<- the flow's" in out.splitlines()[-10]
    assert len([line for line in out.splitlines() if line.strip().startswith("0.")]) == 19


# ----------------------------------------------------------------- dialogue validate


def test_validate_warns_about_few_examples_and_confusable_intents() -> None:
    text = """\
flow: f
start: s
intents:
  track:
    examples:
      [where is my order, track my order, has my order shipped, order status, when is it here]
  status:
    examples: [what is my order status, my order where is, is my order shipped]
  refund:
    examples: [I want my money back, refund please]
states:
  s: {on: {track: s, status: s, refund: s}}
"""
    warnings = [str(w) for w in compile_flows([parse_flow(text, path="f.yaml")]).warnings]
    assert (
        "f.yaml:8:15: warning: intent 'status' has 3 examples; the classifier learns little "
        "from fewer than 5\n    hint: add examples worded differently (or lower nlu.min_examples)"
    ) in warnings
    assert (
        "f.yaml:8:15: warning: intents 'track' and 'status' have overlapping examples "
        "('where is my order' in both, words in any order); the classifier will confuse them\n"
        "    hint: make their examples differ, or merge the two intents"
    ) in warnings
    assert not any("'refund' and" in w or "and 'refund'" in w for w in warnings)
    assert any("intent 'refund' has 2 examples" in w for w in warnings)
    assert not any("intent 'track' has" in w for w in warnings)


def test_without_numpy_either_a_flow_still_loads_with_the_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A plain ``pip install dialogue`` has neither scikit-learn nor numpy: the example
    bot must start (keywords only) with the warning, never a traceback."""
    gone = ("sklearn", "numpy", "scipy", "dialogue.nlu.model", "dialogue.nlu.train")
    for name in [m for m in sys.modules if m.split(".")[0] in gone or m in gone] + list(gone):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    unique = SHOP.replace("- where is my order\n", "- where is my order please\n")
    (tmp_path / "shop.yaml").write_text(unique, encoding="utf-8")
    for cache in (tmp_path / "cache", False):  # the cached trainer and the in-memory one
        e = Engine.from_path(tmp_path / "shop.yaml", nlu_cache=cache)
        (warning,) = [w for w in e.bot.warnings if w.code == "nlu_not_installed"]
        assert warning.hint == "pip install 'dialogue[nlu]'"
        e.start("s")
        assert e.handle("s", "track it").state == "tracking"
