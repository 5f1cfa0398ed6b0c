"""The reference point: customer_service.yaml's dialogue written by hand.

Plain Python as one would write it without a framework: a dict of state name ->
handler function, keyword checks with ``in``, ``str.format`` replies, one dict
per session kept in a dict. It says exactly what the engine says for the
benchmark conversation (``turn_latency.py`` checks that before timing), but has
none of the engine's guarantees: no copy-on-load, no versioned save, no trace,
no per-session lock, no history, no action timeouts, no Unicode folding.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

ORDERS: dict[str, dict[str, Any]] = {
    "AB123456": {"status": "on its way", "eta": "Thursday"},
    "CD654321": {"status": "delivered", "eta": None},
    "EF111111": {"status": "being packed", "eta": "next Monday"},
}
_numbers = itertools.count(1001)

GREETING = "Hi! I'm the shop assistant. I can track an order, start a return, or get you a person."
HELP = "I can tell you where your order is, start a return, or put you through to a person."
ASK_ORDER = "What's your order number? It looks like AB123456."
ASK_REASON = "Why are you sending it back: damaged, wrong item, or changed your mind?"
ASK_CONFIRM = "Shall I file a return for order {} ({})? Please answer yes or no."
STATUS = "Order {} is {}, expected {}. Anything else?"
STATUS_NO_ETA = "Order {} is {}. Anything else?"
FILED = "Done: your return number is {}. We've emailed you a prepaid label. Anything else?"
NOT_FILED = "OK, I haven't filed anything. Anything else?"
NO_MATCH = "Sorry, I didn't get that. I can track an order, start a return, or get you a person."
HANDOFF = "I'm connecting you to a person now. Please hold on."

ORDER_ID = re.compile(r"\b[A-Za-z]{2}\d{6}\b")
TRACK = ("where is my order", "track", "order status", "delivery", "shipped")
RETURN = ("return", "refund", "send it back", "exchange")
REASONS = {
    "broken": "damaged",
    "damaged": "damaged",
    "wrong item": "wrong item",
    "wrong size": "wrong item",
    "changed my mind": "changed mind",
}
YES = ("yes", "yeah", "sure", "ok")
NO = ("no", "nope")

Session = dict[str, Any]
Handler = Callable[[Session, str, str, list[str]], None]


def _track(s: Session, text: str, replies: list[str]) -> None:
    found = ORDER_ID.search(text)
    if found is None:
        s["state"] = "tracking"
        replies.append(ASK_ORDER)
        return
    order_id = found.group().upper()
    order = ORDERS.get(order_id)
    s["order_id"] = order_id
    s["state"] = "menu"
    if order is None:
        replies.append(f"I couldn't find an order {order_id}. Let's try again.")
    elif order["eta"]:
        replies.append(STATUS.format(order_id, order["status"], order["eta"]))
    else:
        replies.append(STATUS_NO_ETA.format(order_id, order["status"]))


def _start_return(s: Session, text: str, replies: list[str]) -> None:
    s.pop("reason", None)
    s.pop("confirmed", None)
    if "order_id" not in s:
        s["state"] = "return_order"
        replies.append(ASK_ORDER)
    else:
        s["state"] = "return_reason"
        replies.append(ASK_REASON)


def menu(s: Session, text: str, raw: str, replies: list[str]) -> None:
    if any(k in text for k in TRACK):
        _track(s, raw, replies)
    elif any(k in text for k in RETURN):
        _start_return(s, text, replies)
    else:
        replies.append(NO_MATCH)


def tracking(s: Session, text: str, raw: str, replies: list[str]) -> None:
    _track(s, raw, replies)


def return_order(s: Session, text: str, raw: str, replies: list[str]) -> None:
    found = ORDER_ID.search(raw)
    if found is None:
        replies.append(ASK_ORDER)
        return
    s["order_id"] = found.group().upper()
    s["state"] = "return_reason"
    replies.append(ASK_REASON)


def return_reason(s: Session, text: str, raw: str, replies: list[str]) -> None:
    for keyword, reason in REASONS.items():
        if keyword in text:
            s["reason"] = reason
            s["state"] = "return_confirm"
            replies.append(ASK_CONFIRM.format(s["order_id"], reason))
            return
    replies.append(ASK_REASON)


def return_confirm(s: Session, text: str, raw: str, replies: list[str]) -> None:
    if text in YES:
        number = f"R{next(_numbers)}"
        s["rma"] = number
        s["state"] = "menu"
        replies.append(FILED.format(number))
    elif text in NO:
        s["state"] = "menu"
        replies.append(NOT_FILED)
    else:
        replies.append("Please answer yes or no: shall I file the return?")


def ended(s: Session, text: str, raw: str, replies: list[str]) -> None:
    replies.append("This conversation has ended.")


STATES: dict[str, Handler] = {
    "menu": menu,
    "tracking": tracking,
    "return_order": return_order,
    "return_reason": return_reason,
    "return_confirm": return_confirm,
    "ended": ended,
}


class HandWritten:
    """Sessions in a dict; ``handle(session_id, text)`` returns the replies."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}

    def handle(self, session_id: str, text: str) -> list[str]:
        replies: list[str] = []
        s = self.sessions.get(session_id)
        if s is None:
            s = self.sessions[session_id] = {"state": "menu"}
            replies.append(GREETING)
        folded = text.lower()
        if "help" in folded:
            replies.append(HELP)
        elif "agent" in folded or "human" in folded:
            s["state"] = "ended"
            replies.append(HANDOFF)
        else:
            STATES[s["state"]](s, folded, text, replies)
        return replies

    def reset(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)
