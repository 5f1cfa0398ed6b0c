from __future__ import annotations

import random
from pathlib import Path

import pytest

from dialogue.authoring.loader import LoadedFlow, load_flow, load_flows, parse_flow
from dialogue.errors import FlowError, FlowErrors

FLOWS = Path(__file__).parent / "flows"
INVALID = sorted(p for p in (FLOWS / "invalid").glob("*.yaml") if not p.name.startswith("compile_"))
"""``compile_*`` fixtures are problems the compiler finds; their test is elsewhere."""

MINIMAL = "flow: orders\nstart: menu\nstates:\n  menu:\n    final: true\n"


def errors(text: str) -> list[str]:
    """Every diagnostic of a flow text, each as ``line:col: message``."""
    with pytest.raises(FlowError) as info:
        parse_flow(text, path="f.yaml")
    exc = info.value
    found = exc.diagnostics if isinstance(exc, FlowErrors) else [exc.diagnostic]
    return [f"{d.line}:{d.col}: {d.message}" for d in found]


def first(text: str) -> FlowError:
    with pytest.raises(FlowError) as info:
        parse_flow(text, path="f.yaml")
    return info.value.errors[0] if isinstance(info.value, FlowErrors) else info.value


def flow(*lines: str) -> str:
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_fixture(path: Path) -> None:
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    expect = header.removeprefix("# expect: ")
    with pytest.raises(FlowError) as info:
        load_flow(str(path))
    assert str(info.value.diagnostic).startswith(f"{path}:{expect}")


def test_there_are_enough_invalid_fixtures() -> None:
    assert len(INVALID) >= 14


@pytest.mark.parametrize("path", sorted((FLOWS / "valid").glob("*.yaml")), ids=lambda p: p.stem)
def test_valid_fixture(path: Path) -> None:
    loaded = load_flow(path)
    assert loaded.path == path
    assert loaded.source.path == str(path)
    assert loaded.flow.states


def test_valid_fixture_details() -> None:
    orders = load_flow(FLOWS / "valid" / "orders.yaml").flow
    assert orders.states["menu"].on["track"][0].goto == "tracking"
    assert [t.if_ for t in orders.states["menu"].on["return"]] == ["order_id", None]
    assert orders.states["goodbye"].final is True  # 'final: yes'
    assert orders.slots["reason"].values == {  # type: ignore[union-attr]
        "damaged": ("broken", "cracked"),
        "wrong item": ("wrong size",),
        "changed mind": (),
    }
    assert orders.intents["help"].scope == "global"


# --------------------------------------------------------------------------- parse_flow


def test_parse_flow() -> None:
    loaded = parse_flow(MINIMAL)
    assert isinstance(loaded, LoadedFlow)
    assert loaded.path is None
    assert loaded.source.path == "<string>"
    assert loaded.flow.flow == "orders"
    assert loaded.source.keys[("states", "menu", "final")] == (5, 5)


def test_parse_flow_accepts_bytes() -> None:
    assert parse_flow(MINIMAL.encode()).flow.start == "menu"


def test_yaml_errors_come_through() -> None:
    with pytest.raises(FlowError) as info:
        parse_flow("flow: [\n", path="f.yaml")
    assert info.value.code == "yaml_syntax"
    assert str(info.value).startswith("f.yaml:2:1: invalid YAML: expected the node content")


# --------------------------------------------------------------------------- messages


def test_unknown_key_with_did_you_mean() -> None:
    exc = first(flow("flow: orders", "start: menu", "states:", "  menu:", "    sey: Hi"))
    assert str(exc) == (
        "f.yaml:5:5: unknown key 'sey' in state 'menu'\n    hint: did you mean 'say' or 'set'?"
    )
    assert exc.code == "unknown_key"


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    exc = first(flow("flow: orders", "start: menu", "states:", "  menu: {final: true}", "zzz: 1"))
    assert str(exc) == (
        "f.yaml:5:1: unknown key 'zzz' at the top level\n"
        "    hint: allowed keys: flow, description, version, language, languages, start, imports, "
        "actions_module, settings, slots, intents, events, states, fallback, llm, nlu"
    )


