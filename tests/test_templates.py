from collections.abc import Callable

import pytest
from jinja2 import TemplateSyntaxError

from dialogue.runtime.templates import (
    RenderError,
    UnknownFilter,
    compile_expression,
    compile_text,
    make_environment,
)

env = make_environment()


def test_plain_text_is_not_a_template() -> None:
    t = compile_text(env, "Hello there")
    assert t.render({}) == "Hello there" and t.names == frozenset()


def test_variables_are_found_and_rendered() -> None:
    t = compile_text(env, "Order {{ order_id }} is {{ order.status }}")
    assert t.names == {"order_id", "order"}
    assert t.render({"order_id": "AB1", "order": {"status": "late"}}) == "Order AB1 is late"


def test_none_renders_empty() -> None:
    assert compile_text(env, "[{{ x }}]").render({"x": None}) == "[]"


def test_undefined_names_fail_loudly() -> None:
    t = compile_text(env, "{{ order.status }}")
    with pytest.raises(RenderError):
        t.render({"order": None})


def test_syntax_errors_surface_at_compile_time() -> None:
    with pytest.raises(TemplateSyntaxError):
        compile_text(env, "{{ order_id ")


@pytest.mark.parametrize(
    "source",
    [
        "{{ x.__class__.__mro__ }}",
        "{{ x|attr('__class__') }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
        "{{ x.append(1) }}",
        "{{ '{0.__class__}'.format(x) }}",
    ],
)
def test_sandbox_refuses_escapes(source: str) -> None:
    t = compile_text(env, source)
    with pytest.raises(RenderError):
        t.render({"x": []})


def test_user_text_in_a_value_is_not_template_code() -> None:
    t = compile_text(env, "You said: {{ text }}")
    assert t.render({"text": "{{ 7*7 }}"}) == "You said: {{ 7*7 }}"


def test_expressions() -> None:
    e = compile_expression(env, "order is none")
    assert e.names == {"order"}
    assert e.evaluate({"order": None}) is True
    assert e.evaluate({"order": {"a": 1}}) is False
    assert compile_expression(env, "count > 2 and ok").evaluate({"count": 3, "ok": True}) is True


@pytest.mark.parametrize("source", ["a }}{{ b", "a }} text {% if b %}x{% endif %}"])
def test_expression_rejects_template_smuggling(source: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        compile_expression(env, source)
    assert info.value.message == "unexpected '}}'"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a = 1", "unexpected '='"),
        ("a and", "unexpected 'end of template'"),
        ("a && b", "unexpected char '&' at 2"),  # offsets into the condition as written
    ],
)
def test_expression_errors_are_about_the_source_as_written(source: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        compile_expression(env, source)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("compile", "source", "kind", "name"),
    [
        (compile_text, "{% if x %}{{ x | upr }}{% endif %}", "filter", "upr"),
        (compile_text, "{% filter upr %}x{% endfilter %}", "filter", "upr"),
        (compile_text, "{{ 'a' if x is nonee else 'b' }}", "test", "nonee"),
        (compile_expression, "x | upr", "filter", "upr"),
        (compile_expression, "x is nonee", "test", "nonee"),
        (compile_expression, "(x | lower) is nonee", "test", "nonee"),
    ],
)
def test_unknown_filters_and_tests_are_found_at_compile_time(
    compile: Callable[..., object], source: str, kind: str, name: str
) -> None:
    with pytest.raises(UnknownFilter) as info:
        compile(env, source)
    assert (info.value.kind, info.value.unknown) == (kind, name)
    assert "upper" in info.value.known or "none" in info.value.known


def test_output_is_capped() -> None:
    t = compile_text(env, "{{ 'x' * 100000 }}")
    assert len(t.render({})) == 4000


@pytest.mark.parametrize(
    ("source", "tag"),
    [
        ("{% include 'default' %}", "include"),
        ("{% extends 'default' %}", "extends"),
        ("{% import 'x' as x %}", "import"),
        ("{% from 'x' import y %}", "from ... import"),
    ],
)
def test_templates_cannot_load_templates(source: str, tag: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        compile_text(env, source)
    assert info.value.message == f"'{tag}' is not available: a template cannot load other templates"
