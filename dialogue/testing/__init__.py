"""Test helpers for flows and for code that embeds `dialogue`.

* `Conversation`: talk to a flow from Python and check each turn
  (``conv.say("hi").expect(state="menu")``); a failed expectation raises
  `ConversationFailure` with the transcript and expected vs actual.
* Conversation test files (``test_*.yaml``, ``*.test.yaml``): `load_spec` /
  `parse_spec`; pytest collects them through the plugin ``dialogue.testing.plugin``,
  and ``dialogue test`` runs them without pytest.
* `FakeLLM` (scripted answers) over `FakeChatServer` / `FakeReply` (a real
  Chat Completions server on 127.0.0.1).
* `FlowCoverage`: states, transitions, intents, ladder steps, LLM fallback and
  prompts covered by recorded turns; `CoverageReport` renders it.
* `CassetteClient`: record LLM answers once, replay them deterministically.

Importing this package imports neither ``openai`` nor ``pytest``.
"""

from dialogue.errors import CassetteError, CassetteMiss, ConversationFailure, StubError
from dialogue.testing.cassette import CassetteClient
from dialogue.testing.conversation import Conversation, Exchange
from dialogue.testing.coverage import FlowCoverage
from dialogue.testing.coverage_report import Category, CoverageReport
from dialogue.testing.expectations import Mismatch
from dialogue.testing.fake_llm import FakeLLM
from dialogue.testing.fake_server import FakeChatServer, FakeReply
from dialogue.testing.spec import DEFAULT_TODAY, Expect, LoadedSpec, load_spec, parse_spec

__all__ = [
    "CassetteClient",
    "CassetteError",
    "CassetteMiss",
    "Category",
    "Conversation",
    "ConversationFailure",
    "CoverageReport",
    "DEFAULT_TODAY",
    "Exchange",
    "Expect",
    "FakeChatServer",
    "FakeLLM",
    "FakeReply",
    "FlowCoverage",
    "LoadedSpec",
    "Mismatch",
    "StubError",
    "load_spec",
    "parse_spec",
]
