"""The cassette file: YAML of recorded interactions, written so a re-recording
reads as a diff (sorted by key, messages as ``|`` blocks), read back with
``file:line:col`` errors."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dialogue.authoring.yaml_source import SourceMap, load_yaml, plain_is_text
from dialogue.errors import CassetteError, ConfigurationError, FlowError
from dialogue.llm.protocol import (
    FailureKind,
    LLMFailure,
    LLMRequest,
    LLMResponse,
    LLMSettings,
    Usage,
)
from dialogue.llm.service import cache_key

MAX_BYTES = 50_000_000
_HEADER = (
    "# LLM answers recorded by dialogue.testing.CassetteClient; replayed in tests.\n"
    "# Review changes like code. Re-record: CassetteClient(client, path, mode='record').\n"
)


# --------------------------------------------------------------------------- the file


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Request(_Model):
    model: str
    temperature: float
    max_tokens: int
    answer_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    messages: tuple[dict[str, str], ...]


class _Usage(_Model):
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False


class _Failure(_Model):
    kind: FailureKind
    message: str


class _Response(_Model):
    content: str | None = None
    finish_reason: str | None = None
    model: str
    usage: _Usage | None = None
    failure: _Failure | None = None


class _Interaction(_Model):
    request: _Request
    response: _Response


class _Cassette(_Model):
    version: Literal[1]
    interactions: tuple[_Interaction, ...] = ()


def _as_request(recorded: _Request) -> LLMRequest:
    r = recorded
    settings = LLMSettings(model=r.model, temperature=r.temperature, max_tokens=r.max_tokens)
    return LLMRequest(r.messages, settings, r.answer_schema)


def _key(request: LLMRequest) -> str:
    """``cache_key`` with the temperature as a float: ``0`` and ``0.0`` are one request."""
    settings = dataclasses.replace(
        request.settings, temperature=float(request.settings.temperature)
    )
    return cache_key(dataclasses.replace(request, settings=settings))


def _record(request: LLMRequest, response: LLMResponse) -> _Interaction:
    s, usage, failure = request.settings, response.usage, response.failure
    recorded = {
        "request": {
            "model": s.model,
            "temperature": float(s.temperature),
            "max_tokens": s.max_tokens,
            "schema": json.loads(json.dumps(request.schema)),
            "messages": [dict(m) for m in request.messages],
        },
        "response": {
            "content": response.content,
            "finish_reason": response.finish_reason,
            "model": response.model,
            "usage": usage and {n: getattr(usage, n) for n in _Usage.model_fields},
            "failure": failure and {"kind": failure.kind, "message": failure.message},
        },
    }
    return _Interaction.model_validate(recorded)


def _replayed(request: LLMRequest, recorded: _Response) -> LLMResponse:
    failure = None
    if recorded.failure is not None:
        failure = LLMFailure(recorded.failure.kind, recorded.failure.message)
    data = None
    if failure is None and request.schema is not None:
        try:
            data = json.loads(recorded.content or "")
        except ValueError:
            pass
        if not isinstance(data, dict):
            data, message = None, "the recorded content is not a JSON object (edited by hand?)"
            failure = LLMFailure("not_json", message)
    u, usage = recorded.usage, None
    if u is not None:
        total = u.prompt_tokens + u.completion_tokens
        usage = Usage(u.prompt_tokens, u.completion_tokens, total, u.estimated)
    return LLMResponse(
        recorded.content, data, failure, usage, recorded.model, 0.0, recorded.finish_reason
    )


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, so prompts read (and diff) as they are."""


# Characters a YAML reader does not give back as written in a plain, single-quoted or
# block scalar: other line breaks (read as ``\n`` or folded to a space), ``\r``, and
# what YAML cannot hold unescaped (controls, lone surrogates, U+FEFF, U+FFFE/U+FFFF).
_ESCAPE = re.compile(
    "[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """A string written so it reads back exactly: escaped (``"..."``) when it must be."""
    if _ESCAPE.search(value) is not None:
        style: str | None = '"'
    elif "\n" in value:
        style = "|"
    else:  # quoted when this package's YAML 1.2 reader would take it as a number
        style = None if plain_is_text(value) else "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_cassette(interactions: Mapping[str, _Interaction]) -> str:
    """The cassette text: interactions sorted by request key."""
    cassette = _Cassette(version=1, interactions=tuple(v for _, v in sorted(interactions.items())))
    data = cassette.model_dump(by_alias=True, exclude_none=True, exclude_defaults=False)
    body = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000, indent=2
    )
    return _HEADER + body


def load_cassette(path: Path) -> tuple[dict[str, _Interaction], dict[str, int]]:
    """Interactions by request key, and the line where each is written."""
    try:
        data, where = load_yaml(path.read_bytes(), path=str(path), max_bytes=MAX_BYTES)
    except FlowError as exc:
        raise CassetteError(str(exc), path=str(path)) from None
    except OSError as exc:
        raise CassetteError(
            f"{path}: cannot read the cassette: {exc.strerror}", path=str(path)
        ) from None
    try:
        cassette = _Cassette.model_validate(data)
    except ValidationError as exc:
        raise CassetteError(_invalid(exc, where), path=str(path)) from None
    found: dict[str, _Interaction] = {}
    lines: dict[str, int] = {}
    for index, interaction in enumerate(cassette.interactions):
        try:
            key = _key(_as_request(interaction.request))
        except ConfigurationError as exc:
            line, col = where.position(("interactions", index, "request"))
            raise CassetteError(f"{path}:{line}:{col}: {exc}", path=str(path)) from None
        found[key] = interaction
        lines[key] = where.position(("interactions", index))[0]
    return found, lines


def _invalid(exc: ValidationError, where: SourceMap) -> str:
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    line, col = where.position(loc)
    at = ".".join(str(p) for p in loc) or "the top level"
    return f"{where.path}:{line}:{col}: not a cassette: {at}: {error['msg']}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
