"""Quick replies on the web chat page, in a real headless browser (see test_web_chat.py
for the browser set-up, shared here): buttons under the last reply, clicking one sends
its option, the label shows as what the user said, markup in labels stays text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_web_chat import browser, page, say, session_id, shots  # noqa: F401 (fixtures)

from dialogue import Engine, compile_flows, parse_flow
from dialogue.server import create_app
from dialogue.testing.live_server import LiveServer

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture fails with the fix
    pass

LABEL_MARKUP = '<b>Bold</b> <img src=x onerror="window.pwned = 1">'
FLOW = f"""
flow: buttons
start: menu
slots:
  reason:
    type: enum
    values: [damaged, wrong item]
    ask: "Why are you sending it back?"
    options: auto
intents:
  ret: {{keywords: [return]}}
  markup: {{keywords: [markup]}}
states:
  menu:
    say: "Hi! What can I do?"
    options:
      - {{label: "Start a return", intent: ret}}
      - {{label: '{LABEL_MARKUP}', text: markup}}
    on:
      ret: returning
      markup: {{say: "Markup stays text.", goto: menu}}
  returning:
    collect: [reason]
    next: {{say: "Noted: {{{{ reason }}}}.", goto: menu}}
"""


@pytest.fixture(scope="module")
def site() -> Iterator[LiveServer]:
    engine = Engine(compile_flows([parse_flow(FLOW, path="buttons.yaml")]))
    live = LiveServer(create_app(engine, rate_limit=None)).start()
    yield live
    live.stop()
    engine.close()


def bot(page: Page) -> Any:  # noqa: F811 (the page fixture)
    return page.locator(".msg.bot .bubble")


def options(page: Page) -> Any:  # noqa: F811 (the page fixture)
    return page.locator(".options .option")


def test_clicking_a_quick_reply_sends_it(page: Page, site: LiveServer) -> None:  # noqa: F811
    page.goto(site.url + "/")
    expect(bot(page)).to_have_text(["Hi! What can I do?"])
    expect(options(page)).to_have_text(["Start a return", LABEL_MARKUP], use_inner_text=True)
    options(page).first.click()
    expect(page.locator(".msg.user .bubble")).to_have_text(["Start a return"])
    expect(bot(page).last).to_have_text("Why are you sending it back?")
    expect(options(page)).to_have_text(["damaged", "wrong item"])  # the menu's are gone
    page.locator(".options .option", has_text="wrong item").click()
    expect(bot(page).last).to_have_text("Hi! What can I do?")
    expect(page.locator(".msg.user .bubble")).to_have_text(["Start a return", "wrong item"])
    sid = session_id(page)
    stored = httpx.get(f"{site.url}/v1/sessions/{sid}", timeout=60).json()
    assert stored["slots"]["reason"] == "wrong item" and stored["state"] == "menu"


def test_a_label_with_markup_is_text_and_sends_its_text(
    page: Page,  # noqa: F811
    site: LiveServer,
) -> None:
    page.goto(site.url + "/")
    expect(options(page)).to_have_count(2)
    expect(page.locator(".options b, .options img")).to_have_count(0)
    options(page).nth(1).click()
    expect(bot(page).nth(1)).to_have_text("Markup stays text.")
    assert page.evaluate("window.pwned") is None


def test_typing_instead_takes_the_buttons_away_and_a_reload_keeps_the_latest(
    page: Page,  # noqa: F811
    site: LiveServer,
) -> None:
    page.goto(site.url + "/")
    expect(options(page)).to_have_count(2)
    say(page, "return")
    expect(options(page)).to_have_text(["damaged", "wrong item"])
    page.reload()
    expect(bot(page)).to_have_text(["Hi! What can I do?", "Why are you sending it back?"])
    expect(options(page)).to_have_text(["damaged", "wrong item"])
    say(page, "it is damaged")
    expect(bot(page).last).to_have_text("Hi! What can I do?")
    expect(options(page)).to_have_count(2)
