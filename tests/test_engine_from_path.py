"""``Engine.from_path(llm=...)``: not given, None, a client, or the old string spelling."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialogue import ConfigurationError, Engine, OpenAIChatClient

FLOW = Path(__file__).resolve().parent.parent / "flows" / "customer_service.yaml"


def test_llm_not_given_uses_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # never called here
    with Engine.from_path(FLOW) as engine:
        assert not engine.offline


def test_llm_not_given_without_a_key_is_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with Engine.from_path(FLOW) as engine:
        assert engine.offline


def test_llm_none_is_offline_even_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with Engine.from_path(FLOW, llm=None) as engine:
        assert engine.offline


def test_llm_client_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = OpenAIChatClient(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    with Engine.from_path(FLOW, llm=client) as engine:
        assert not engine.offline


def test_llm_as_a_string_is_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        Engine.from_path(FLOW, llm="env")  # type: ignore[arg-type]
    assert str(info.value) == (
        "llm='env': pass an LLM client or None\n"
        "    hint: leave llm out to make the client from OPENAI_API_KEY"
    )
