from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from dialogue.authoring import yaml_source
from dialogue.authoring.yaml_source import SourceMap, dotted, kind_of, load_yaml, show
from dialogue.errors import FlowError, FlowErrors

DOC = """\
# a comment
flow: orders
states:
  menu:
    say: [Hello, Hi]
    on: {track: tracking}
"""


def error(text: str | bytes, **options: Any) -> FlowError:
    with pytest.raises(FlowError) as info:
        load_yaml(text, path="f.yaml", **options)
    return info.value


def message(text: str | bytes, **options: Any) -> str:
    return str(error(text, **options))


# --------------------------------------------------------------------------- data and positions


def test_data_and_value_positions() -> None:
    data, source = load_yaml(DOC, path="f.yaml")
    assert data == {
        "flow": "orders",
        "states": {"menu": {"say": ["Hello", "Hi"], "on": {"track": "tracking"}}},
    }
    assert source.path == "f.yaml"
    assert source.values[()] == (2, 1)
    assert source.values[("flow",)] == (2, 7)
    assert source.values[("states",)] == (4, 3)
    assert source.values[("states", "menu")] == (5, 5)
    assert source.values[("states", "menu", "say")] == (5, 10)
    assert source.values[("states", "menu", "say", 0)] == (5, 11)
    assert source.values[("states", "menu", "say", 1)] == (5, 18)
    assert source.values[("states", "menu", "on", "track")] == (6, 17)


def test_key_positions_differ_from_value_positions() -> None:
    _, source = load_yaml(DOC, path="f.yaml")
    assert source.keys[("states", "menu", "say")] == (5, 5)
    assert source.position(("states", "menu", "say")) == (5, 10)
    assert source.key_position(("states", "menu", "say")) == (5, 5)
    assert source.keys[("states", "menu", "on", "track")] == (6, 10)
    # list items have no key: key_position falls back to the value
    assert source.key_position(("states", "menu", "say", 0)) == (5, 11)


def test_position_uses_the_longest_known_prefix() -> None:
    _, source = load_yaml(DOC, path="f.yaml")
    assert source.position(("states", "menu", "on", "track", 0, "goto")) == (6, 17)
    assert source.position(("states", "nowhere", "say")) == (4, 3)
    assert source.key_position(("states", "menu", "collect")) == (5, 5)
    assert SourceMap("x", {}, {}).position(("a",)) == (1, 1)


def test_diagnostic_at_value_or_key() -> None:
    _, source = load_yaml(DOC, path="f.yaml")
    loc = ("states", "menu", "say")
    at_value = source.diagnostic(loc, "some_code", "a message", "a hint")
    assert str(at_value) == "f.yaml:5:10: a message\n    hint: a hint"
    at_key = source.diagnostic(loc, "some_code", "a message", severity="warning", at_key=True)
    assert str(at_key) == "f.yaml:5:5: warning: a message"
    assert at_key.code == "some_code"


def test_positions_with_bom_and_crlf() -> None:
    text = "\ufeffflow: orders\r\nstates:\r\n  menu:\r\n    say: Hello\r\n"
    for given in (text, text.encode("utf-8")):
        data, source = load_yaml(given, path="f.yaml")
        assert data == {"flow": "orders", "states": {"menu": {"say": "Hello"}}}
        assert source.keys[("flow",)] == (1, 1)
        assert source.values[("states", "menu", "say")] == (4, 10)
        assert source.keys[("states", "menu")] == (3, 3)


def test_errors_after_crlf_lines_have_the_right_line() -> None:
    assert message(b"\xef\xbb\xbfa: 1\r\nb: 2\r\na: 3\r\n").startswith("f.yaml:3:1: duplicate key")


def test_position_inside_multiline_strings() -> None:
    _, source = load_yaml("a: |\n  one\n  two\nb: x\n", path="f.yaml")
    assert source.values[("b",)] == (4, 4)


# --------------------------------------------------------------------------- YAML 1.2 scalars


