"""Server-sent events decoded line by line (``dialogue.llm.sse``), as the client reads a
streamed Chat Completions body."""

from __future__ import annotations

from dialogue.llm.sse import Decoder, Event


def decode(lines: list[str]) -> list[Event]:
    decoder = Decoder()
    events = [e for e in map(decoder.feed, lines) if e is not None]
    last = decoder.end()
    return events + ([last] if last is not None else [])


def test_events_end_at_empty_lines_and_join_their_data_lines() -> None:
    lines = ['data: {"a":', "data: 1}", "", "data: [DONE]", ""]
    assert decode(lines) == [Event('{"a":\n1}'), Event("[DONE]")]


def test_comments_other_fields_and_blank_runs_are_skipped() -> None:
    lines = [": keep-alive", "", "", "id: 7", "retry: 100", "data:x", "", ""]
    assert decode(lines) == [Event("x")]  # "data:x": the space after the colon is optional


def test_an_event_name_belongs_to_its_event_only() -> None:
    lines = ["event: error", 'data: {"error": {}}', "", "data: next", ""]
    assert decode(lines) == [Event('{"error": {}}', "error"), Event("next")]


def test_a_body_ending_without_its_empty_line_still_gives_its_last_event() -> None:
    assert decode(["data: one", "", "data: two"]) == [Event("one"), Event("two")]
    assert decode(["event: ping"]) == []  # a name without data is no event


def test_only_the_first_space_after_the_colon_is_dropped() -> None:
    assert decode(["data:  two spaces", ""]) == [Event(" two spaces")]
