"""Which flow of a folder conversations start in (``load_bot``, ``Engine.from_path``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialogue import ConfigurationError, Engine
from dialogue.assemble import load_bot


def flow(name: str, calls: str | None = None) -> str:
    call = f"    flow: {calls}\n" if calls else ""
    return f"flow: {name}\nstart: s\nstates:\n  s:\n{call}    final: true\n"


def test_a_folder_starts_in_the_flow_no_other_flow_calls(tmp_path: Path) -> None:
    # not the first file in name order: a_details.yaml is only called
    (tmp_path / "a_details.yaml").write_text(flow("details"))
    (tmp_path / "b_booking.yaml").write_text(flow("booking", calls="details"))
    bot, loaded = load_bot(tmp_path)
    assert [lf.flow.flow for lf in loaded] == ["details", "booking"]
    assert bot.main == "booking"


def test_a_folder_with_several_starting_flows_needs_main(tmp_path: Path) -> None:
    for name in ("orders", "returns"):
        (tmp_path / f"{name}.yaml").write_text(flow(name))
    with pytest.raises(ConfigurationError) as info:
        Engine.from_path(tmp_path, llm=None)
    assert str(info.value) == (
        f"{tmp_path} holds 2 flows that could start a conversation: orders, returns\n"
        "    hint: name one: Engine.from_path(path, main=...) or dialogue chat PATH --main NAME"
    )
    assert Engine.from_path(tmp_path, main="returns", llm=None).bot.main == "returns"