def test_on_off_yes_no_stay_strings() -> None:
    data, _ = load_yaml("on: {yes: no, off: y, n: On}\nlist: [yes, No, OFF]\n", path="f.yaml")
    assert data == {"on": {"yes": "no", "off": "y", "n": "On"}, "list": ["yes", "No", "OFF"]}


def test_true_and_false_in_any_case_are_booleans() -> None:
    data, _ = load_yaml("a: [true, True, TRUE, tRuE, false, False, FALSE]\n", path="f.yaml")
    assert data == {"a": [True, True, True, True, False, False, False]}


def test_state_on_key_is_the_string_on() -> None:
    data, source = load_yaml("states:\n  menu:\n    on:\n      track: x\n", path="f.yaml")
    assert list(data["states"]["menu"]) == ["on"]
    assert source.keys[("states", "menu", "on")] == (3, 5)


def test_numbers_nulls_times_and_dates() -> None:
    text = "a: [1, -2, 010, 0o17, 0x1F, 1.5, .5, 1e3, .inf, -.Inf, ~, null, NULL, '']\n"
    text += "b:\nc: [10:30, 2024-01-31, 1_000, '5', !!str 7]\n"
    data, _ = load_yaml(text, path="f.yaml")
    assert data["a"] == [1, -2, 10, 15, 31, 1.5, 0.5, 1000.0, float("inf"), float("-inf")] + [
        None,
        None,
        None,
        "",
    ]
    assert data["b"] is None
    assert data["c"] == ["10:30", "2024-01-31", "1_000", "5", "7"]


def test_nan() -> None:
    data, _ = load_yaml("a: .nan\n", path="f.yaml")
    assert data["a"] != data["a"]


# --------------------------------------------------------------------------- guards


def test_file_too_large() -> None:
    assert message("a: 1\n" * 10, max_bytes=20) == (
        "f.yaml:1:1: the file is 50 bytes, more than the limit of 20\n"
        "    hint: split the flow into several files and use 'imports'"
    )
    assert error(b"a: 1\n" * 10, max_bytes=20).code == "file_too_large"
    load_yaml("a: 1\nb: 2\n", path="f.yaml", max_bytes=10)


def test_size_counts_utf8_bytes() -> None:
    assert error("a: 好好好好\n", max_bytes=10).message.startswith("the file is 16 bytes")


def test_too_deep() -> None:
    # five levels: the top mapping, a list, a mapping, a list, a mapping; the scalar is the sixth
    assert message("a:\n  - b:\n      - c: 1\n", max_depth=4) == (
        "f.yaml:3:9: the document is nested more than 4 levels deep\n"
        "    hint: flatten the structure; a flow never needs this much nesting"
    )
    assert error("a:\n  - b:\n      - c: 1\n", max_depth=5).line == 3
    load_yaml("a:\n  - b:\n      - c: 1\n", path="f.yaml", max_depth=6)


def test_huge_nesting_is_an_error_not_a_crash() -> None:
    assert error("[" * 100_000).code == "too_deep"
    assert error("a: " + "{a: " * 10_000).code == "too_deep"
    assert error("- " * 10_000 + "x").code == "too_deep"


ALIAS_HINT = (
    "\n    hint: write the value out in full; anchors, aliases and merge keys are not "
    "allowed because they make flows hard to read and can blow up memory"
)


def test_anchors_are_rejected() -> None:
    assert message("a: &x 1\nb: *x\n") == (
        "f.yaml:1:4: YAML anchors are not allowed ('&x')" + ALIAS_HINT
    )


def test_aliases_are_rejected() -> None:
    assert (
        message("a: 1\nb: *x\n") == "f.yaml:2:4: YAML aliases are not allowed ('*x')" + ALIAS_HINT
    )


def test_merge_keys_are_rejected() -> None:
    exc = error("a:\n  <<: {b: 1}\n  c: 2\n")
    assert isinstance(exc, FlowErrors)
    assert str(exc) == "f.yaml:2:3: YAML merge keys ('<<') are not allowed" + ALIAS_HINT
    assert exc.code == "yaml_alias"


