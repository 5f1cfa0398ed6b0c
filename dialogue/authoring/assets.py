"""Files a flow names besides other flows: prompt templates and knowledge texts.

The loader reads them (``read_assets``) so that the compiler never does I/O.
A prompt named without a path (``default``) is one of the templates shipped in
the package (``dialogue/prompts/NAME.j2``); anything else is a path relative
to the flow file.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from dialogue.authoring.files import read_regular
from dialogue.authoring.yaml_source import SourceMap
from dialogue.errors import Diagnostic, FlowErrors, Loc
from dialogue.schema import Flow

BUILTIN_PROMPTS = ("default",)
MAX_ASSET_BYTES = 200_000


def is_builtin(name: str) -> bool:
    return name in BUILTIN_PROMPTS


def builtin_prompt(name: str) -> str:
    return resources.files("dialogue").joinpath("prompts").joinpath(f"{name}.j2").read_text("utf-8")


def references(flow: Flow) -> Iterator[tuple[str, Loc, str]]:
    """(name as written, where, "prompt" | "knowledge") for every file the flow names."""
    fb = flow.fallback
    yield fb.prompt, ("fallback", "prompt"), "prompt"
    if fb.knowledge is not None:
        yield fb.knowledge, ("fallback", "knowledge"), "knowledge"
    for name, state in flow.states.items():
        if state.fallback is None:
            continue
        if state.fallback.prompt is not None:
            yield state.fallback.prompt, ("states", name, "fallback", "prompt"), "prompt"
        if state.fallback.knowledge is not None:
            yield state.fallback.knowledge, ("states", name, "fallback", "knowledge"), "knowledge"


def builtin_assets(flow: Flow) -> dict[str, str]:
    return {name: builtin_prompt(name) for name, _, kind in references(flow) if is_builtin(name)}


def _reason(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if isinstance(exc, OverflowError):
        return f"is {exc.args[0]:,} bytes, more than the limit of {MAX_ASSET_BYTES:,}"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a regular file"
    if isinstance(exc, ValueError):  # a FIFO, a device ...
        return str(exc)
    return f"unreadable: {exc}"


def read_assets(flow: Flow, source: SourceMap, base: Path) -> dict[str, str]:
    """Read the prompt and knowledge files a flow names, relative to ``base``."""
    found: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for name, loc, kind in references(flow):
        if is_builtin(name) or name in found:
            continue
        path = base / name
        try:
            found[name] = read_regular(path, MAX_ASSET_BYTES).decode("utf-8-sig")
        except (OSError, ValueError, OverflowError) as exc:
            reason = _reason(exc)
            builtin = ", ".join(BUILTIN_PROMPTS)
            hint = f"paths are relative to {base}" + (
                f"; built-in prompts: {builtin}" if kind == "prompt" else ""
            )
            problems.append(
                source.diagnostic(loc, f"{kind}_not_found", f"{kind} file '{name}' {reason}", hint)
            )
    if problems:
        raise FlowErrors(problems)
    return found
