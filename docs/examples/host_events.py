"""Quick replies and events from the host: show a reply's options, send the one a user
picks, tell the flow that something happened (a parcel shipped, the user went quiet).

Run it from the repository root:

    python docs/examples/host_events.py
"""

from __future__ import annotations

from pathlib import Path

import dialogue

SHOP = Path(__file__).resolve().parents[2] / "flows" / "customer_service.yaml"


def show(said: str | None, result: dialogue.TurnResult) -> None:
    if said is not None:
        print(f"you> {said}")
    for reply in result.replies:
        print(f"bot> {reply}")
    for n, option in enumerate(result.options, 1):  # buttons, in a real client
        print(f"     [{n}] {option.label}")
    print(f"     {result.trace.summary()}")


def pick(result: dialogue.TurnResult, label: str) -> dialogue.Option:
    """The option a user taps: the client sends its `text` (for an option that names an
    intent, `/intent`, which the engine takes as exactly that intent)."""
    return next(option for option in result.options if option.label == label)


def main() -> None:
    with dialogue.Engine.from_path(SHOP, llm=None) as engine:
        print("== quick replies")
        result = engine.start("user-1")
        show(None, result)
        option = pick(result, "Start a return")
        result = engine.handle("user-1", option.text)
        show(option.label, result)
        result = engine.handle("user-1", "AB123456")
        show("AB123456", result)

        print("== the host's inactivity timer fires (the flow says what to do)")
        show("(event inactivity)", engine.event("user-1", "inactivity"))

        print("== a proactive message: the warehouse shipped an order")
        shipped = engine.event("user-1", "parcel_shipped", data={"shipped_order": "cd654321"})
        show("(event parcel_shipped)", shipped)  # the host delivers these replies

        print("== an event the current state does not handle changes nothing")
        engine.handle("user-2", "hello")
        ignored = engine.event("user-2", "inactivity")
        print(f"     rule={ignored.trace.rule} replies={ignored.replies} state={ignored.state}")

        print("== an event no flow declares is the host's mistake")
        try:
            engine.event("user-1", "parcel_shiped")
        except dialogue.EventError as exc:
            print(f"     {exc.code}: {exc} ({exc.hint})")


if __name__ == "__main__":
    main()
