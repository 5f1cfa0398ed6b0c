"""Flow files -> validated `Flow` models, with every problem at ``path:line:col``.

`parse_flow` is pure (text in, `LoadedFlow` out); `load_flow` reads one file;
`load_flows` reads a file or a directory plus everything it ``imports``.

Pydantic's errors become messages that say what is wrong and where in the
flow, with stable codes: ``unknown_key`` (with a did-you-mean hint),
``missing_key``, ``unknown_slot_type``, ``missing_slot_type``, ``bad_name``,
``bad_choice`` (``language: fr``), ``wrong_type``, ``out_of_range`` and
``invalid`` (a rule of the format, e.g. an intent without keywords). File
problems: ``file_not_found``, ``unreadable``, ``import_not_found``,
``duplicate_flow``; YAML problems come from `dialogue.authoring.yaml_source`.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from dialogue.authoring.assets import builtin_assets, read_assets
from dialogue.authoring.diagnostics import explain
from dialogue.authoring.files import read_regular
from dialogue.authoring.yaml_source import SourceMap, load_yaml, size_error
from dialogue.errors import Diagnostic, FlowError, FlowErrors
from dialogue.schema import Flow

MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class LoadedFlow:
    """A validated flow with where it came from."""

    flow: Flow
    source: SourceMap
    path: Path | None
    """The file, or None when parsed from a string."""
    assets: Mapping[str, str] = field(default_factory=dict)
    """The text of every prompt template and knowledge file the flow names, by the
    name as written (built-in prompts included), so that compiling needs no I/O."""


def parse_flow(
    text: str | bytes, *, path: str = "<string>", assets: Mapping[str, str] | None = None
) -> LoadedFlow:
    """Parse and validate one flow from its text; ``path`` is only used in messages.

    ``assets`` gives the text of prompt and knowledge files the flow names (there
    is no folder to read them from); built-in prompts need not be given.
    """
    data, source = load_yaml(text, path=path, max_bytes=MAX_BYTES)
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowErrors(explain(exc, data, source)) from None
    except RecursionError:
        message = "the flow is nested too deeply to check (a regular expression?)"
        hint = "simplify the regular expressions in 'pattern' and 'patterns'"
        raise FlowError(source.diagnostic((), "too_deep", message, hint)) from None
    found = builtin_assets(flow)
    found.update(assets or {})
    return LoadedFlow(flow, source, None, found)


def load_flow(path: str | os.PathLike[str]) -> LoadedFlow:
    """Read, parse and validate one flow file, and the prompt and knowledge files it names."""
    file = Path(path)
    loaded = parse_flow(_read(file), path=os.fspath(path))
    assets = dict(loaded.assets)
    assets.update(read_assets(loaded.flow, loaded.source, file.parent))
    return LoadedFlow(loaded.flow, loaded.source, file, assets)


def load_flows(path: str | os.PathLike[str]) -> list[LoadedFlow]:
    """Load a flow file, or every flow file directly in a directory, plus their imports.

    Each file is loaded once, in order: a file, then what it imports (breadth
    first). In a directory, ``*.test.yaml`` and ``test_*.yaml`` files are
    conversation tests and are skipped. Problems in all files are reported
    together.
    """
    root = Path(path)
    files = _flow_files(root) if root.is_dir() else [root]
    loader = _Loader()
    for file in files:
        loader.load(file)
    if len(loader.problems) == 1:
        raise loader.problems[0]
    if loader.problems:
        found = [getattr(p, "diagnostics", [p.diagnostic]) for p in loader.problems]
        raise FlowErrors([d for diagnostics in found for d in diagnostics])
    return list(loader.flows.values())


# --------------------------------------------------------------------------- files


def _read(file: Path) -> bytes:
    def fail(code: str, message: str, hint: str) -> FlowError:
        return FlowError(Diagnostic(str(file), 1, 1, code, message, hint))

    try:
        return read_regular(file, MAX_BYTES)
    except OverflowError as exc:
        raise size_error(str(file), exc.args[0], MAX_BYTES) from None
    except ValueError as exc:
        message = f"this {exc}"
        raise fail("unreadable", message, "point at a .yaml flow file") from None
    except FileNotFoundError:
        raise fail("file_not_found", "file not found", "check the path and the file name") from None
    except IsADirectoryError:
        raise fail("unreadable", "this is a directory, not a flow file", "") from None
    except OSError as exc:
        hint = "check the file's permissions"
        raise fail("unreadable", f"cannot read the file: {exc.strerror}", hint) from None


def _flow_files(directory: Path) -> list[Path]:
    """The flow files directly in a directory; ``*.test.yaml`` and ``test_*.yaml`` are tests."""
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        message = f"cannot read the directory: {exc.strerror}"
        raise FlowError(Diagnostic(str(directory), 1, 1, "unreadable", message)) from None
    flows = [p for p in entries if p.suffix in (".yaml", ".yml") and p.is_file()]
    return [p for p in flows if not (p.stem.endswith(".test") or p.name.startswith("test_"))]


class _Loader:
    """Loads files and, breadth first, what they import; each file once."""

    def __init__(self) -> None:
        self.flows: dict[str, LoadedFlow] = {}
        self.problems: list[FlowError] = []
        self.seen: set[Path] = set()

    def load(self, root: Path) -> None:
        queue = deque([root])
        while queue:
            file = queue.popleft()
            if file.resolve() not in self.seen:
                self.seen.add(file.resolve())
                queue.extend(self._one(file))

    def _one(self, file: Path) -> list[Path]:
        """Load one file; return the files it imports."""
        try:
            loaded = load_flow(file)
        except FlowError as exc:
            self.problems.append(exc)
            return []
        source, name = loaded.source, loaded.flow.flow
        other = self.flows.setdefault(name, loaded)
        if other is not loaded:
            message = f"flow '{name}' is already defined in {other.path}"
            hint = "give each flow its own 'flow:' name"
            self.problems.append(
                FlowError(source.diagnostic(("flow",), "duplicate_flow", message, hint))
            )
        found = []
        for index, imported in enumerate(loaded.flow.imports):
            target = file.parent / imported
            if target.is_file():
                found.append(target)
                continue
            message = f"imported file '{imported}' not found (looked for {target})"
            hint = "paths in 'imports' are relative to the folder of the importing file"
            diagnostic = source.diagnostic(("imports", index), "import_not_found", message, hint)
            self.problems.append(FlowError(diagnostic))
        return found
