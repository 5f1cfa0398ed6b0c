"""Templates cannot make a turn hang or exhaust memory: bounds while rendering,
and what is bound to pass them refused at compile time."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from jinja2 import TemplateSyntaxError

from dialogue.engine import Engine
from dialogue.errors import RenderError, UnboundedTemplate
from dialogue.runtime import template_limits as limits
from dialogue.runtime.templates import compile_expression, compile_text, make_environment

env = make_environment()
BIG = 100_000_000


@pytest.mark.parametrize(
    ("source", "message", "hint"),
    [
        (
            "{{ lipsum(20, false, 3000000, 3000001) }}",
            "lipsum(20, False, 3000000, 3000001) is too long; at most 20 paragraphs of 100 words",
            "write lipsum(n) with n up to 20, or the text itself",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}"
            "{% endfor %}",
            "nested loops take 10000000000 steps; a render may take at most 50000",
            "loop over fewer items, or prepare the list in an action",
        ),
        (
            "{{ 'x' | center(100000000) }}",
            "center(100000000) is wider than 1000",
            "use a width of at most 1000",
        ),
        (
            "{{ 'x' | indent(width=5000) }}",
            "indent(5000) is wider than 1000",
            "use a width of at most 1000",
        ),
        (
            "{{ '%100000000s' | format('x') }}",
            "format string '%100000000s': format width 100000000 is above 1000",
            "use widths of at most 1000",
        ),
        (
            "{{ 'ab' * 100000000 }}",
            "'ab' * 100000000 builds 200000000 characters; at most 100000",
            "build shorter text",
        ),
        ("{{ range(10**7) }}", None, None),  # not constant: refused while rendering
        ("{{ range(1000000) | length }}", "range of 1000000 numbers; at most 100000", None),
    ],
)
def test_statically_unbounded_templates_are_refused(
    source: str, message: str | None, hint: str | None
) -> None:
    if message is None:
        assert compile_text(env, source)
        return
    with pytest.raises(UnboundedTemplate) as caught:
        compile_text(env, source)
    assert caught.value.message == message
    assert isinstance(caught.value, TemplateSyntaxError)  # one except clause in the compiler
    if hint is not None:
        assert caught.value.hint == hint


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{{ lipsum(n, false, n, n + 1) }}", "lipsum makes at most 20 paragraphs of 100 words"),
        ("{% for i in range(n) %}{% endfor %}", "Range too big"),
        (
            "{% for i in range(k) %}{% for j in range(k) %}{% endfor %}{% endfor %}",
            "the template took more than 50000 steps",
        ),
        ("{{ 'x' | center(n) }}", "center width 100000000 is above 1000"),
        ("{{ spec | format('x') }}", "format width 100000000 is above 1000"),
        ("{{ 'x' * n }}", "a template may not build more than 100000 items"),
        ("{{ 'x'.ljust(n) }}", "ljust width 100000000 is above 1000"),
        ("{{ '{:>100000000}'.format('x') }}", "format width 100000000 is above 1000"),
        ("{{ '%*d' % (n, 1) }}", "'*' widths are not allowed in templates"),
        (
            "{% set ns = namespace(s='xx') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "a template may not build more than 100000 items",
        ),
        (
            "{% set ns = namespace(s='xx') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
            "a template may not build more than 100000 items",
        ),
        (
            "{% set ns = namespace(x=10) %}{% for i in range(40) %}"
            "{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x }}",
            "a template may not make numbers above 2**4096",
        ),
        (
            "{% macro f(k) %}{% if k %}{{ f(k-1) }}{{ f(k-1) }}{% endif %}{% endmacro %}"
            "{{ f(40) }}",
            "the template took more than 50000 steps",
        ),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "maximum recursion depth exceeded"),
    ],
)
def test_limits_hold_while_rendering(source: str, error: str) -> None:
    text = compile_text(env, source)
    with pytest.raises(RenderError) as caught:
        text.render({"n": BIG, "k": 1000, "spec": f"%{BIG}s"})
    assert error in str(caught.value)


def test_output_stops_growing_at_the_limit() -> None:
    # 100,000 items of 1,000 characters would be 100 MB; rendering stops after 4
    text = compile_text(env, "{% for i in range(n) %}{{ 'x' * 1000 }}{% endfor %}")
    steps: list[int] = []

    def spy(original: Callable[[int], None]) -> Callable[[int], None]:
        def charge(n: int = 1) -> None:
            steps.append(n)
            original(n)

        return charge

    original = limits.charge
    limits.charge = spy(original)  # type: ignore[assignment]
    try:
        assert text.render({"n": 100_000}) == "x" * 4000
    finally:
        limits.charge = original  # type: ignore[assignment]
    assert len(steps) < 20


def test_each_render_has_its_own_budget() -> None:
    text = compile_text(env, "{% for i in range(k) %}.{% endfor %}")
    for _ in range(3):  # 3 x 40,000 steps: more than one budget, each render within its own
        assert len(text.render({"k": 40_000})) == 4000


def test_expressions_are_bounded_too() -> None:
    with pytest.raises(RenderError, match="center width"):
        compile_expression(env, "'x' | center(n)").evaluate({"n": BIG})
    with pytest.raises(UnboundedTemplate):
        compile_expression(env, "'x' * 100000000")


def test_ordinary_templates_render_as_before() -> None:
    source = (
        "{% for i in range(3) %}{{ i }}{% endfor %} {{ '%.2f' | format(3.14159) }} "
        "{{ 'ab' | center(6) }}|{{ name ~ '!' }} {{ items | join(', ') }} {{ '{:>4}'.format(7) }}"
    )
    out = compile_text(env, source).render({"name": "Ann", "items": ["tea", "cake"]})
    assert out == "012 3.14   ab  |Ann! tea, cake    7"


UNBOUNDED_FLOW = """
flow: shop
start: menu
slots:
  width: {type: integer, ask: "How wide?"}
states:
  menu:
    collect: width
    next:
      - say: "{{ 'x' | center(width) }}"
        goto: done
  done:
    final: true
"""


def test_a_render_past_a_limit_gives_the_failure_reply_and_keeps_the_session(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine(UNBOUNDED_FLOW)
    engine.start("s")
    before = engine.session("s")
    result = engine.handle("s", "100000000")
    assert result.trace.rule == "error"
    assert result.replies == ["Sorry, something went wrong on our side."]
    assert "center width 100000000 is above 1000" in result.trace.errors[0]
    assert engine.session("s") == before
    assert engine.handle("s", "10").replies == ["    x     "]
