"""The quick-reply and event examples of the docs run and do what the docs say:
``docs/examples/host_events.py`` (shown whole in docs/embedding.md) and the two
example flows of docs/flow-format.md ("Quick replies", "Events from the host")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from dialogue import Engine, Option, compile_flows, parse_flow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "host_events.py"


def test_the_guide_shows_the_example_as_it_is() -> None:
    guide = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8")
    code = EXAMPLE.read_text(encoding="utf-8")
    assert f"```python\n{code}```" in guide, "copy docs/examples/host_events.py into the guide"


def test_the_example_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    run = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "you> Start a return\nbot> What's your order number?" in out
    assert "     [intent return ('/return')] menu -> returning" in out
    assert "bot> Are you still there?" in out
    assert "bot> Good news: your order CD654321 has just shipped." in out
    assert "     rule=event_ignored replies=[] state=menu" in out
    assert "invalid_event: no flow declares event 'parcel_shiped'" in out


def doc_flow(name: str) -> Engine:
    """The flow ``flow: NAME`` of a yaml block of docs/flow-format.md, compiled."""
    guide = (ROOT / "docs" / "flow-format.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", guide, re.S)
    text = next(b for b in blocks if b.startswith(f"flow: {name}\n"))
    return Engine(compile_flows([parse_flow(text, path=f"{name}.yaml")]))


def test_the_quick_replies_flow_of_the_guide() -> None:
    engine = doc_flow("quick")
    greeting = engine.start("s")
    assert greeting.options == (
        Option("Start a return", "/return", "return"),
        Option("Talk to a person", "/human", "human"),
        Option("Opening hours", "when are you open"),
        Option("Just looking", "Just looking"),
    )
    asked = engine.handle("s", "/return")
    assert [o.label for o in asked.options] == ["damaged", "wrong item"]
    confirm = engine.handle("s", "damaged")
    assert [o.label for o in confirm.options] == ["Yes", "No"]
    filed = engine.handle("s", "Yes")
    assert filed.replies == ["Filed.", "Hi! What can I do?"]
    assert [o.label for o in filed.options] == [
        "Start a return",
        "Talk to a person",
        "Opening hours",
        "Just looking",
    ]


def test_the_events_flow_of_the_guide() -> None:
    engine = doc_flow("shop_events")
    engine.start("s")
    engine.handle("s", "pay")
    still = engine.event("s", "inactivity")
    assert still.replies == ["Still there? I'm waiting for your order number.", "Order number?"]
    shipped = engine.event("s", "parcel_shipped", data={"order_id": "ab123456"})
    assert shipped.replies == ["Good news: order AB123456 has shipped."]
    assert [o.label for o in shipped.options] == ["Track it", "Thanks"]
    assert shipped.state == "paying"
    paid = engine.event("s", "payment_confirmed", data={"amount": 150})
    assert paid.replies == [
        "Thank you for your payment of 150: shipping is free.",
        "Hi! Say pay to pay your order.",
    ]
    assert engine.event("s", "inactivity").trace.rule == "event_ignored"
