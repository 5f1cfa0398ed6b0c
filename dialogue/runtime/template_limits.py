"""Bounds on the work a template may do while it renders, and the static check of them.

A reply template is designer code run on every turn, so what it can make the
process compute is bounded, whatever it says and whatever the slots hold:

* **steps**: every item a ``{% for %}`` loop takes, every call (a macro, a
  method, ``range``) and every filter (charged one step plus the length of what it
  filters) costs steps from a budget of `MAX_STEPS` per render;
* **sizes**: no string or list longer than `MAX_SEQUENCE` is built by ``*``, ``+``,
  ``~``, a filter or a call; widths (``center``, ``indent``, ``%10s``,
  ``{:>10}``, ``ljust`` ...) are at most `MAX_WIDTH`; ``lipsum`` makes at most 20
  paragraphs of at most 100 words; ``range`` at most 100,000 numbers (Jinja's own);
* **output**: rendering stops as soon as the reply's length limit is reached
  (``Text.render`` reads the template's output stream, it never builds more).

Past a bound, rendering raises ``jinja2.exceptions.SecurityError``, which the
turn turns into the flow's error reply (the session keeps its previous state).
`check_static` finds at compile time what is bound to fail: constant arguments
past these limits, and nested loops over constant ranges of more than
`MAX_STEPS` steps.
"""

from __future__ import annotations

import contextvars
import functools
import re
import string
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError

from dialogue.errors import UnboundedTemplate

MAX_STEPS = 50_000
"""Loop items, calls and filtered items one render may take."""
MAX_SEQUENCE = 100_000
"""Longest string or list a template may build."""
MAX_WIDTH = 1_000
"""Widest padding, centring, indentation or format width."""
MAX_LIPSUM = (20, 100)
"""``lipsum``: paragraphs, words per paragraph."""
MAX_RANGE = 100_000
"""Jinja's own bound on ``range``."""

_budget: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_steps")


def start_budget() -> contextvars.Token[list[int]]:
    """Give the render that follows its own `MAX_STEPS` (undo with ``_budget.reset``)."""
    return _budget.set([MAX_STEPS])


def end_budget(token: contextvars.Token[list[int]]) -> None:
    _budget.reset(token)


def charge(steps: int = 1) -> None:
    """Take ``steps`` from the running render's budget; past it, refuse."""
    left = _budget.get(None)
    if left is None:
        return  # not rendering through Text.render (Jinja's own compile-time folding)
    left[0] -= steps
    if left[0] < 0:
        raise SecurityError(f"the template took more than {MAX_STEPS} steps")


def bounded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    """What a ``{% for %}`` loop iterates: one step per item."""
    for item in iterable:
        charge()
        yield item


def bounded_concat(*items: Any) -> str:
    """``a ~ b``: refused when it would be longer than `MAX_SEQUENCE`."""
    parts = [str(item) for item in items]
    check_size(sum(len(p) for p in parts))
    return "".join(parts)


def check_size(size: int) -> None:
    if size > MAX_SEQUENCE:
        raise SecurityError(f"a template may not build more than {MAX_SEQUENCE} items")


def checked(value: Any) -> Any:
    """``value``, if it is not a string or list longer than `MAX_SEQUENCE`."""
    if isinstance(value, (str, list, tuple)):
        check_size(len(value))
    return value


def check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and abs(width) > MAX_WIDTH:
        raise SecurityError(f"{what} width {width} is above {MAX_WIDTH}")
    if isinstance(width, str):
        check_size(len(width))


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_format(spec: str) -> None:
    """A ``%`` or ``str.format`` string whose widths and precisions are all small."""
    for width, precision in _PERCENT.findall(spec):
        for number in (width, precision):
            if number == "*":
                raise SecurityError("'*' widths are not allowed in templates")
            if number:
                check_width(int(number), "format")
    if "{" in spec:
        try:
            fields = list(string.Formatter().parse(spec))
        except ValueError:
            return  # str.format raises the same error itself
        for _, _, field_spec, _ in fields:
            if field_spec and "{" in field_spec:
                raise SecurityError("nested '{}' widths are not allowed in templates")
            for number in re.findall(r"\d+", field_spec or ""):
                check_width(int(number), "format")


