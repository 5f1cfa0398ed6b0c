"""Prompt templates: the sandbox, checks at validate time, overrides, history and
what the rendered system message holds. Requests go through the real SDK to the
loopback fake server; ``FakeChatServer.requests`` shows what was sent."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jinja2 import TemplateSyntaxError

from dialogue import Engine, FlowErrors, compile_flows, parse_flow
from dialogue.cli.main import main
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.runtime.llm_contract import MAX_PROMPT_CHARS, make_prompt_environment
from dialogue.runtime.templates import RenderError, compile_text, make_environment
from dialogue.testing import FakeChatServer, FakeReply

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "flows"
SETTINGS = {"retries": 0, "timeout": 2.0}
ACTION_ERROR = ["Sorry, something went wrong on our side."]


Make = Callable[..., Engine]


@pytest.fixture
def make(client: OpenAIChatClient) -> Iterator[Make]:
    """An engine over flow text, with prompt and knowledge files given as ``assets``."""
    engines: list[Engine] = []

    def build(text: str, assets: Mapping[str, str] | None = None, **options: Any) -> Engine:
        bot = compile_flows([parse_flow(text, path="flow.yaml", assets=assets)])
        options.setdefault("llm_settings", SETTINGS)
        engines.append(Engine(bot, llm=client, **options))
        return engines[-1]

    yield build
    for engine in engines:
        engine.close()


def system(fake: FakeChatServer) -> str:
    content = fake.requests[-1]["messages"][0]["content"]
    assert isinstance(content, str)
    return content


def nothing() -> FakeReply:
    return FakeReply.json({"intent": None, "slots": {}, "reply": None})


ASK = """
flow: faq
description: Questions about the shop
start: ask
fallback: {mode: respond, prompt: custom.j2}
intents:
  bye: {keywords: [bye]}
states:
  ask:
    say: "Ask me anything."
    on: {bye: done}
  done: {say: "Bye!", final: true}
