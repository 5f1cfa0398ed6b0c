"""The sandboxed Jinja environment for replies and conditions.

Replies and conditions are compiled once, at compile time. A reply with no
Jinja syntax is kept as a plain string and costs nothing to "render".
Rendering uses ``ImmutableSandboxedEnvironment`` (no attribute tricks, no
mutation of slot values) with ``StrictUndefined`` (a typo is an error, not an
empty string); ``None`` renders as the empty string. User text is only ever a
*value* in the context, never template source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.lexer import describe_token
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dialogue.errors import RenderError, UnknownFilter
from dialogue.runtime import template_limits as limits

MAX_OUTPUT = 4000
"""Rendered replies are cut to this many characters."""

BUILTIN_NAMES = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})


def _finalize(value: object) -> object:
    return "" if value is None else value


MAX_INT_BITS = 4096
"""Largest whole number ``*`` and ``**`` may make (``2 ** 4096``)."""


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with bounds on what a template can make it compute
    (`dialogue.runtime.template_limits`): steps per render, sizes and widths;
    ``*``, ``**``, ``+`` and ``%`` are checked (and so never folded at compile time)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["lipsum"] = limits.bounded_lipsum(self.globals["lipsum"])  # type: ignore[arg-type]
        self.filters = limits.bounded_filters(self.filters)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        limits.check_call(__obj, args, kwargs)
        return limits.checked(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 64:
                raise SecurityError("exponents above 64 are not allowed in templates")
            return _checked_int(left**right)
        if operator == "+":
            return limits.checked(left + right)
        if operator == "%":
            if isinstance(left, str):
                limits.check_format(left)
            return left % right
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
                limits.check_size(len(seq) * count)
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError(f"a template may not make numbers above 2**{MAX_INT_BITS}")
        return left * right


def _checked_int(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"a template may not make numbers above 2**{MAX_INT_BITS}")
    return value


def make_environment(**options: Any) -> Sandbox:
    """A fresh environment: sandboxed, strict, no autoescape (replies are text);
    ``options`` adds Jinja settings (the prompts' ``trim_blocks``, say)."""
    return Sandbox(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=_finalize,
        keep_trailing_newline=False,
        auto_reload=False,
        **options,
    )


def _has_jinja(source: str) -> bool:
    return "{{" in source or "{%" in source or "{#" in source


def _names(tree: nodes.Template) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(tree) - BUILTIN_NAMES)


def referenced_names(env: ImmutableSandboxedEnvironment, source: str) -> frozenset[str]:
    """Names a template reads from its context (raises TemplateSyntaxError)."""
    return _names(env.parse(source))


def _check_filters(env: ImmutableSandboxedEnvironment, tree: nodes.Node) -> None:
    """Raise `UnknownFilter` for the first filter or test ``env`` does not have, and a
    syntax error for tags that would load other templates (there is no loader)."""
    for loads in tree.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        tag = type(loads).__name__.lower().replace("fromimport", "from ... import")
        raise TemplateSyntaxError(
            f"'{tag}' is not available: a template cannot load other templates", loads.lineno
        )
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        kind, known = (
            ("filter", env.filters) if isinstance(node, nodes.Filter) else ("test", env.tests)
        )
        if node.name not in known:
            raise UnknownFilter(kind, node.name, known, node.lineno)


@dataclass(frozen=True, slots=True)
class Text:
    """A compiled reply template."""

    source: str
    names: frozenset[str]
    _render: Callable[[Mapping[str, Any]], Iterator[str]] | None
    limit: int = MAX_OUTPUT
    """Rendered output is cut to this many characters."""

    @property
    def static(self) -> bool:
        """Plain text: ``render`` ignores its context."""
        return self._render is None

    def render(self, context: Mapping[str, Any]) -> str:
        """The reply, cut to ``limit``: rendering stops once that much is made, and a
        template that passes a limit of `template_limits` raises `RenderError`."""
        if self._render is None:
            return self.source
        token = limits.start_budget()
        try:
            return _take(self._render(context), self.limit)
        except TemplateError as exc:
            raise RenderError(self.source, exc) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise RenderError(self.source, exc) from exc
        except (RecursionError, MemoryError) as exc:  # a macro calling itself forever
            raise RenderError(self.source, exc) from exc
        finally:
            limits.end_budget(token)


