"""The web chat page in a real headless browser: Playwright driving Debian's Chromium.

The page is served by a real uvicorn on loopback (``LiveServer``); LLM replies come
from the fake Chat Completions server. Needs Chromium at ``/usr/bin/chromium`` (or
``DIALOGUE_CHROMIUM``; ``.ci/run`` installs Debian's ``chromium``) and fails without
it; ``DIALOGUE_SKIP_BROWSER=1`` skips instead. Playwright's own browser download is
never used (``executable_path``).

Screenshots: every test leaves one (``<test>.png``; ``<test>-failed.png`` when it
failed) and some a few more, in ``$DIALOGUE_SCREENSHOTS`` when set (``.ci/run``:
``.artifacts/web-chat/``), else in ``web-chat-screenshots/`` under pytest's base
temporary directory (printed at the end of the module's run: ``pytest -rA``
shows it; pytest removes it after three more runs).

One browser per module (per xdist worker); each test opens its own context (its own
sessionStorage), which costs milliseconds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dialogue import Engine, compile_flows, parse_flow
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.server import create_app
from dialogue.testing import FakeChatServer, FakeReply
from dialogue.testing.live_server import LiveServer

if os.environ.get("DIALOGUE_SKIP_BROWSER") == "1":
    pytest.skip("DIALOGUE_SKIP_BROWSER=1", allow_module_level=True)

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # failed in the browser fixture, with the fix
    sync_playwright = None

CHROMIUM = os.environ.get("DIALOGUE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 30_000  # an upper bound for a loaded 2-core machine, never a measured time
TOKEN = "page-test-token"
GREETING = "Hi! I can track an order or get you a person."
MARKUP = '<script>window.pwned = 1</script><b>bold</b> & <img src=x onerror="window.pwned = 2">'
WEB = f"""
flow: web
start: welcome
intents:
  track: {{keywords: [track]}}
  markup: {{keywords: [markup]}}
  bye: {{keywords: [bye]}}
  human: {{keywords: [agent], scope: global, goto: handoff}}
states:
  welcome:
    say: "{GREETING}"
    next: [{{goto: menu}}]
  menu:
    on:
      track: {{say: "Your order is on its way."}}
      markup: {{say: '{MARKUP}'}}
      bye: goodbye
  handoff: {{say: "I'm connecting you to a person now.", final: true}}
  goodbye: {{say: "Bye!", final: true}}
"""
OPEN = "We are open from eight until eight, every weekday."


# -- servers and the browser ------------------------------------------------------------


def web_app(fake: FakeChatServer, **options: Any) -> tuple[LiveServer, Engine]:
    llm = OpenAIChatClient(api_key="test-key", base_url=fake.url)
    engine = Engine(
        compile_flows([parse_flow(WEB, path="web.yaml")]), llm=llm, llm_settings={"retries": 0}
    )
    options.setdefault("rate_limit", None)
    return LiveServer(create_app(engine, **options)).start(), engine


@pytest.fixture(scope="module")
def site(server: FakeChatServer) -> Iterator[LiveServer]:
    live, engine = web_app(server)
    yield live
    live.stop()
    engine.close()


@pytest.fixture(scope="module")
def secured(server: FakeChatServer) -> Iterator[LiveServer]:
    live, engine = web_app(server, token=TOKEN)
    yield live
    live.stop()
    engine.close()


@pytest.fixture(scope="module")
def debugging(server: FakeChatServer) -> Iterator[LiveServer]:
    live, engine = web_app(server, debug=True)
    yield live
    live.stop()
    engine.close()


@pytest.fixture(scope="module")
def limited(server: FakeChatServer) -> Iterator[LiveServer]:
    live, engine = web_app(server, rate_limit=(1, 3600.0))
    yield live
    live.stop()
    engine.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        pytest.fail(
            "Playwright is not installed: pip install -e '.[dev]' (the browser tests need "
            "it; DIALOGUE_SKIP_BROWSER=1 skips them)",
            pytrace=False,
        )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's chromium "
            "(sudo apt-get install -y chromium; .ci/run does this) or set DIALOGUE_CHROMIUM "
            "to a Chromium binary; DIALOGUE_SKIP_BROWSER=1 skips the browser tests",
            pytrace=False,
        )
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    given = os.environ.get("DIALOGUE_SCREENSHOTS")
    where = Path(given) if given else tmp_path_factory.getbasetemp() / "web-chat-screenshots"
    where.mkdir(parents=True, exist_ok=True)
    yield where
    print(f"\nweb chat screenshots: {where}")


@pytest.fixture
def page(browser: Browser, shots: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page in a context of its own; a screenshot of it is kept at the end."""
    context = browser.new_context(viewport={"width": 900, "height": 700})
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.dismiss())  # an alert() would be a failure
    yield opened
    report = getattr(request.node, "rep_call", None)
    failed = report is not None and report.failed
    name = request.node.name + ("-failed" if failed else "")
    try:
        opened.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    finally:
        context.close()