def test_unknown_key_in_settings_slot_intent_and_fallback() -> None:
    text = flow(
        "flow: orders",
        "start: menu",
        "settings: {history: 3}",
        "fallback: {no_macth: Sorry}",
        "slots:",
        "  size: {type: enum, value: [s, m]}",
        "intents:",
        "  track: {keywords: track, example: where is it}",
        "states:",
        "  menu: {final: true}",
    )
    exc = pytest.raises(FlowErrors, parse_flow, text, path="f.yaml").value
    assert [str(d) for d in exc.diagnostics] == [
        "f.yaml:3:12: unknown key 'history' in the flow's settings\n"
        "    hint: did you mean 'history_turns'?",
        "f.yaml:4:12: unknown key 'no_macth' in the flow's fallback\n"
        "    hint: did you mean 'no_match'?",
        "f.yaml:6:3: missing required key 'values' in slot 'size'\n"
        "    hint: list the enum's values, e.g. 'values: [small, medium, large]'",
        "f.yaml:6:22: unknown key 'value' in slot 'size'\n    hint: did you mean 'values'?",
        "f.yaml:8:28: unknown key 'example' in intent 'track'\n    hint: did you mean 'examples'?",
    ]


def test_unknown_key_uses_aliases() -> None:
    text = flow(
        "flow: orders",
        "start: menu",
        "states:",
        "  menu:",
        "    call: {action: look, wiht: {a: b}}",
        "    next:",
        "      - iff: x",
        "        goto: menu",
    )
    assert [
        str(d).split("\n")[1] for d in pytest.raises(FlowErrors, parse_flow, text).value.diagnostics
    ] == [
        "    hint: did you mean 'with'?",
        "    hint: did you mean 'if'?",
    ]
    assert errors(text) == [
        "5:26: unknown key 'wiht' in state 'menu', under 'call'",
        "7:9: unknown key 'iff' in state 'menu', under 'next[0]'",
    ]


def test_unknown_key_inside_a_shorthand_transition_points_at_the_key() -> None:
    # 'on: {track: {...}}' becomes a list of one transition: pydantic's loc has a 0 the YAML lacks
    text = flow(
        "flow: orders",
        "start: menu",
        "intents:",
        "  track: {keywords: track}",
        "states:",
        "  menu:",
        "    on:",
        "      track:",
        "        goto: menu",
        "        sya: Tracking",
    )
    assert errors(text) == ["10:9: unknown key 'sya' in state 'menu', under 'on.track'"]


def test_unknown_key_in_a_transition_list() -> None:
    text = flow(
        "flow: orders",
        "start: menu",
        "states:",
        "  menu:",
        "    on:",
        "      track:",
        "        - goto: menu",
        "        - {goto: menu, sya: x}",
    )
    assert errors(text) == ["8:24: unknown key 'sya' in state 'menu', under 'on.track[1]'"]


def test_missing_keys() -> None:
    exc = pytest.raises(FlowErrors, parse_flow, "# a flow\ndescription: x\n", path="f.yaml").value
    assert [str(d) for d in exc.diagnostics] == [
        "f.yaml:2:1: missing required key 'flow' at the top level\n"
        "    hint: add 'flow: <name>'; other flows call this one by its name",
        "f.yaml:2:1: missing required key 'start' at the top level\n"
        "    hint: add 'start: <state>' naming the state the conversation begins in",
        "f.yaml:2:1: missing required key 'states' at the top level\n"
        "    hint: add 'states:' with at least one state",
    ]
    assert exc.code == "missing_key"


def test_missing_key_points_at_the_enclosing_mapping() -> None:
    text = flow(
        "flow: orders",
        "start: menu",
        "slots:",
        "  size:",
        "    type: enum",
        "states:",
        "  menu:",
        "    call:",
        "      into: size",
    )
    assert errors(text) == [
        "4:3: missing required key 'values' in slot 'size'",
        "8:5: missing required key 'action' in state 'menu', under 'call'",
    ]


def test_unknown_slot_type() -> None:
    text = flow("flow: o", "start: m", "slots:", "  x:", "    type: enm", "states: {m: {}}")
    exc = first(text)
    assert str(exc) == (
        "f.yaml:5:11: unknown slot type 'enm' in slot 'x'; did you mean 'enum'?\n"
        "    hint: slot types: text, integer, number, boolean, enum, pattern, email, phone, "
        "date, time, any"
    )
    assert exc.code == "unknown_slot_type"
    text = flow("flow: o", "start: m", "slots:", "  x: {type: 5}", "states: {m: {}}")
    assert errors(text) == ["4:13: unknown slot type 5 in slot 'x'"]


