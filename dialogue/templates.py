"""The sandboxed Jinja environment for replies and conditions.

Replies and conditions are compiled once, at compile time. A reply with no
Jinja syntax is kept as a plain string and costs nothing to "render".
Rendering uses ``ImmutableSandboxedEnvironment`` (no attribute tricks, no
mutation of slot values) with ``StrictUndefined`` (a typo is an error, not an
empty string); ``None`` renders as the empty string. User text is only ever a
*value* in the context, never template source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, meta, nodes
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 4000
"""Rendered replies are cut to this many characters."""

BUILTIN_NAMES = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})


def _finalize(value: object) -> object:
    return "" if value is None else value


def make_environment() -> ImmutableSandboxedEnvironment:
    """A fresh environment: sandboxed, strict, no autoescape (replies are text)."""
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=_finalize,
        keep_trailing_newline=False,
        auto_reload=False,
    )


class RenderError(Exception):
    """A template or condition failed at run time (caught and traced by the engine)."""

    def __init__(self, source: str, error: BaseException) -> None:
        self.source = source
        self.error = error
        super().__init__(f"{source!r}: {type(error).__name__}: {error}")


def _has_jinja(source: str) -> bool:
    return "{{" in source or "{%" in source or "{#" in source


def referenced_names(env: ImmutableSandboxedEnvironment, source: str) -> frozenset[str]:
    """Names a template reads from its context (raises TemplateSyntaxError)."""
    found = meta.find_undeclared_variables(env.parse(source))
    return frozenset(found - BUILTIN_NAMES)


@dataclass(frozen=True, slots=True)
class Text:
    """A compiled reply template."""

    source: str
    names: frozenset[str]
    _render: Callable[[Mapping[str, Any]], str] | None

    def render(self, context: Mapping[str, Any]) -> str:
        if self._render is None:
            return self.source
        try:
            out = self._render(context)
        except TemplateError as exc:
            raise RenderError(self.source, exc) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise RenderError(self.source, exc) from exc
        return out if len(out) <= MAX_OUTPUT else out[:MAX_OUTPUT]


def compile_text(env: ImmutableSandboxedEnvironment, source: str) -> Text:
    """Compile a reply (raises jinja2.TemplateSyntaxError)."""
    if not _has_jinja(source):
        return Text(source, frozenset(), None)
    names = referenced_names(env, source)
    template = env.from_string(source)
    return Text(source, names, template.render)


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled condition or value expression."""

    source: str
    names: frozenset[str]
    _evaluate: Callable[..., Any]

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        try:
            return self._evaluate(**context)
        except TemplateError as exc:
            raise RenderError(self.source, exc) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise RenderError(self.source, exc) from exc


def compile_expression(env: ImmutableSandboxedEnvironment, source: str) -> Expression:
    """Compile an expression such as ``order is none`` (raises TemplateSyntaxError)."""
    names = referenced_names(env, "{{ (" + source + ") }}")
    _check_single_expression(env, source)
    evaluate = env.compile_expression(source, undefined_to_none=False)
    return Expression(source, names, evaluate)


def _check_single_expression(env: ImmutableSandboxedEnvironment, source: str) -> None:
    """Reject ``a }} {{ b`` style sources that smuggle template code into a condition."""
    tree = env.parse("{{ (" + source + ") }}")
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        raise ValueError("a condition must be a single expression")
