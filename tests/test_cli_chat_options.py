"""``dialogue chat``: quick replies numbered (a number picks one), events by ``/event``."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from dialogue.cli.main import main

SHOP = str(Path(__file__).resolve().parent.parent / "flows" / "customer_service.yaml")
OFFLINE = {"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None}
MENU = ["  [1] Track an order", "  [2] Start a return", "  [3] Talk to a person"]


def chat(typed: str) -> Result:
    return CliRunner(env=OFFLINE).invoke(main, ["chat", SHOP], input=typed)


def shown(result: Result) -> list[str]:
    """The chat's lines after the header and notes (the test runner echoes what is typed
    after the prompt ``you> ``)."""
    out = result.stdout.splitlines()
    return [line for line in out if not line.startswith(("Chatting", "note:"))]


def test_a_number_picks_an_option_and_the_chat_says_which() -> None:
    result = chat("2\nAB123456\n3\n/quit\n")
    assert result.exit_code == 0, result.output
    assert shown(result) == [
        "bot> Hi! I'm the shop assistant. I can track an order, start a return, "
        "or get you a person.",
        *MENU,
        "you> 2",
        "you> Start a return",
        "bot> What's your order number? It looks like AB123456.",
        "you> AB123456",
        "bot> Why are you sending it back: damaged, wrong item, or changed your mind?",
        "  [1] damaged",
        "  [2] wrong item",
        "  [3] changed mind",
        "you> 3",
        "you> changed mind",
        "bot> Shall I file a return for order AB123456 (changed mind)? Please answer yes or no.",
        "  [1] Yes",
        "  [2] No",
        "you> /quit",
    ]


def test_a_number_with_no_such_option_is_sent_as_text() -> None:
    result = chat("7\n/quit\n")
    out = shown(result)
    at = out.index("you> 7")
    assert out[at + 1].startswith("bot> Sorry, I didn't get that.")


def test_an_event_is_sent_with_its_data() -> None:
    typed = '2\n/event parcel_shipped {"shipped_order": "cd654321"}\n/quit\n'
    result = chat(typed)
    assert result.exit_code == 0, result.output
    out = shown(result)
    at = out.index("you> (event parcel_shipped)")
    assert out[at - 1] == 'you> /event parcel_shipped {"shipped_order": "cd654321"}'
    assert out[at + 1 : at + 3] == [
        "bot> Good news: your order CD654321 has just shipped.",
        "bot> What's your order number? It looks like AB123456.",
    ]


def test_an_event_no_flow_declares_is_refused_and_nothing_is_sent() -> None:
    result = chat("/event shiped\n/event parcel_shipped [1]\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "no flow declares event 'shiped' (did you mean 'parcel_shipped'?)" in result.stdout
    assert "the event's data is a JSON object" in result.stdout
    assert result.stdout.count("bot> ") == 1, "only the greeting was answered"
