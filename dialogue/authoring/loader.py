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
from dialogue.authoring.localize import declared, localize
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
    variants: Mapping[str, LoadedFlow] = field(default_factory=dict)
    """The flow in each of its other languages (``languages``), by language code."""
    notes: tuple[Diagnostic, ...] = ()
    """Warnings found while loading: texts missing in a language (``missing_text``)."""

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the flow speaks, the default (``flow.language``) first."""
        return self.flow.spoken

    def in_language(self, language: str) -> LoadedFlow:
        """The flow in ``language``; itself when it does not speak it."""
        return self.variants.get(language, self)


def parse_flow(
    text: str | bytes, *, path: str = "<string>", assets: Mapping[str, str] | None = None
) -> LoadedFlow:
    """Parse and validate one flow from its text; ``path`` is only used in messages.

    ``assets`` gives the text of prompt and knowledge files the flow names (there
    is no folder to read them from); built-in prompts need not be given.
    """
    data, source = load_yaml(text, path=path, max_bytes=MAX_BYTES)
    problems: list[Diagnostic] = []
    notes: list[Diagnostic] = []
    flows: list[tuple[Flow, SourceMap]] = []
    for language in declared(data):  # one validation per language: texts differ
        one = localize(data, source, language)
        problems += one.errors
        notes += one.warnings
        try:
            flows.append((Flow.model_validate(one.data), one.source))
        except ValidationError as exc:
            problems += explain(exc, one.data, one.source)
        except RecursionError:
            message = "the flow is nested too deeply to check (a regular expression?)"
            hint = "simplify the regular expressions in 'pattern' and 'patterns'"
            raise FlowError(source.diagnostic((), "too_deep", message, hint)) from None
    if problems:
        unique = list(dict.fromkeys(problems))
        raise FlowErrors(sorted(unique, key=lambda d: (d.line, d.col)))
    found: dict[str, str] = {}
    for flow, _ in flows:
        found.update(builtin_assets(flow))
    found.update(assets or {})
    return _with_variants(flows, None, found, tuple(notes))


def _with_variants(
    flows: list[tuple[Flow, SourceMap]],
    path: Path | None,
    assets: Mapping[str, str],
    notes: tuple[Diagnostic, ...],
) -> LoadedFlow:
    """The default language's `LoadedFlow`, the others as its ``variants``."""
    (first, source), *others = flows
    variants = {f.language: LoadedFlow(f, s, path, assets) for f, s in others}
    return LoadedFlow(first, source, path, assets, variants, notes)


def load_flow(path: str | os.PathLike[str]) -> LoadedFlow:
    """Read, parse and validate one flow file, and the prompt and knowledge files it names."""
    file = Path(path)
    loaded = parse_flow(_read(file), path=os.fspath(path))
    assets = dict(loaded.assets)
    flows = [(loaded.flow, loaded.source)]
    flows += [(v.flow, v.source) for v in loaded.variants.values()]
    for flow, source in flows:  # each language may name its own prompt and knowledge
        assets.update(read_assets(flow, source, file.parent))
    return _with_variants(flows, file, assets, loaded.notes)


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
