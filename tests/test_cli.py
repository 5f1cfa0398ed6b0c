"""The ``dialogue`` command, through click's CliRunner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dialogue.cli.main import main

FLOWS = Path(__file__).resolve().parent.parent / "flows"
EXAMPLES = [
    ("customer_service.yaml", "customer_service"),
    ("restaurant.yaml", "restaurant, contact_details"),
    ("contact_details.yaml", "contact_details"),
]
SHOP = str(FLOWS / "customer_service.yaml")
RESTAURANT = str(FLOWS / "restaurant.yaml")

BROKEN = """\
flow: broken
start: menu
states:
  menu:
    say: "Hi"
    next:
      - goto: nowhere
"""

TYPO = """\
flow: orders
start: confirm
slots:
  address:
    type: text
    ask: "Where to?"
states:
  confirm:
    collect: [adress]
    final: true
"""

WARNED = """\
flow: warned
start: a
states:
  a:
    say: "Hi"
    final: true
  b:
    say: "Never said"
    final: true
"""


OFFLINE = {"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None}
"""``chat`` makes an LLM client from these when set; the tests run without one."""


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner(env=OFFLINE).invoke(main, list(args), input=input)


def lines(text: str) -> list[str]:
    return text.splitlines()


# --------------------------------------------------------------------------- validate


@pytest.mark.parametrize(("name", "flows"), EXAMPLES)
def test_validate_example(name: str, flows: str) -> None:
    path = str(FLOWS / name)
    result = run("validate", "--strict", path)
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == [f"ok: {path} ({flows}; 0 warnings)"]
    assert result.stderr == ""


def test_validate_the_flows_directory() -> None:
    result = run("validate", str(FLOWS))
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == [
        f"ok: {FLOWS} (contact_details, customer_service, restaurant; 0 warnings)"
    ]


def test_validate_several_files() -> None:
    result = run("validate", SHOP, RESTAURANT)
    assert result.exit_code == 0
    assert [line.split(" (")[0] for line in lines(result.stdout)] == [
        f"ok: {SHOP}",
        f"ok: {RESTAURANT}",
    ]


@pytest.mark.parametrize(
    ("text", "diagnostic", "hint"),
    [
        (BROKEN, "7:15: unknown state 'nowhere' in state 'menu'", "known states: 'menu'"),
        (TYPO, "9:15: unknown slot 'adress' in state 'confirm'", "did you mean 'address'?"),
    ],
)
def test_validate_broken_flow(tmp_path: Path, text: str, diagnostic: str, hint: str) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert lines(result.stderr) == [f"{path}:{diagnostic}", f"    hint: {hint}"]
    assert result.stdout == ""


def test_validate_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert f"{path}:1:1: file not found" in lines(result.stderr)


def test_validate_goes_on_after_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = run("validate", str(path), SHOP)
    assert result.exit_code == 1
    assert lines(result.stdout) == [f"ok: {SHOP} (customer_service; 0 warnings)"]


def test_validate_prints_warnings(tmp_path: Path) -> None:
    path = tmp_path / "warned.yaml"
    path.write_text(WARNED, encoding="utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 0
    assert lines(result.stdout) == [f"ok: {path} (warned; 1 warning)"]
    assert lines(result.stderr) == [
        f"{path}:7:3: warning: state 'b' can never be reached",
        "    hint: no transition leads to it from the start state 'a'",
    ]


def test_validate_strict_fails_on_warnings(tmp_path: Path) -> None:
    path = tmp_path / "warned.yaml"
    path.write_text(WARNED, encoding="utf-8")
    result = run("validate", "--strict", str(path))
    assert result.exit_code == 1
    assert f"{path}:7:3: warning: state 'b' can never be reached" in lines(result.stderr)


def test_validate_needs_a_path() -> None:
    assert run("validate").exit_code == 2


# --------------------------------------------------------------------------- chat

SHOP_HI = (
    "bot> Hi! I'm the shop assistant. I can track an order, start a return, or get you a person."
)


def bot_lines(result: Result) -> list[str]:
    return [line for line in lines(result.stdout) if line.startswith("bot> ")]


def test_chat_tracks_an_order() -> None:
    result = run("chat", SHOP, input="hello\nwhere is my order\nAB123456\n/quit\n")
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert out[0] == (
        "Chatting with flow 'customer_service'. Type /quit to leave, /reset to start over."
    )
    assert bot_lines(result) == [
        SHOP_HI,
        "bot> Hello! Would you like to track an order or start a return?",
        "bot> What's your order number? It looks like AB123456.",
        "bot> Your order AB123456 is on its way and should arrive Thursday. "
        "Can I help with anything else?",
    ]
    assert "you> hello" in out


def test_chat_trace() -> None:
    result = run("chat", SHOP, "--trace", input="hello\nwhere is my order\n/quit\n")
    assert result.exit_code == 0, result.output
    assert lines(result.stdout)[1:] == [
        "note: no LLM configured (set OPENAI_API_KEY, or pass llm=... to the Engine): "
        "rules work as usual; unmatched messages get the flow's no-match replies",
        SHOP_HI,
        "  [1] Track an order",
        "  [2] Start a return",
        "  [3] Talk to a person",
        "     [start] welcome -> menu",
        "     steps: enter welcome > enter menu",
        "you> hello",
        "bot> Hello! Would you like to track an order or start a return?",
        "     [intent greet ('hello')] menu -> menu",
        "you> where is my order",
        "bot> What's your order number? It looks like AB123456.",
        "     [intent track ('where is my order')] menu -> tracking",
        "     steps: enter tracking > ask order_id",
        "you> /quit",
    ]


def test_chat_trace_shows_slot_changes() -> None:
    result = run("chat", SHOP, "--trace", input="track\nZZ999999\n/quit\n")
    assert "     [slot] tracking -> tracking" in lines(result.stdout)


def test_chat_reset_starts_over() -> None:
    result = run("chat", SHOP, "--session", "s1", input="return\n/reset\nAB123456\n/exit\n")
    assert result.exit_code == 0
    assert bot_lines(result) == [
        SHOP_HI,
        "bot> What's your order number? It looks like AB123456.",
        SHOP_HI,
        "bot> Sorry, I didn't get that. I can track an order, start a return, or get you a person.",
    ]


def test_chat_ended_conversation_can_start_again() -> None:
    result = run("chat", SHOP, input="bye\nhello\n")
    assert result.exit_code == 0
    out = lines(result.stdout)
    assert "bot> Thanks for visiting. Bye!" in out
    ended = out.index("(conversation ended; type to start again, /quit to leave)")
    assert out[ended + 1 :] == [
        "you> hello",
        SHOP_HI,
        "bot> Hello! Would you like to track an order or start a return?",
        "you> ",
    ]


def test_chat_in_a_language_and_switching_it() -> None:
    result = run("chat", SHOP, "--language", "zh", input="你好\n/lang en\nhello\n/lang fr\n/lang\n")
    assert result.exit_code == 0, result.output
    assert bot_lines(result) == [
        "bot> 您好！我是网店小助手，可以帮您查询订单、办理退货，或者转接人工客服。",
        "bot> 您好！请问是要查询订单，还是办理退货？",
        "bot> Hello! Would you like to track an order or start a return?",
    ]
    assert "(language: en)" in result.stdout and "languages: en, zh" in result.stdout
    assert "error: language 'fr' is not one the flow speaks" in result.stderr
    refused = run("chat", SHOP, "--language", "fr", input="")
    assert refused.exit_code == 1
    assert "error: language 'fr' is not one the flow speaks" in refused.stderr


def test_chat_handoff_keeps_quiet_until_resume() -> None:
    result = run("chat", SHOP, input="agent\nhello?\n/resume\nhello\n")
    assert result.exit_code == 0
    out = lines(result.stdout)
    note = "(handed to a person: asked_for_person; the bot keeps quiet until /resume)"
    first = out.index(note)
    assert out[first - 1] == "bot> I'm connecting you to a person now. Please hold on."
    assert out[first + 1 :] == [
        "you> hello?",
        "(handed to a person; the bot keeps quiet until /resume)",
        "you> /resume",
        "(the bot has the conversation again)",
        "you> hello",
        SHOP_HI,
        "bot> Hello! Would you like to track an order or start a return?",
        "you> ",
    ]


def test_chat_chinese_and_sub_flows() -> None:
    zh = run("chat", SHOP, input="查订单ＡＢ１２３４５６\n")  # detected: answered in Chinese
    assert bot_lines(zh)[-1] == "bot> 订单 AB123456 运输中，预计周四送达。还有什么可以帮您？"
    text = "book a table for 2 on the day after tomorrow at 8pm\nAnn\n"
    restaurant = run("chat", RESTAURANT, "--trace", input=text)
    out = lines(restaurant.stdout)
    assert "bot> What name should the booking be under?" in out
    book = r"     [intent book ('(?:table|booking|book) for (?P<party_size>\\d{1,2})\\b')]"
    assert any(line.startswith(f"{book} menu -> asking | ") for line in out)
    assert "     [slot] asking -> asking | name='Ann'" in out


def test_chat_broken_flow(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = run("chat", str(path), input="hello\n")
    assert result.exit_code == 1
    assert lines(result.stderr)[0] == f"{path}:7:15: unknown state 'nowhere' in state 'menu'"
    assert result.stdout == ""


def test_chat_unknown_action(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "flow: f\nstart: a\nstates:\n  a:\n    call: {action: lookup}\n    final: true\n",
        encoding="utf-8",
    )
    result = run("chat", str(path))
    assert result.exit_code == 1
    assert lines(result.stderr)[0] == f"{path}:5:20: unknown action 'lookup'"


def test_chat_trace_is_the_same_in_every_run() -> None:
    outputs = set()
    for seed in ("1", "2"):
        env = {k: v for k, v in os.environ.items() if k not in OFFLINE}
        env["PYTHONHASHSEED"] = seed
        done = subprocess.run(
            [sys.executable, "-m", "dialogue.cli", "chat", SHOP, "--trace"],
            input="return AB123456 broken\n/quit\n",
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1, outputs


# --------------------------------------------------------------------------- schema


def test_schema() -> None:
    result = run("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert {"flow", "start", "slots", "intents", "states"} <= schema["properties"].keys()
    assert schema["required"] == ["flow", "start", "states"]
    assert schema["title"] == "dialogue flow"


# --------------------------------------------------------------------------- graph


def test_graph_mermaid() -> None:
    result = run("graph", SHOP)
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert out[0] == "stateDiagram-v2"
    for line in [
        "[*] --> welcome",
        "welcome --> menu: next",
        "menu --> tracking: track",
        "menu --> returning: return",
        "menu --> goodbye: goodbye",
        "tracking --> tracking: [order is none]",
        "tracking --> lookup_failed: lookup_order fails",
        "tracking --> handoff: order_id attempts exhausted",
        "returning --> filing: [confirmed]",
        "filing --> handoff: create_return fails",
        "any_state --> handoff: human",
        "any_state --> menu: cancel",
        "handoff --> [*]",
        "goodbye --> [*]",
    ]:
        assert f"    {line}" in out


def test_graph_dot() -> None:
    result = run("graph", RESTAURANT, "--format", "dot")
    assert result.exit_code == 0
    out = lines(result.stdout)
    assert out[0] == 'digraph "restaurant" {'
    assert out[-1] == "}"
    assert '    "__start" -> "welcome";' in out
    assert '    "menu" -> "booking" [label="book"];' in out
    assert '    "confirming" -> "call_us" [label="book_table fails"];' in out
    assert '    "goodbye" [peripheries=2];' in out


def test_graph_sub_flow() -> None:
    result = run("graph", RESTAURANT, "--flow", "contact_details")
    assert result.exit_code == 0
    assert lines(result.stdout) == [
        "stateDiagram-v2",
        "    %% flow contact_details: The guest's name and phone number",
        "    [*] --> asking",
        "    asking --> done: next",
        "    done --> [*]",
    ]


def test_graph_unknown_flow() -> None:
    result = run("graph", RESTAURANT, "--flow", "nope")
    assert result.exit_code == 2
    assert (
        "Error: Invalid value for --flow: no flow 'nope'; flows: restaurant, contact_details"
        in lines(result.stderr)
    )


def test_graph_broken_flow(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = run("graph", str(path))
    assert result.exit_code == 1
    assert lines(result.stderr)[0] == f"{path}:7:15: unknown state 'nowhere' in state 'menu'"


def test_validate_checks_the_actions_module(tmp_path: Path) -> None:
    (tmp_path / "acts.py").write_text("def lookup(order_id):\n    return None\n")
    flow = tmp_path / "f.yaml"
    flow.write_text(
        "flow: f\n"
        "start: a\n"
        "actions_module: acts.py\n"
        "states:\n"
        "  a:\n"
        "    call: {action: lookup_order, into: order}\n"
        "    say: '{{ order }}'\n"
        "    final: true\n",
        encoding="utf-8",
    )
    result = run("validate", str(flow))
    assert result.exit_code == 1
    assert lines(result.stderr) == [
        f"{flow}:6:20: unknown action 'lookup_order'",
        "    hint: registered actions: lookup",
    ]


def test_validate_strict_says_failed(tmp_path: Path) -> None:
    flow = tmp_path / "w.yaml"
    flow.write_text(
        "flow: w\nstart: a\nstates:\n  a: {say: hi, final: true}\n  b: {say: lost, final: true}\n",
        encoding="utf-8",
    )
    result = run("validate", "--strict", str(flow))
    assert result.exit_code == 1
    assert lines(result.stdout) == [f"failed (--strict): {flow} (w; 1 warning)"]


def test_chat_store_url_is_checked() -> None:
    result = run("chat", SHOP, "--store", "bogus", input="/quit\n")
    assert result.exit_code == 1
    assert "error: store URL 'bogus' has no scheme" in result.stderr


def test_chat_with_a_persistent_store_continues_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    first = run("chat", SHOP, "--store", url, "--session", "me", input="where is my order\n")
    assert first.exit_code == 0, first.output
    assert "bot> What's your order number? It looks like AB123456." in lines(first.stdout)
    again = run("chat", SHOP, "--store", url, "--session", "me", input="AB123456\n/quit\n")
    assert again.exit_code == 0, again.output
    said = lines(again.stdout)
    assert not any("I'm the shop assistant" in line for line in said)  # no new greeting
    assert any(line.startswith("bot> Order AB123456") for line in said)


def test_chat_says_when_examples_go_unused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the [nlu] extra the example bot still chats (keywords only), and says
    how to make it understand paraphrases and typos."""
    for name in [m for m in sys.modules if m.split(".")[0] in ("sklearn", "numpy")]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("sklearn", "numpy", "dialogue.nlu.model", "dialogue.nlu.train"):
        monkeypatch.setitem(sys.modules, name, None)
    result = run("chat", SHOP, input="where is my order\n/quit\n")
    assert result.exit_code == 0, result.output
    note = (
        "note: intents have examples but scikit-learn is not installed: matching by "
        "keywords and patterns only (pip install 'dialogue[nlu]')"
    )
    assert note in lines(result.stdout)
    assert "bot> What's your order number? It looks like AB123456." in lines(result.stdout)