def shot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


# -- helpers ----------------------------------------------------------------------------


def say(page: Page, text: str) -> None:
    expect(page.locator("#text")).to_be_enabled()
    page.fill("#text", text)
    page.press("#text", "Enter")


def bot(page: Page) -> Any:
    """The bot's reply bubbles, in order."""
    return page.locator(".msg.bot .bubble")


def session_id(page: Page) -> str:
    found = page.evaluate("sessionStorage.getItem('dialogue.session')")
    assert isinstance(found, str) and found
    return found


def stored(live: LiveServer, sid: str, **headers: str) -> dict[str, Any]:
    response = httpx.get(f"{live.url}/v1/sessions/{sid}", headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


# -- the tests --------------------------------------------------------------------------


def test_the_greeting_shows_then_a_rule_reply(page: Page, site: LiveServer) -> None:
    page.goto(site.url + "/")
    expect(bot(page)).to_have_text([GREETING])
    expect(page.locator("#chat")).to_have_attribute("data-conversation", "open")
    say(page, "track")
    expect(page.locator(".msg.user .bubble")).to_have_text(["track"])
    expect(bot(page)).to_have_text([GREETING, "Your order is on its way."])
    expect(page.locator("#text")).to_be_enabled()
    expect(page.locator("#text")).to_be_focused()


def test_an_llm_reply_arrives_in_pieces(
    page: Page, site: LiveServer, fake: FakeChatServer, shots: Path
) -> None:
    release = threading.Event()
    pieces = ['{"intent": null, "slots": {}, "reply": "We are ', OPEN[7:] + '"}']
    fake.script(FakeReply.chunks(pieces, gates={1: release}))  # the default structured mode
    page.goto(site.url + "/")
    expect(bot(page)).to_have_text([GREETING])
    try:
        say(page, "when are you open?")
        streaming = page.locator(".msg.bot.streaming .bubble")
        expect(streaming).to_have_count(1)
        # the first two pieces are on the page while the rest is held back
        expect(streaming).to_have_js_property("textContent", "We are")
        assert fake.pieces_sent == 1
        shot(page, shots, "llm-reply-partial")
        expect(page.locator("#text")).to_be_disabled()  # a turn at a time
    finally:
        release.set()
    expect(bot(page)).to_have_text([GREETING, OPEN])
    expect(page.locator(".msg.bot.streaming")).to_have_count(0)
    assert fake.requests[-1]["stream"] is True
    expect(page.locator("#text")).to_be_enabled()


def test_the_handoff_is_shown_and_closes_the_input(page: Page, site: LiveServer) -> None:
    page.goto(site.url + "/")
    expect(bot(page)).to_have_text([GREETING])
    first = session_id(page)
    say(page, "I want an agent")
    expect(bot(page).last).to_have_text("I'm connecting you to a person now.")
    expect(page.locator("#chat")).to_have_attribute("data-conversation", "handoff")
    expect(page.locator("#status")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("handed to a person")
    expect(page.locator("#text")).to_be_disabled()
    expect(page.locator("#send")).to_be_disabled()
    assert stored(site, first)["handoff"] is True

    page.click("#restart")  # a new conversation; the old one stays for the person
    expect(bot(page)).to_have_text([GREETING])
    expect(page.locator("#status")).to_be_hidden()
    expect(page.locator("#text")).to_be_enabled()
    assert session_id(page) != first
    assert stored(site, first)["state"] == "handoff"


def test_an_ended_conversation_is_not_a_handoff(page: Page, site: LiveServer) -> None:
    page.goto(site.url + "/")
    expect(bot(page)).to_have_text([GREETING])
    say(page, "bye")
    expect(page.locator("#chat")).to_have_attribute("data-conversation", "ended")
    expect(page.locator("#status")).to_contain_text("This conversation has ended")
    expect(page.locator("#text")).to_be_disabled()


def test_html_in_replies_shows_as_text(page: Page, site: LiveServer, fake: FakeChatServer) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.goto(site.url + "/")
    expect(bot(page)).to_have_text([GREETING])
    say(page, "markup")  # a rule reply
    expect(bot(page).last).to_have_text(MARKUP, use_inner_text=True)
    llm_markup = "<script>alert(1)</script><b>streamed</b>"
    fake.script(FakeReply.json({"intent": None, "slots": {}, "reply": llm_markup}))
    say(page, "tell me something")  # an LLM reply, streamed
    expect(bot(page).last).to_have_text(llm_markup, use_inner_text=True)
    expect(page.locator("#log b, #log img, #log script")).to_have_count(0)
    assert page.evaluate("window.pwned") is None
    assert dialogs == []


def test_thumbs_up_is_stored_with_the_session(page: Page, site: LiveServer) -> None:
    page.goto(site.url + "/")
    expect(bot(page)).to_have_text([GREETING])
    say(page, "track")
    expect(bot(page)).to_have_count(2)
    reply = page.locator(".msg.bot").last
    up = reply.locator(".rate[data-rating='up']")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(reply.locator(".rate[data-rating='down']")).to_have_attribute("aria-pressed", "false")
    feedback = stored(site, session_id(page))["feedback"]
    assert [(f["turn"], f["rating"]) for f in feedback] == [(2, "up")]

    reply.locator(".rate[data-rating='down']").click()  # changing one's mind replaces it
    expect(up).to_have_attribute("aria-pressed", "false")
    feedback = stored(site, session_id(page))["feedback"]
    assert [(f["turn"], f["rating"]) for f in feedback] == [(2, "down")]


def test_a_reload_continues_the_conversation(page: Page, site: LiveServer) -> None:
    page.goto(site.url + "/")
    expect(bot(page)).to_have_text([GREETING])
    say(page, "track")
    expect(bot(page)).to_have_count(2)
    page.locator(".msg.bot").last.locator(".rate[data-rating='up']").click()
    expect(page.locator(".rate[aria-pressed='true']")).to_have_count(1)
    sid = session_id(page)

    page.reload()
    expect(bot(page)).to_have_text([GREETING, "Your order is on its way."])
    expect(page.locator(".rate[aria-pressed='true']")).to_have_count(1)
    assert session_id(page) == sid
    say(page, "track")
    expect(bot(page)).to_have_count(3)
    assert stored(site, sid)["turns"] == 3

    # erased on the server (or expired): the page starts a new conversation
    assert httpx.delete(f"{site.url}/v1/sessions/{sid}", timeout=60).status_code == 204
    page.reload()
    expect(bot(page)).to_have_text([GREETING])
    assert session_id(page) != sid


def test_a_token_from_the_address_is_used_and_hidden(page: Page, secured: LiveServer) -> None:
    page.goto(f"{secured.url}/?token={TOKEN}&debug=0")
    expect(bot(page)).to_have_text([GREETING])
    assert "token" not in page.url and page.url.endswith("/?debug=0")
    say(page, "track")
    expect(bot(page)).to_have_count(2)
    page.reload()  # kept for the tab, not in the address
    expect(bot(page)).to_have_count(2)
    say(page, "track")
    expect(bot(page)).to_have_count(3)
    assert TOKEN not in page.content()


def test_without_the_token_the_page_says_so(page: Page, secured: LiveServer, shots: Path) -> None:
    page.goto(secured.url + "/")
    expect(page.locator("#auth")).to_be_visible()
    expect(page.locator("#auth")).to_contain_text("needs an access token")
    shot(page, shots, "token-needed")
    expect(page.locator("#chat")).to_have_attribute("data-conversation", "unauthorized")
    expect(page.locator("#text")).to_be_disabled()
    expect(bot(page)).to_have_count(0)

    page.fill("#auth-token", "wrong")
    page.press("#auth-token", "Enter")
    expect(page.locator("#auth")).to_contain_text("was not accepted")
    page.fill("#auth-token", TOKEN)
    page.press("#auth-token", "Enter")
    expect(bot(page)).to_have_text([GREETING])
    expect(page.locator("#auth")).to_be_hidden()


def test_phone_width_has_no_horizontal_scroll(page: Page, site: LiveServer) -> None:
    page.set_viewport_size({"width": 375, "height": 667})
    page.goto(site.url + "/")
    expect(bot(page)).to_have_text([GREETING])
    say(page, "x" * 300)  # one long word: the fake LLM's "ok" is no answer: no-match
    expect(bot(page)).to_have_count(2)
    say(page, "agent")
    expect(page.locator("#status")).to_be_visible()
    widths = page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth,
            body: document.body.scrollWidth,
            log: document.getElementById('log').scrollWidth,
            logBox: document.getElementById('log').clientWidth,
            view: window.innerWidth,
            restart: document.getElementById('restart').getBoundingClientRect().right,
            send: document.getElementById('send').getBoundingClientRect().right,
        })"""
    )
    assert widths["view"] == 375
    assert widths["page"] <= 375 and widths["body"] <= 375, widths
    assert widths["log"] <= widths["logBox"], widths
    assert widths["restart"] <= 375 and widths["send"] <= 375, widths


def test_debug_shows_each_turns_trace(page: Page, debugging: LiveServer) -> None:
    page.goto(debugging.url + "/?debug=1")
    expect(bot(page)).to_have_text([GREETING])
    say(page, "track")
    traces = page.locator(".msg.bot details.trace")
    expect(traces).to_have_count(2)
    expect(traces.last.locator("summary")).to_contain_text("track")
    traces.last.locator("summary").click()
    expect(traces.last.locator("pre")).to_contain_text('"intent": "track"')
    expect(traces.last.locator("pre")).to_contain_text('"state_after": "web.menu"')


def test_debug_without_a_debug_server_shows_no_trace(page: Page, site: LiveServer) -> None:
    page.goto(site.url + "/?debug=1")
    expect(bot(page)).to_have_text([GREETING])
    expect(page.locator(".trace.none")).to_contain_text("not in debug mode")
    expect(page.locator("details.trace")).to_have_count(0)


def test_a_debug_server_shows_no_trace_unless_asked(page: Page, debugging: LiveServer) -> None:
    page.goto(debugging.url + "/")
    expect(bot(page)).to_have_text([GREETING])
    expect(page.locator(".trace")).to_have_count(0)


def test_too_many_messages_says_to_wait(page: Page, limited: LiveServer, shots: Path) -> None:
    page.goto(limited.url + "/")
    expect(bot(page)).to_have_text([GREETING])
    say(page, "track")
    expect(bot(page)).to_have_count(2)
    say(page, "track again")
    expect(page.locator("#notice")).to_contain_text("Too many messages: wait 3600 seconds")
    expect(page.locator(".msg.user.failed .bubble")).to_have_text(["track again"])
    expect(page.locator("#text")).to_have_value("track again")  # to send later
    expect(page.locator("#text")).to_be_enabled()
    shot(page, shots, "rate-limited")


def test_a_lost_answer_is_sent_again_with_the_same_id(page: Page, site: LiveServer) -> None:
    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: sent.append(r.post_data_json) if r.url.endswith("/messages/stream") else None,
    )
    page.goto(site.url + "/")
    expect(bot(page)).to_have_text([GREETING])

    def lost(route: Any) -> None:  # the server answers, the answer never arrives
        route.fetch()
        route.abort()

    page.route("**/messages/stream", lost)
    say(page, "track")
    expect(page.locator("#notice")).to_contain_text("Could not reach the server")
    assert stored(site, session_id(page))["turns"] == 2  # the server did answer it
    page.unroute("**/messages/stream")
    page.route(  # a stream cut before its result: a piece of a reply, then nothing
        "**/messages/stream",
        lambda route: route.fulfill(
            status=200,
            content_type="text/event-stream",
            body='event: delta\ndata: {"index": 0, "text": "Your or", "replace": false}\n\n',
        ),
    )
    page.click("#retry")
    expect(page.locator("#notice")).to_contain_text("The answer was cut off")
    expect(bot(page)).to_have_text([GREETING])  # the piece is not left standing
    page.unroute("**/messages/stream")
    page.click("#retry")
    expect(bot(page)).to_have_text([GREETING, "Your order is on its way."])
    expect(page.locator("#notice")).to_be_hidden()
    expect(page.locator(".msg.user .bubble")).to_have_text(["track"])

    assert len(sent) == 3 and all(body == sent[0] for body in sent)  # one message id
    assert sent[0]["text"] == "track" and sent[0]["message_id"].startswith("web-")
    assert stored(site, session_id(page))["turns"] == 2  # the turn ran once, answered twice