def test_slot_without_type() -> None:
    text = flow("flow: o", "start: m", "slots:", "  x:", "    ask: What?", "states: {m: {}}")
    exc = first(text)
    assert str(exc) == (
        "f.yaml:4:3: slot 'x' needs a 'type'\n"
        "    hint: add 'type:' with one of: text, integer, number, boolean, enum, pattern, "
        "email, phone, date, time, any"
    )
    assert exc.code == "missing_slot_type"


def test_slot_written_as_its_type() -> None:
    exc = first(flow("flow: o", "start: m", "slots:", "  x: text", "states: {m: {}}"))
    assert str(exc) == (
        "f.yaml:4:6: slot 'x': expected a mapping, got a string\n"
        "    hint: write it as a mapping: 'x: {type: text}'"
    )


TOP = "at the top level"
SETTINGS = "in the flow's settings"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("description: [a, b]", f"'description' {TOP}: expected a string, got a list"),
        ("version: {a: 1}", f"'version' {TOP}: expected a string, got a mapping"),
        ("actions_module: true", f"'actions_module' {TOP}: expected a string, got a boolean"),
        (
            "imports: {a: 1}",
            f"'imports' {TOP}: expected a string or a list of strings, got a mapping",
        ),
        ("settings: 5", f"'settings' {TOP}: expected a mapping, got a number"),
        (
            "settings: {history_turns: many}",
            f"'history_turns' {SETTINGS}: expected a whole number, got 'many'",
        ),
        (
            "settings: {history_turns: 2.5}",
            f"'history_turns' {SETTINGS}: expected a whole number, got 2.5",
        ),
        (
            "settings: {action_timeout: soon}",
            f"'action_timeout' {SETTINGS}: expected a number, got 'soon'",
        ),
        (
            "settings: {action_timeout: [1]}",
            f"'action_timeout' {SETTINGS}: expected a number, got a list",
        ),
        (
            "fallback: {no_match: {a: b}}",
            "'no_match' in the flow's fallback: expected a string or a list of strings, "
            "got a mapping",
        ),
    ],
)
def test_wrong_types_at_the_top(line: str, expected: str) -> None:
    text = flow("flow: orders", "start: menu", line, "states: {menu: {final: true}}")
    (found,) = errors(text)
    assert found.split(": ", 1)[1] == expected
    assert first(text).code == "wrong_type"


MENU = "in state 'menu'"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("hello", "6:9: state 'menu': expected a mapping, got a string"),
        ("{final: maybe}", f"6:17: 'final' {MENU}: expected true or false, got 'maybe'"),
        ("{final: [true]}", f"6:17: 'final' {MENU}: expected true or false, got a list"),
        (
            "{say: 5}",
            f"6:15: 'say' {MENU}: expected a string or a list of strings, got a number",
        ),
        ("{say: [a, [b]]}", f"6:19: 'say[1]' {MENU}: expected a string, got a list"),
        (
            "{on: {x: 5}}",
            f"6:18: 'on.x' {MENU}: expected a state name, a transition or a list of "
            "transitions, got a number",
        ),
        ("{on: {x: {goto: 5}}}", f"6:25: 'on.x.goto' {MENU}: expected a string, got a number"),
        (
            "{next: 5}",
            f"6:16: 'next' {MENU}: expected a state name, a transition or a list of "
            "transitions, got a number",
        ),
        ("{next: [{if: 3}]}", f"6:22: 'next[0].if' {MENU}: expected a string, got a number"),
        ("{call: lookup}", f"6:16: 'call' {MENU}: expected a mapping, got a string"),
        (
            "{call: {action: a, with: 1}}",
            f"6:34: 'call.with' {MENU}: expected a mapping, got a number",
        ),
        (
            "{call: {action: a, timeout: 0}}",
            f"6:37: 'call.timeout' {MENU}: must be more than 0, got 0",
        ),
        (
            "{no_match: {max: 0.5}}",
            f"6:26: 'no_match.max' {MENU}: expected a whole number, got 0.5",
        ),
        ("{no_match: {max: 100}}", f"6:26: 'no_match.max' {MENU}: must be at most 50, got 100"),
        ("{set: [a]}", f"6:15: 'set' {MENU}: expected a mapping, got a list"),
    ],
)
def test_wrong_values_in_a_state(state: str, expected: str) -> None:
    text = flow(
        "flow: orders",
        "start: menu",
        "intents:",
        "  x: {keywords: x}",
        "states:",
        f"  menu: {state}",
    )
    assert errors(text) == [expected]