def test_quoted_merge_key_is_a_plain_key() -> None:
    data, _ = load_yaml("'<<': 1\n", path="f.yaml")
    assert data == {"<<": 1}


def test_billion_laughs_is_rejected_at_the_first_anchor() -> None:
    text = 'a: &a ["lol","lol"]\nb: &b [*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b]\n'
    assert error(text).message == "YAML anchors are not allowed ('&a')"


def test_duplicate_key() -> None:
    assert message("states:\n  menu: {}\n  other: {}\n  menu: {}\n") == (
        "f.yaml:4:3: duplicate key 'menu' (first defined on line 2)\n"
        "    hint: remove one of them; YAML would silently keep only the last"
    )


def test_all_key_problems_are_reported_together() -> None:
    exc = error("a: 1\n1: x\na: 2\nnull: y\ntrue: z\n")
    assert isinstance(exc, FlowErrors)
    assert [(d.line, d.code) for d in exc.diagnostics] == [
        (2, "bad_key"),
        (3, "duplicate_key"),
        (4, "bad_key"),
        (5, "bad_key"),
    ]
    assert [d.message for d in exc.diagnostics] == [
        "mapping keys must be strings, got the number 1",
        "duplicate key 'a' (first defined on line 1)",
        "mapping keys must be strings, got null",
        "mapping keys must be strings, got the boolean true",
    ]
    assert exc.diagnostics[0].hint == "put the key in quotes to make it a string"


def test_complex_key() -> None:
    assert message("? [a, b]\n: 1\n") == (
        "f.yaml:1:3: mapping keys must be strings, got a complex key\n    hint: use a plain key"
    )


def test_syntax_error() -> None:
    assert message("states:\n  menu:\n    say: Hello: you\n") == (
        "f.yaml:3:15: invalid YAML: mapping values are not allowed here\n"
        "    hint: check the indentation, and quote values that contain ': ' or start with a symbol"
    )


def test_syntax_error_names_where_the_construct_started() -> None:
    assert message("a: [1, 2\nb: 1\n") == (
        "f.yaml:2:2: invalid YAML: expected ',' or ']', but got ':'\n"
        "    hint: in a flow sequence starting at line 1, column 4; "
        "check its indentation and quoting"
    )
    assert message("a: 'unterminated\n") == (
        "f.yaml:2:1: invalid YAML: found unexpected end of stream\n"
        "    hint: in a quoted scalar starting at line 1, column 4; "
        "check its indentation and quoting"
    )


def test_tab_indentation() -> None:
    assert message("states:\n\tmenu: {}\n") == (
        "f.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token\n"
        "    hint: indent with spaces; YAML does not allow tabs for indentation"
    )


def test_control_character() -> None:
    assert message("a: 1\nb: x\x07y\n") == (
        "f.yaml:2:5: invalid YAML: character '\\x07' is not allowed\n"
        "    hint: remove it; YAML allows only printable characters"
    )


def test_not_utf8() -> None:
    assert message(b"a: 1\nb: caf\xe9\n") == (
        "f.yaml:2:7: the file is not valid UTF-8 (byte 0xe9)\n"
        "    hint: save the file with the UTF-8 encoding"
    )
    assert error(b"\xff\xfea\x00").code == "not_utf8"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "---\n...\n", "\ufeff"])
def test_empty_document(text: str) -> None:
    assert message(text) == (
        "f.yaml:1:1: the file is empty\n"
        "    hint: a flow file is a mapping of keys, starting with 'flow: <name>'"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "f.yaml:1:1: expected a mapping at the top level, got a list"),
        ("# c\nhello\n", "f.yaml:2:1: expected a mapping at the top level, got a single value"),
        ("42\n", "f.yaml:1:1: expected a mapping at the top level, got a single value"),
    ],
)
def test_top_level_not_a_mapping(text: str, expected: str) -> None:
    exc = error(text)
    assert exc.code == "not_a_mapping"
    assert str(exc).split("\n")[0] == expected


