"""Test helpers for flows and for code that embeds `dialogue`.

Importing this package imports neither ``openai`` nor ``pytest``.
"""

from dialogue.testing.fake_llm import FakeChatServer, FakeReply

__all__ = ["FakeChatServer", "FakeReply"]