def test_null_value_hint() -> None:
    exc = first(flow("flow: o", "start: m", "states:", "  m:", "    say:"))
    assert str(exc) == (
        "f.yaml:5:9: 'say' in state 'm': expected a string or a list of strings, got null\n"
        "    hint: write a value after the colon, or remove the key"
    )


def test_number_where_a_string_is_expected_hint() -> None:
    exc = first(flow("flow: o", "version: 1.10", "start: m", "states: {m: {}}"))
    assert str(exc) == (
        "f.yaml:2:10: 'version' at the top level: expected a string, got a number\n"
        "    hint: put the value in quotes to make it a string"
    )


def test_bad_choice() -> None:
    text = flow(
        "flow: o", "start: m", "slots: {x: {type: text, normalize: lowercase}}", "states: {m: {}}"
    )
    assert str(first(text)) == (
        "f.yaml:3:36: 'normalize' in slot 'x': 'lowercase' is not one of "
        "'none', 'upper', 'lower', 'title', 'strip_spaces'\n"
        "    hint: did you mean 'lower'?"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            flow("flow: o", "start: m", "slots:", "  order-id: {type: text}", "states: {m: {}}"),
            "f.yaml:4:3: 'order-id' is not a valid slot name: use letters, digits and _, "
            "not starting with a digit\n    hint: did you mean 'order_id'?",
        ),
        (
            flow("flow: o", "start: m", "intents:", "  2fa: {keywords: code}", "states: {m: {}}"),
            "f.yaml:4:3: '2fa' is not a valid intent name: use letters, digits and _, "
            "not starting with a digit\n    hint: did you mean '_2fa'?",
        ),
        (
            flow("flow: o", "start: m", "states:", "  m: {}", "  main menu: {}"),
            "f.yaml:5:3: 'main menu' is not a valid state name: use letters, digits and _, "
            "not starting with a digit\n    hint: did you mean 'main_menu'?",
        ),
        (
            flow("flow: my-flow", "start: m", "states: {m: {}}"),
            "f.yaml:1:7: 'my-flow' is not a valid flow name: use letters, digits and _, "
            "not starting with a digit\n    hint: did you mean 'my_flow'?",
        ),
        (
            flow("flow: o", "start: m", "states:", "  m: {call: {action: a, into: order id}}"),
            "f.yaml:4:31: 'order id' is not a valid slot name: use letters, digits and _, "
            "not starting with a digit\n    hint: did you mean 'order_id'?",
        ),
        (
            flow("flow: o", "start: m", "states:", "  m: {}", "  '-': {}"),
            "f.yaml:5:3: '-' is not a valid state name: use letters, digits and _, "
            "not starting with a digit",
        ),
    ],
)
def test_bad_names(text: str, expected: str) -> None:
    exc = first(text)
    assert str(exc) == expected
    assert exc.code == "bad_name"


def test_unicode_names_are_fine() -> None:
    assert (
        parse_flow(flow("flow: 订单", "start: 菜单", "states: {菜单: {final: true}}")).flow.start
        == "菜单"
    )


def test_bounds() -> None:
    text = flow(
        "flow: o",
        "start: m",
        "settings: {history_turns: -1, max_text_length: 0}",
        "slots:",
        "  n: {type: integer, max_attempts: -1}",
        "  t: {type: text, max_length: 0}",
        "states: {}",
    )
    assert errors(text) == [
        "3:27: 'history_turns' in the flow's settings: must be at least 0, got -1",
        "3:48: 'max_text_length' in the flow's settings: must be at least 1, got 0",
        "5:36: 'max_attempts' in slot 'n': must be at least 1, got -1",
        "6:31: 'max_length' in slot 't': must be at least 1, got 0",
        "7:9: 'states' at the top level: needs at least 1 entry, got 0",
    ]
    assert first(text).code == "out_of_range"