"""

# --------------------------------------------------------------------------- the packaged prompt


def test_packaged_default_prompt_is_prompts_default_byte_for_byte() -> None:
    packaged = resources.files("dialogue").joinpath("prompts").joinpath("default.j2").read_bytes()
    assert packaged == (ROOT / "prompts" / "default.j2").read_bytes()


def test_every_example_prompt_compiles_with_only_the_context_names() -> None:
    from dialogue.runtime.llm_contract import PROMPT_NAMES
    from dialogue.runtime.templates import referenced_names

    env = make_prompt_environment()
    for path in sorted((ROOT / "prompts").glob("*.j2")):
        names = referenced_names(env, path.read_text(encoding="utf-8"))
        assert names <= PROMPT_NAMES, (path.name, names - PROMPT_NAMES)


# --------------------------------------------------------------------------- sandbox: prompts

ESCAPES = [
    pytest.param("{{ flow.__class__ }}", id="dunder-attribute"),
    pytest.param("{{ flow.__class__.__mro__[1].__subclasses__() }}", id="subclasses"),
    pytest.param("{{ flow|attr('__class__') }}", id="attr-filter"),
    pytest.param("{{ '{0.__class__}'.format(flow) }}", id="str-format"),
    pytest.param("{{ '{0.__class__}'.format_map({'0': flow}) }}", id="str-format-map"),
    pytest.param("{{ '%s'|format(flow.__class__) }}", id="format-filter"),
    pytest.param("{{ cycler.__init__.__globals__ }}", id="cycler-globals"),
    pytest.param("{{ joiner.__class__.__mro__ }}", id="joiner-mro"),
    pytest.param("{{ namespace.__init__.__globals__ }}", id="namespace-globals"),
    pytest.param("{{ lipsum.__globals__ }}", id="lipsum-globals"),
    pytest.param("{{ self._TemplateReference__context }}", id="self-context"),
    pytest.param("{{ intents.append(1) }}", id="mutate-list"),
    pytest.param("{{ flow.update(name='x') }}", id="mutate-dict"),
    pytest.param("{% for i in range(10**9) %}{% endfor %}", id="huge-range"),
]


@pytest.mark.parametrize("source", ESCAPES)
def test_prompt_escape_is_refused_at_render_time(
    make: Make, fake: FakeChatServer, source: str
) -> None:
    """It compiles (only names and filters are checked up front), then fails
    when the state's prompt is rendered: a degraded turn, nothing sent, the
    stored session as it was."""
    engine = make(ASK, {"custom.j2": f"You answer questions. {source}"})
    engine.start("s")
    before = engine.session("s")
    result = engine.handle("s", "when are you open?")
    assert result.replies == ACTION_ERROR and result.trace.rule == "error"
    assert result.trace.errors[0].startswith("RenderError: "), result.trace.errors
    assert fake.requests == []
    assert engine.session("s") == before


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ config }}", "unknown name 'config' in prompt 'custom.j2' line 1"),
        ("{{ os.system('id') }}", "unknown name 'os' in prompt 'custom.j2' line 1"),
        ("{{ request }}", "unknown name 'request' in prompt 'custom.j2' line 1"),
        ("{{ user_text }}", "unknown name 'user_text' in prompt 'custom.j2' line 1"),
        ("{{ slots_values }}", "unknown name 'slots_values' in prompt 'custom.j2' line 1"),
        ("{{ flow|nosuch }}", "prompt 'custom.j2' line 1: unknown filter 'nosuch'"),
        ("{% if flow is nosuch %}x{% endif %}", "prompt 'custom.j2' line 1: unknown test 'nosuch'"),
        (
            "{{ flow.name",
            "prompt 'custom.j2' line 1: unexpected end of template, "
            "expected 'end of print statement'.",
        ),
    ],
)
def test_prompt_mistakes_are_refused_at_compile_time(source: str, message: str) -> None:
    with pytest.raises(FlowErrors) as caught:
        compile_flows([parse_flow(ASK, path="flow.yaml", assets={"custom.j2": source})])
    [error] = caught.value.diagnostics
    assert (error.path, error.line, error.col, error.message) == ("flow.yaml", 5, 35, message)


# --------------------------------------------------------------------------- sandbox: replies

REPLY_FLOW = """
flow: r
start: a
slots:
  card: {type: any}
  items: {type: any}
intents:
  go: {keywords: [go]}
states:
  a:
    set: {card: {holder: Ann}, items: [1, 2]}
    say: "Say go."
    on: {go: b}
  b:
    say: "%s"
    final: true
"""


def reply_source(source: str) -> str:
    """The prompt escape, over a reply's names: a dict slot and a list slot."""
    return source.replace("flow", "card").replace("intents", "items").replace('"', '\\"')


@pytest.mark.parametrize("source", ESCAPES)
def test_reply_escape_is_refused_and_the_session_kept(make: Make, source: str) -> None:
    engine = make(REPLY_FLOW % reply_source(source))
    engine.start("s")
    before = engine.session("s")
    result = engine.handle("s", "go")
    assert result.replies == ACTION_ERROR and result.trace.rule == "error"
    assert result.trace.errors[0].startswith("RenderError: "), result.trace.errors
    assert engine.session("s") == before


def test_degraded_result_reports_the_session_as_stored(make: Make) -> None:
    """The reply of the state entered fails: the result is where the session
    still is (the store's copy), not where the failed turn had got to."""
    engine = make(REPLY_FLOW % reply_source("{{ card.__class__ }}"))
    engine.start("s")
    result = engine.handle("s", "go")
    stored = engine.session("s")
    assert stored is not None and stored.state == "a"
    assert (result.state, result.trace.state_after) == ("a", "a")
    assert result.slots == stored.slots == {"card": {"holder": "Ann"}, "items": [1, 2]}


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("{{ 'ab' * 10**6 }}", id="string-repeat"),
        pytest.param("{{ ([0] * 10**6)|length }}", id="list-repeat"),
        pytest.param("{{ lipsum(2000)|length }}", id="lipsum"),
        pytest.param("{{ ([1] * 10**7)|length }}", id="repeat-not-folded-at-compile-time"),
        pytest.param("{{ (2 ** 100000)|string|length }}", id="power"),
    ],
)
@pytest.mark.parametrize(
    "env", [make_environment, make_prompt_environment], ids=["reply", "prompt"]
)
def test_resource_exhaustion_is_refused(env: Callable[[], Any], source: str) -> None:
    """Jinja folds constant expressions while compiling: without bounds on ``*`` and
    ``**``, ``{{ [1] * 10**8 }}`` took 22 s and 800 MB in ``compile_text``."""
    with pytest.raises((RenderError, TemplateSyntaxError)):
        compile_text(env(), source).render({})