def _take(chunks: Iterator[str], limit: int) -> str:
    """At most ``limit`` characters of a template's output stream, reading no further."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        out.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    text = "".join(out)
    return text if len(text) <= limit else text[:limit]


def compile_text(
    env: ImmutableSandboxedEnvironment, source: str, *, limit: int = MAX_OUTPUT
) -> Text:
    """Compile a reply (raises jinja2.TemplateSyntaxError, or its subclass `UnknownFilter`)."""
    if not _has_jinja(source):
        return Text(source, frozenset(), None, limit)
    tree = env.parse(source)
    _check_filters(env, tree)
    limits.check_static(tree)
    names = _names(tree)
    if not any(n.name in BUILTIN_NAMES for n in tree.find_all(nodes.Name)):
        env = _lean(env)  # copying Jinja's default globals into every render costs ~4 us
    template = env.from_string(limits.instrument(tree))
    return Text(source, names, template.generate, limit)


def _lean(env: ImmutableSandboxedEnvironment) -> ImmutableSandboxedEnvironment:
    """The same environment without globals, for templates that use none."""
    lean: ImmutableSandboxedEnvironment | None = getattr(env, "_dialogue_lean", None)
    if lean is None:
        lean = env.overlay()
        lean.globals = {}
        env._dialogue_lean = lean  # type: ignore[attr-defined]
    return lean


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled condition or value expression."""

    source: str
    names: frozenset[str]
    _evaluate: Callable[[Mapping[str, Any]], Any]

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        token = limits.start_budget()
        try:
            return self._evaluate(context)
        except TemplateError as exc:
            raise RenderError(self.source, exc) from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise RenderError(self.source, exc) from exc
        except (RecursionError, MemoryError) as exc:
            raise RenderError(self.source, exc) from exc
        finally:
            limits.end_budget(token)


def compile_expression(env: ImmutableSandboxedEnvironment, source: str) -> Expression:
    """Compile an expression such as ``order is none``.

    Raises jinja2.TemplateSyntaxError (or `UnknownFilter`) with a message about
    ``source`` as written; anything after one whole expression is an error, so
    ``a }}{{ b`` cannot smuggle template code into a condition.
    """
    expr = _parse_expression(env, source)
    tree = nodes.Template([nodes.Output([expr])], lineno=1)
    tree.set_environment(env)
    _check_filters(env, tree)
    limits.check_static(tree)
    names = _names(tree)
    fast = _simple(expr)
    if fast is not None:
        return Expression(source, names, fast)
    evaluate = env.compile_expression(source, undefined_to_none=False)
    return Expression(source, names, lambda context: evaluate(**context))


def _simple(expr: nodes.Expr) -> Callable[[Mapping[str, Any]], Any] | None:
    """Plain Python for the commonest conditions: ``x``, ``not x``, ``x is none``,
    ``x is not none`` (Jinja gives the same answers; it takes ~5 us more)."""
    negate = isinstance(expr, nodes.Not)
    inner = expr.node if isinstance(expr, nodes.Not) else expr
    if isinstance(inner, nodes.Name):
        name = inner.name
        if negate:
            return lambda context: not context[name]
        return lambda context: context[name]
    if (
        isinstance(inner, nodes.Test)
        and inner.name == "none"
        and isinstance(inner.node, nodes.Name)
        and not inner.args
        and not inner.kwargs
    ):
        name = inner.node.name
        if negate:
            return lambda context: context[name] is not None
        return lambda context: context[name] is None
    return None


def _parse_expression(env: ImmutableSandboxedEnvironment, source: str) -> nodes.Expr:
    parser = Parser(env, source, state="variable")
    expr = parser.parse_expression()
    token = parser.stream.current
    if token.type != "eof":
        # '}}', '{%' ...: show what was written, not Jinja's name for it
        shown = token.value if token.type.endswith(("_begin", "_end")) else describe_token(token)
        raise TemplateSyntaxError(f"unexpected '{shown}'", token.lineno)
    return expr