def test_model_validator_messages() -> None:
    text = flow(
        "flow: o",
        "start: m",
        "slots:",
        "  size: {type: enum, values: []}",
        "  n:",
        "    type: integer",
        "    min: 5",
        "    max: 1",
        "  code:",
        "    type: pattern",
        "    pattern: '[A-Z'",
        "intents:",
        "  a: {description: nothing to match}",
        "  b:",
        "    keywords: b",
        "    say: Hi",
        "  c: {scope: global, keywords: c}",
        "  d: {scope: global, keywords: d, goto: m, flow: other}",
        "  e: {keywords: e, patterns: ['(']}",
        "states: {m: {}}",
    )
    assert errors(text) == [
        "4:3: slot 'size': an enum slot needs at least one value",
        "7:5: slot 'n': min (5) is greater than max (1)",
        "11:5: slot 'code': pattern is not a valid regular expression: "
        "unterminated character set at position 0",
        "13:3: intent 'a': an intent needs 'keywords', 'patterns' or 'examples', or it can "
        "never match",
        "16:5: intent 'b': 'say' is only for global intents; a local intent's moves are "
        "written in each state's 'on'",
        "17:3: intent 'c': a global intent needs 'say', 'goto', 'flow' or 'language' to say "
        "what it does",
        "18:3: intent 'd': a global intent takes 'goto' (switch) or 'flow' (digress), not both",
        "19:3: intent 'e': pattern '(' is not a valid regular expression: "
        "missing ), unterminated subpattern at position 0",
    ]
    assert first(text).code == "invalid"


def test_all_errors_are_collected_in_file_order() -> None:
    text = flow(
        "flow: orders",
        "start: menu",
        "language: French",
        "states:",
        "  menu:",
        "    sey: Hi",
        "    final: maybe",
        "slots:",
        "  size: {type: enm}",
    )
    exc = pytest.raises(FlowErrors, parse_flow, text, path="f.yaml").value
    assert [f"{d.line}:{d.col}: {d.code}" for d in exc.diagnostics] == [
        "3:11: invalid",
        "6:5: unknown_key",
        "7:12: wrong_type",
        "9:16: unknown_slot_type",
    ]
    assert str(exc).count("f.yaml:") == 4
    assert exc.diagnostic == exc.diagnostics[0]


def test_deep_regex_is_an_error_not_a_crash() -> None:
    pattern = "(" * 2000 + ")" * 2000
    text = flow(
        "flow: o",
        "start: m",
        "slots:",
        f"  x: {{type: pattern, pattern: '{pattern}'}}",
        "states: {m: {}}",
    )
    exc = first(text)
    assert exc.code == "invalid"
    assert (exc.line, exc.col) == (4, 22)
    assert "pattern is nested too deeply to compile" in exc.message


def test_random_damage_gives_flow_errors_only() -> None:
    source = (FLOWS / "valid" / "orders.yaml").read_text(encoding="utf-8")
    rng = random.Random(11)
    pieces = [
        "",
        " ",
        "\n",
        ":",
        "- ",
        "[",
        "{",
        "}",
        "'",
        "\t",
        "&a ",
        "*a",
        "!!int ",
        "x",
        "1",
        "null",
    ]
    for _ in range(400):
        text = list(source)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(text))
            text[at : at + rng.randrange(3)] = rng.choice(pieces)
        try:
            parse_flow("".join(text))
        except FlowError:
            pass


# --------------------------------------------------------------------------- files


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def sub_flow(name: str, *imports: str) -> str:
    listed = f"imports: [{', '.join(imports)}]\n" if imports else ""
    return f"flow: {name}\nstart: s\n{listed}states:\n  s:\n    final: true\n"


def test_load_flow(tmp_path: Path) -> None:
    file = write(tmp_path / "main.yaml", MINIMAL)
    loaded = load_flow(file)
    assert loaded.path == file
    assert loaded.source.path == str(file)
    assert load_flow(str(file)).source.path == str(file)


def test_load_flow_errors_name_the_file(tmp_path: Path) -> None:
    file = write(tmp_path / "main.yaml", "flow: orders\nstart: menu\nstates: {menu: {sey: x}}\n")
    with pytest.raises(FlowError) as info:
        load_flow(file)
    assert str(info.value).startswith(f"{file}:3:17: unknown key 'sey' in state 'menu'")


def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FlowError) as info:
        load_flow(tmp_path / "nope.yaml")
    assert info.value.code == "file_not_found"
    assert str(info.value) == (
        f"{tmp_path / 'nope.yaml'}:1:1: file not found\n    hint: check the path and the file name"
    )


def test_unreadable(tmp_path: Path) -> None:
    with pytest.raises(FlowError) as info:
        load_flow(tmp_path)
    assert info.value.code == "unreadable"
    assert str(info.value) == f"{tmp_path}:1:1: this is a directory, not a flow file"


def test_file_too_large(tmp_path: Path) -> None:
    file = write(tmp_path / "big.yaml", "# " + "x" * 1_000_000 + "\n")
    with pytest.raises(FlowError) as info:
        load_flow(file)
    assert info.value.code == "file_too_large"
    assert info.value.message == "the file is 1,000,003 bytes, more than the limit of 1,000,000"