# --------------------------------------------------------------------------- dialogue validate


def validate(*paths: Path) -> Any:
    runner = CliRunner(env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None})
    return runner.invoke(main, ["validate", *map(str, paths)])


VALIDATED = """\
flow: f
start: ask
fallback:
  mode: both
  prompt: prompts/main.j2
states:
  ask:
    say: "Ask me."
    on: {bye: done}
    fallback:
      prompt: prompts/ask.j2
  other:
    say: "Other."
    on: {bye: done}
  done: {say: "Bye!", final: true}
intents:
  bye: {keywords: [bye]}
"""


def write(tmp_path: Path, main_prompt: str, ask_prompt: str) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "main.j2").write_text(main_prompt, encoding="utf-8")
    (tmp_path / "prompts" / "ask.j2").write_text(ask_prompt, encoding="utf-8")
    path = tmp_path / "flow.yaml"
    path.write_text(VALIDATED, encoding="utf-8")
    return path


GOOD = "You help with {{ flow.name }}.\n{% for i in intents %}- {{ i.name }}\n{% endfor %}"
HINT = (
    "    hint: prompts may use: candidates, flow, intents, knowledge, language, mode, pending,"
    " slots, state, today"
)


def test_validate_accepts_prompts_over_the_context_names(tmp_path: Path) -> None:
    result = validate(write(tmp_path, GOOD, GOOD))
    assert result.exit_code == 0, result.output


def test_validate_reports_an_unknown_name_in_each_prompt_where_it_is_named(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "Hello {{ flow.name }}.\n{{ secret }}\n", "Hi.\n\n  {{ customer }}")
    result = validate(path)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:5:11: unknown name 'secret' in prompt 'prompts/main.j2' line 2",
        HINT,
        f"{path}:11:15: unknown name 'customer' in prompt 'prompts/ask.j2' line 3",
        HINT,
    ]


def test_validate_reports_syntax_errors_with_the_prompt_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "Hi.\n{% for i in intents %}\n{{ i.name }}\n")
    result = validate(path)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{path}:11:15: prompt 'prompts/ask.j2' line 3: Unexpected end of template. "
        "Jinja was looking for the following tags: 'endfor' or 'else'. "
        "The innermost block that needs to be closed is 'for'."
    )


def test_validate_checks_the_flow_prompt_even_when_every_state_overrides_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "p.j2").write_text("{{ secret }}", encoding="utf-8")
    (tmp_path / "q.j2").write_text(GOOD, encoding="utf-8")
    path = tmp_path / "flow.yaml"
    path.write_text(
        "flow: f\nstart: a\nfallback: {prompt: p.j2}\n"
        "states:\n  a:\n    say: hi\n    final: true\n    fallback: {prompt: q.j2}\n",
        encoding="utf-8",
    )
    result = validate(path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:3:20: unknown name 'secret' in prompt 'p.j2' line 1",
        HINT,
    ]


# --------------------------------------------------------------------------- per-state override


def tuesday() -> datetime.datetime:
    return datetime.datetime(2026, 11, 24, 10, 0)