def test_multiple_documents() -> None:
    assert message("a: 1\n---\nb: 2\n") == (
        "f.yaml:2:1: a flow file holds one YAML document, found a second one\n"
        "    hint: remove the '---' line, or put each flow in a file of its own"
    )
    assert error("a: 1\n---\n").code == "multiple_documents"


def test_leading_document_marker_and_end_marker_are_fine() -> None:
    data, source = load_yaml("---\na: 1\n...\n", path="f.yaml")
    assert data == {"a": 1}
    assert source.keys[("a",)] == (2, 1)


def test_unsupported_tags() -> None:
    assert message("a: !!binary aGk=\n") == (
        "f.yaml:1:4: the YAML tag 'tag:yaml.org,2002:binary' is not supported\n"
        "    hint: remove the tag; a flow holds only strings, numbers, booleans, lists and mappings"
    )
    assert error("a: !custom {b: 1}\n").message == "the YAML tag '!custom' is not supported"
    assert error("!!python/object:os.system {}\n").code == "yaml_tag"
    assert error("a: !!set {b}\n").code == "yaml_tag"


def test_values_that_do_not_fit_their_tag() -> None:
    assert message("a: !!int twelve\n") == (
        "f.yaml:1:4: cannot read 'twelve' as !!int\n"
        "    hint: write a valid value, or put it in quotes to make it a string"
    )
    assert error("a: !!bool maybe\n").message == "cannot read 'maybe' as !!bool"
    assert error("a: " + "9" * 5000 + "\n").code == "yaml_value"


def test_random_input_gives_flow_errors_only() -> None:
    rng = random.Random(7)
    alphabet = "ab: -[]{}&*!|>'\"\n\t#?,%@`<~\\\r\x00\ufeffé好"
    for _ in range(2000):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(80)))
        for given in (raw, text):
            try:
                load_yaml(given, path="r.yaml")
            except FlowError:
                pass


# --------------------------------------------------------------------------- helpers


def test_helpers() -> None:
    assert dotted(("on", "track", 0, "goto")) == "on.track[0].goto"
    assert dotted((0, "a")) == "[0].a"
    assert [show(v) for v in ("x", True, None, 1.5, "y" * 70)] == [
        "'x'",
        "true",
        "null",
        "1.5",
        "'" + "y" * 56 + "...",
    ]
    values: list[object] = [{}, [], "s", 1, 2.0, False, None]
    kinds = [kind_of(v) for v in values]
    assert kinds == ["a mapping", "a list", "a string", "a number", "a number", "a boolean", "null"]


def every_yaml_file() -> list[Path]:
    root = Path(__file__).parent.parent
    files = [*root.glob("flows/**/*.yaml"), *root.glob("tests/flows/**/*.yaml")]
    return sorted(files)


def test_libyaml_and_pyyaml_read_every_flow_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path (libyaml's events) gives the same data and positions as PyYAML's
    own parser, and a document either both refuse or both read."""
    assert yaml_source._FastLoader is not None, "PyYAML without libyaml: the fast path is off"
    files = every_yaml_file()
    assert len(files) > 30
    for file in files:
        text = file.read_bytes()
        results = []
        for fast in (True, False):
            if not fast:
                monkeypatch.setattr(yaml_source, "_FastLoader", None)
            try:
                data, where = load_yaml(text, path=str(file))
                results.append((data, dict(where.values), dict(where.keys)))
            except FlowError as exc:
                results.append(str(exc))
        monkeypatch.undo()
        assert results[0] == results[1], file


def test_syntax_errors_are_worded_by_pyyaml_with_or_without_libyaml(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = "flow: x\nstates:\n  a:\n    say: [one\n  b: {}\n"
    with_libyaml = message(broken)
    monkeypatch.setattr(yaml_source, "_FastLoader", None)
    assert message(broken) == with_libyaml
    assert with_libyaml.startswith("f.yaml:5:")