def test_load_flows_follows_imports_transitively(tmp_path: Path) -> None:
    write(tmp_path / "main.yaml", sub_flow("main", "a.yaml", "sub/b.yaml"))
    write(tmp_path / "a.yaml", sub_flow("a", "sub/b.yaml"))
    write(tmp_path / "sub" / "b.yaml", sub_flow("b", "c.yaml"))
    write(tmp_path / "sub" / "c.yaml", sub_flow("c"))
    write(tmp_path / "unrelated.yaml", sub_flow("unrelated"))
    loaded = load_flows(tmp_path / "main.yaml")
    assert [lf.flow.flow for lf in loaded] == ["main", "a", "b", "c"]
    assert loaded[3].path == tmp_path / "sub" / "c.yaml"


def test_import_cycles_are_fine(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", sub_flow("a", "b.yaml"))
    write(tmp_path / "b.yaml", sub_flow("b", "a.yaml", "./b.yaml"))
    assert [lf.flow.flow for lf in load_flows(tmp_path / "a.yaml")] == ["a", "b"]


def test_import_not_found(tmp_path: Path) -> None:
    main = write(tmp_path / "main.yaml", sub_flow("main", "a.yaml", "missing.yaml"))
    write(tmp_path / "a.yaml", sub_flow("a"))
    with pytest.raises(FlowError) as info:
        load_flows(main)
    assert info.value.code == "import_not_found"
    assert str(info.value) == (
        f"{main}:3:19: imported file 'missing.yaml' not found "
        f"(looked for {tmp_path / 'missing.yaml'})\n"
        "    hint: paths in 'imports' are relative to the folder of the importing file"
    )


def test_duplicate_flow(tmp_path: Path) -> None:
    main = write(tmp_path / "main.yaml", sub_flow("main", "a.yaml"))
    a = write(tmp_path / "a.yaml", sub_flow("main"))
    with pytest.raises(FlowError) as info:
        load_flows(main)
    assert info.value.code == "duplicate_flow"
    assert str(info.value) == (
        f"{a}:1:7: flow 'main' is already defined in {main}\n"
        "    hint: give each flow its own 'flow:' name"
    )


def test_problems_in_several_files_are_reported_together(tmp_path: Path) -> None:
    main = write(tmp_path / "main.yaml", sub_flow("main", "a.yaml", "b.yaml", "gone.yaml"))
    write(tmp_path / "a.yaml", "flow: a\nstart: s\nstates: {s: {sey: x}}\n")
    write(tmp_path / "b.yaml", "flow: [b\n")
    with pytest.raises(FlowErrors) as info:
        load_flows(main)
    assert [(Path(d.path).name, d.code) for d in info.value.diagnostics] == [
        ("a.yaml", "unknown_key"),
        ("b.yaml", "yaml_syntax"),
        ("main.yaml", "import_not_found"),
    ]


def test_load_flows_from_a_directory(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", sub_flow("b", "lib/shared.yaml"))
    write(tmp_path / "a.yml", sub_flow("a", "b.yaml"))
    write(tmp_path / "c.yaml", sub_flow("c", "lib/shared.yaml"))
    write(tmp_path / "lib" / "shared.yaml", sub_flow("shared"))
    write(tmp_path / "lib" / "ignored.yaml", sub_flow("ignored"))
    write(tmp_path / "orders.test.yaml", "- not a flow\n")
    write(tmp_path / "orders.test.yml", "- not a flow\n")
    write(tmp_path / "test_orders.yaml", "- not a flow\n")
    write(tmp_path / "notes.txt", "- not a flow\n")
    (tmp_path / "dir.yaml").mkdir()
    assert [lf.flow.flow for lf in load_flows(tmp_path)] == ["a", "b", "shared", "c"]
    assert [lf.flow.flow for lf in load_flows(str(tmp_path / "lib"))] == ["ignored", "shared"]


def test_load_flows_valid_fixtures() -> None:
    loaded = load_flows(FLOWS / "valid")
    assert [lf.flow.flow for lf in loaded] == ["address", "orders", "pizza_zh"]
    assert [lf.flow.flow for lf in load_flows(FLOWS / "valid" / "orders.yaml")] == [
        "orders",
        "address",
    ]


def test_load_flows_of_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FlowError) as info:
        load_flows(tmp_path / "nope")
    assert info.value.code == "file_not_found"