def test_restaurant_menu_prompt_override_is_used_in_the_menu_only(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = Engine.from_path(
        FLOWS / "restaurant.yaml", llm=client, llm_settings=SETTINGS, clock=tuesday
    )
    engine.start("s")
    fake.script(FakeReply.json({"intent": None, "slots": {}, "reply": "Yes, on the terrace."}))
    menu = engine.handle("s", "can I bring my dog?")
    assert menu.replies == ["Yes, on the terrace."] and menu.state == "menu"
    assert menu.trace.llm is not None and menu.trace.llm.prompt == "../prompts/restaurant.j2"
    override = system(fake)
    assert override.startswith("You are the host of a restaurant")
    assert "- Dogs are welcome on the terrace." in override
    assert '"reply":' in override  # the menu's own mode: both

    engine.handle("s", "book a table")
    fake.script(FakeReply.json({"intent": None, "slots": {}}))
    booking = engine.handle("s", "whenever my aunt arrives")
    assert booking.trace.llm is not None and booking.trace.llm.prompt == "default"
    assert booking.trace.llm.mode == "understand"
    default = system(fake)
    assert default.startswith('You are the assistant of "restaurant"')
    assert "Dogs" not in default and '"reply":' not in default
    schema = fake.requests[-1]["response_format"]["json_schema"]["schema"]
    assert list(schema["properties"]) == ["intent", "slots"]
    # open now: the pending date, and the time, which names itself; the party size
    # (a bare number) only as the answer to its own question, as with the rules
    assert list(schema["properties"]["slots"]["properties"]) == ["date", "time"]
    engine.close()


OVERRIDE = """
flow: two
start: a
fallback: {mode: respond}
intents:
  next: {keywords: [next]}
states:
  a:
    say: "A."
    on: {next: b}
    fallback: {prompt: special.j2}
  b:
    say: "B."
    on: {next: a}
"""


def test_a_state_prompt_is_used_in_that_state_only(make: Make, fake: FakeChatServer) -> None:
    engine = make(OVERRIDE, {"special.j2": "SPECIAL prompt for {{ state.name }} ({{ mode }})."})
    engine.start("s")
    prompts = []
    for text in ["hmm", "next", "hmm", "next", "hmm"]:
        fake.script(FakeReply.text("fine"))
        result = engine.handle("s", text)
        if result.trace.llm is not None:
            prompts.append((result.state, result.trace.llm.prompt, system(fake)[:7]))
    assert prompts == [
        ("a", "special.j2", "SPECIAL"),
        ("b", "default", "You are"),
        ("a", "special.j2", "SPECIAL"),
    ]
    assert fake.requests[0]["messages"][0]["content"] == "SPECIAL prompt for a (respond)."


# --------------------------------------------------------------------------- history


def history_flow(turns: int, chars: int) -> str:
    return ASK.replace("prompt: custom.j2", "prompt: default") + (
        f"llm: {{history_turns: {turns}, history_chars: {chars}}}\n"
    )


def talk(engine: Engine, fake: FakeChatServer, texts: list[str]) -> list[dict[str, str]]:
    engine.start("s")
    for text in texts:
        fake.script(FakeReply.text(f"answer to {text[:8]}"))
        engine.handle("s", text)
    messages: list[dict[str, str]] = fake.requests[-1]["messages"]
    return messages


def test_history_is_bounded_by_turns(make: Make, fake: FakeChatServer) -> None:
    texts = [f"question {i}" for i in range(6)]
    messages = talk(make(history_flow(2, 4000)), fake, texts)
    assert [m["role"] for m in messages] == ["system", "user", "assistant"] * 1 + [
        "user",
        "assistant",
        "user",
    ]
    assert [m["content"] for m in messages[1:]] == [
        "question 3",
        "answer to question",
        "question 4",
        "answer to question",
        "question 5",
    ]


def test_history_is_bounded_by_characters(make: Make, fake: FakeChatServer) -> None:
    texts = [f"{i}" * 300 for i in range(5)]
    messages = talk(make(history_flow(6, 700)), fake, texts)
    history = messages[1:-1]
    assert [m["content"][:3] for m in history if m["role"] == "user"] == ["222", "333"]
    assert sum(len(m["content"]) for m in history) <= 700
    assert messages[-1] == {"role": "user", "content": "4" * 300}


def test_no_history_with_zero_turns(make: Make, fake: FakeChatServer) -> None:
    messages = talk(make(history_flow(0, 4000)), fake, ["one", "two", "three"])
    assert [m["role"] for m in messages] == ["system", "user"]


def test_history_holds_only_what_the_session_kept(make: Make, fake: FakeChatServer) -> None:
    """The session keeps ``history_turns`` of the Engine (or the flow's settings);
    the LLM gets at most that, however many its own ``history_turns`` allows."""
    engine = make(history_flow(6, 4000), history_turns=1)
    messages = talk(engine, fake, ["one", "two", "three"])
    assert [m["content"] for m in messages[1:]] == ["two", "answer to two", "three"]


def test_long_user_messages_are_cut_in_history(make: Make, fake: FakeChatServer) -> None:
    messages = talk(make(history_flow(6, 4000)), fake, ["x" * 1500, "short"])
    assert messages[1] == {"role": "user", "content": "x" * 500}
    assert messages[-1] == {"role": "user", "content": "short"}


# --------------------------------------------------------------------------- what the prompt holds


def shop(client: OpenAIChatClient, **options: Any) -> Engine:
    return Engine.from_path(
        FLOWS / "customer_service.yaml", llm=client, llm_settings=SETTINGS, **options
    )


def test_both_mode_with_a_pending_slot(client: OpenAIChatClient, fake: FakeChatServer) -> None:
    engine = shop(client)
    engine.start("s")
    engine.handle("s", "where is my order")
    fake.script(nothing())
    engine.handle("s", "hmm")
    prompt = re.sub(r"Today is \d{4}-\d{2}-\d{2}\.", "Today is DATE.", system(fake))
    assert prompt.startswith(
        'You are the assistant of "customer_service": Help desk of an online shop - '
        "order status, returns, handoff to a person.\nAlways answer in English. "
        "Today is DATE.\n"
        'The conversation is at the step "tracking": Look up an order and tell its status.\n'
        'Your last message asked the customer for "order_id" '
        "(pattern: The order number printed on the receipt).\n"
    )
    for allowed in [
        "- thanks",
        "- help: What the bot can do (a digression - the task resumes)",
        "- human: Hand the conversation to a person",
        "- cancel: Drop the current task and go back to the menu",
        "- order_id (pattern): The order number printed on the receipt",
        '"reply": if the message is a question or remark you can answer from the knowledge',
        "(do not repeat your question: it will be asked again)",
        "\nKnowledge:\n# Shop FAQ",
        "Opening hours of customer service: Monday to Saturday, 8:00 to 20:00",
    ]:
        assert allowed in prompt, allowed
    for other in ["- track", "- return", "- goodbye", "- greet", "- reason", "- confirmed"]:
        assert other not in prompt, other
    schema = fake.requests[-1]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["intent"]["enum"] == [
        *("thanks", "help", "human", "cancel", "speak_chinese", "speak_english", None)
    ]
    engine.close()


def test_default_prompt_lists_one_intent_and_one_slot_per_line(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client)
    engine.start("s")
    engine.handle("s", "I want to return something")
    fake.script(nothing())
    engine.handle("s", "hmm")
    lines = system(fake).splitlines()
    engine.close()
    assert "- thanks" in lines and "- human: Hand the conversation to a person" in lines
    assert "- order_id (pattern): The order number printed on the receipt" in lines
    assert (
        "- reason (enum: one of damaged, wrong item, changed mind): "
        "Why the customer sends the item back"
    ) in lines
    assert not any("confirmed" in line for line in lines)  # not asked yet: not open


UNDERSTAND = """
flow: pizza
language: zh
start: order
fallback: {mode: understand}
slots:
  size: {type: enum, description: 尺寸, values: {小: [], 大: []}, ask: "要多大的？"}
  count: {type: integer, min: 1, max: 9, ask: "几个？"}
  when: {type: time, ask: "几点？"}
intents:
  cancel: {scope: global, description: 取消订单, keywords: [取消], goto: order}
states:
  order:
    collect: [size, count, when]
    next: [{goto: done}]
  done: {say: "好的。", final: true}
"""


def test_understand_mode_prompt_and_schema(make: Make, fake: FakeChatServer) -> None:
    engine = make(UNDERSTAND)
    engine.start("s")
    fake.script(nothing())
    engine.handle("s", "随便")
    prompt = system(fake)
    assert "Always answer in Simplified Chinese (简体中文)." in prompt
    assert 'Your last message asked the customer for "size" (enum: 尺寸).' in prompt
    assert "- cancel: 取消订单" in prompt
    assert "- size (enum: one of 小, 大): 尺寸" in prompt
    assert "- when (a time as HH:MM (24-hour clock))" in prompt
    assert "count" not in prompt  # a bare number: open only while its question is pending
    assert '"reply"' not in prompt and "knowledge" not in prompt.lower()
    schema = fake.requests[-1]["response_format"]["json_schema"]
    assert schema["strict"] is True
    properties = schema["schema"]["properties"]
    assert list(properties) == ["intent", "slots"]
    assert properties["slots"]["properties"] == {
        "size": {"type": ["string", "null"], "enum": ["小", "大", None]},
        "when": {"type": ["string", "null"], "description": "a time as HH:MM (24-hour clock)"},
    }


RESPOND = """
flow: faq
description: Questions about the shop
start: ask
fallback: {mode: respond, knowledge: faq.md}
slots:
  email: {type: email, ask: "Your email?"}
states:
  ask:
    collect: [email]
    next: [{goto: done}]
  done: {say: "Thanks.", final: true}
"""


def test_respond_mode_prompt_has_the_knowledge_and_no_schema(
    make: Make, fake: FakeChatServer
) -> None:
    engine = make(RESPOND, {"faq.md": "- We deliver on Saturdays.\n- Returns are free."})
    engine.start("s")
    fake.script(FakeReply.text("Yes, on Saturdays too."))
    result = engine.handle("s", "do you deliver at weekends?")
    assert result.replies == ["Yes, on Saturdays too.", "Your email?"]
    prompt = system(fake)
    assert "Answer the customer's last message in one to three short, friendly sentences" in prompt
    assert "Do not repeat your question: it will be asked again after your answer." in prompt
    assert prompt.rstrip().endswith("Knowledge:\n- We deliver on Saturdays.\n- Returns are free.")
    assert '"intent"' not in prompt and '"slots"' not in prompt
    assert "response_format" not in fake.requests[-1]


def test_respond_mode_without_knowledge_says_so(make: Make, fake: FakeChatServer) -> None:
    engine = make(RESPOND.replace(", knowledge: faq.md", ""))
    engine.start("s")
    fake.script(FakeReply.text("I can't help with that here."))
    engine.handle("s", "do you deliver at weekends?")
    assert (
        system(fake)
        .rstrip()
        .endswith("There is no knowledge text: do not answer questions of fact.")
    )


def big_knowledge(size: int) -> str:
    line = "- A fact the designer wrote, one of many in this long FAQ.\n"
    return line * (size // len(line)) + "- LAST FACT.\n"


def test_rendered_system_message_is_capped(make: Make, fake: FakeChatServer) -> None:
    engine = make(RESPOND, {"faq.md": big_knowledge(60_000)})
    engine.start("s")
    fake.script(FakeReply.text("ok"))
    engine.handle("s", "hello?")
    assert len(system(fake)) <= MAX_PROMPT_CHARS
    assert fake.requests[-1]["messages"][-1] == {"role": "user", "content": "hello?"}


def test_knowledge_within_the_cap_reaches_the_llm_whole(make: Make, fake: FakeChatServer) -> None:
    """Prompts are cut at MAX_PROMPT_CHARS, not at the 4,000 characters of a reply."""
    engine = make(RESPOND, {"faq.md": big_knowledge(10_000)})
    engine.start("s")
    fake.script(FakeReply.text("ok"))
    engine.handle("s", "hello?")
    assert system(fake).rstrip().endswith("- LAST FACT.")