_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Before a call from a template: charge a step, check str methods' sizes."""
    charge()
    method = getattr(obj, "__wrapped__", obj)
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(method, "__name__", "")
    if name in _WIDTH_METHODS:
        for arg in (*args, *kwargs.values()):
            check_width(arg, name)
    elif name in ("format", "format_map"):
        check_format(owner)
    elif name == "replace" and len(args) >= 2 and isinstance(args[1], str):
        hits = owner.count(args[0]) if args[0] else len(owner) + 1
        check_size(len(owner) + hits * len(args[1]))
    elif name == "join" and args and isinstance(args[0], (list, tuple)):
        check_size(len(owner) * len(args[0]))


# --------------------------------------------------------------------------- filters

_WIDTH_ARGS = {"center": (0, "width"), "indent": (0, "width"), "wordwrap": (0, "width")}


def bounded_filters(filters: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Jinja's filters, each charging steps and refusing oversized widths and results."""
    return {name: _bounded(name, f) for name, f in filters.items()}


def _bounded(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    pass_arg = getattr(f, "jinja_pass_arg", None)
    skip = 1 if pass_arg is not None else 0  # the context/environment argument

    @functools.wraps(f)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value = args[skip] if len(args) > skip else None
        charge(1 + (len(value) if isinstance(value, (str, list, tuple, dict)) else 0))
        if name in _WIDTH_ARGS:
            index, key = _WIDTH_ARGS[name]
            rest = args[skip + 1 :]
            width = rest[index] if len(rest) > index else kwargs.get(key)
            check_width(width, name)
        elif name == "format" and isinstance(value, str):
            check_format(value)
        elif name in ("batch", "slice") and len(args) > skip + 1:
            check_width(args[skip + 1], name)
        return checked(f(*args, **kwargs))

    if pass_arg is not None:
        bounded.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return bounded


def bounded_lipsum(lipsum: Callable[..., Any]) -> Callable[..., Any]:
    def lipsum_(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
        if not all(isinstance(x, int) for x in (n, min, max)):
            raise SecurityError("lipsum takes whole numbers")
        paragraphs, words = MAX_LIPSUM
        if n > paragraphs or max > words or min > words:
            raise SecurityError(f"lipsum makes at most {paragraphs} paragraphs of {words} words")
        return lipsum(n, html, min, max)

    return lipsum_


# --------------------------------------------------------------------------- the tree


def instrument(tree: nodes.Template) -> nodes.Template:
    """Route every loop's items through `bounded_iter` and every ``~`` through
    `bounded_concat` (the tree is changed in place and returned)."""
    here = __name__
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(
            nodes.ImportedName(f"{here}.bounded_iter"), [loop.iter], [], None, None
        )
    for concat in list(tree.find_all(nodes.Concat)):
        call = nodes.Call(
            nodes.ImportedName(f"{here}.bounded_concat"), concat.nodes, [], None, None
        )
        _replace(tree, concat, call)
    return tree


def _call(name: str, args: list[nodes.Expr]) -> nodes.Call:
    return nodes.Call(nodes.ImportedName(f"{__name__}.{name}"), args, [], None, None)


def _replace(tree: nodes.Node, old: nodes.Node, new: nodes.Node) -> None:
    for node in tree.find_all(nodes.Node):
        for field in node.fields:
            value = getattr(node, field, None)
            if value is old:
                setattr(node, field, new)
            elif isinstance(value, list) and any(v is old for v in value):
                setattr(node, field, [new if v is old else v for v in value])


# --------------------------------------------------------------------------- statically


def check_static(tree: nodes.Node) -> None:
    """Raise `UnboundedTemplate` for what would pass a limit on every render."""
    for call in tree.find_all(nodes.Call):
        _check_global_call(call)
    for node in tree.find_all(nodes.Filter):
        _check_filter(node)
    for mul in tree.find_all(nodes.Mul):
        _check_mul(mul)
    for loop in tree.find_all(nodes.For):
        steps = _loop_steps(loop)
        if steps is not None and steps > MAX_STEPS:
            raise UnboundedTemplate(
                f"nested loops take {steps} steps; a render may take at most {MAX_STEPS}",
                loop.lineno,
                hint="loop over fewer items, or prepare the list in an action",
            )


def _const(node: nodes.Node | None) -> Any:
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.Neg) and isinstance(node.node, nodes.Const):
        value = node.node.value
        return -value if isinstance(value, (int, float)) else None
    return None


def _consts(call: nodes.Call) -> list[Any] | None:
    values = [_const(a) for a in call.args]
    return values if all(isinstance(v, (int, bool)) for v in values) else None


def _check_global_call(call: nodes.Call) -> None:
    if not isinstance(call.node, nodes.Name) or call.dyn_args or call.dyn_kwargs:
        return
    values = _consts(call)
    if values is None:
        return
    if call.node.name == "range" and values and not call.kwargs:
        try:
            size = len(range(*values))
        except (TypeError, ValueError):
            return
        if size > MAX_RANGE:
            raise UnboundedTemplate(
                f"range of {size} numbers; at most {MAX_RANGE}",
                call.lineno,
                hint="loop over fewer numbers",
            )
    if call.node.name == "lipsum":
        n = values[0] if values else 5
        words = [v for v in values[2:4]]
        paragraphs, most = MAX_LIPSUM
        if n > paragraphs or any(w > most for w in words):
            raise UnboundedTemplate(
                f"lipsum({', '.join(str(v) for v in values)}) is too long; at most "
                f"{paragraphs} paragraphs of {most} words",
                call.lineno,
                hint=f"write lipsum(n) with n up to {paragraphs}, or the text itself",
            )


def _check_filter(node: nodes.Filter) -> None:
    width: Any = None
    if node.name in _WIDTH_ARGS or node.name in ("batch", "slice"):
        width = _const(node.args[0]) if node.args else None
        width = next((_const(k.value) for k in node.kwargs if k.key == "width"), width)
    if isinstance(width, int) and abs(width) > MAX_WIDTH:
        raise UnboundedTemplate(
            f"{node.name}({width}) is wider than {MAX_WIDTH}",
            node.lineno,
            hint=f"use a width of at most {MAX_WIDTH}",
        )
    spec = _const(node.node)
    if node.name == "format" and isinstance(spec, str):
        try:
            check_format(spec)
        except SecurityError as exc:
            raise UnboundedTemplate(
                f"format string {spec!r}: {exc}",
                node.lineno,
                hint=f"use widths of at most {MAX_WIDTH}",
            ) from None


def _check_mul(mul: nodes.Mul) -> None:
    left, right = _const(mul.left), _const(mul.right)
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, str) and isinstance(count, int) and len(seq) * count > MAX_SEQUENCE:
            raise UnboundedTemplate(
                f"{seq!r} * {count} builds {len(seq) * count} characters; at most {MAX_SEQUENCE}",
                mul.lineno,
                hint="build shorter text",
            )


def _loop_steps(loop: nodes.For) -> int | None:
    """Steps of a loop over a constant range, times its nested constant loops."""
    inner = loop.iter
    if isinstance(inner, nodes.Call) and isinstance(inner.node, nodes.ImportedName):
        inner = inner.args[0]  # already instrumented
    if not (isinstance(inner, nodes.Call) and isinstance(inner.node, nodes.Name)):
        return None
    values = _consts(inner) if inner.node.name == "range" else None
    try:
        size = len(range(*values)) if values else None
    except (TypeError, ValueError):
        return None
    if size is None:
        return None
    nested = [_loop_steps(n) for n in loop.find_all(nodes.For)]
    return size * max((s for s in nested if s is not None), default=1)
