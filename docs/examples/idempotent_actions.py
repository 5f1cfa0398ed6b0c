"""An action with a side effect, a save that fails, and the message sent again.

The action runs at least once per message; each run of the same call for the same
message carries the same idempotency key, so the returns system files one return.
"""

import dialogue
from dialogue.stores.sqlite import SQLiteStore

FLOW = """
flow: returns
start: menu
slots:
  order_id: {type: pattern, pattern: '[A-Z]{2}\\d{6}', ask: "Which order?"}
intents:
  return: {keywords: [return]}
states:
  menu:
    say: "Hi! Say 'return' to send something back."
    on: {return: filing}
  filing:
    collect: [order_id]
    call: {action: file_return, with: {order_id: order_id}, into: rma}
    next:
      - say: "Return {{ rma.number }} filed for {{ order_id }}."
        goto: menu
"""

RETURNS: dict[str, dict[str, str]] = {}
"""The returns system: one return per idempotency key (as a unique column would)."""
KEYS: list[str] = []
"""The key of every run of the action."""


def file_return(order_id: str, idempotency_key: str) -> dict[str, str]:
    KEYS.append(idempotency_key)
    if idempotency_key not in RETURNS:  # a run again for the same message: a no-op
        RETURNS[idempotency_key] = {"number": f"R{len(RETURNS) + 1}", "order": order_id}
    return RETURNS[idempotency_key]


class FlakyStore(SQLiteStore):
    """SQLite whose next save is lost, as a dropped connection would lose it."""

    drop_next = False

    def save_release(self, session: dialogue.Session, token: str) -> None:
        if self.drop_next:
            self.drop_next = False
            raise ConnectionResetError("connection lost")
        super().save_release(session, token)


store = FlakyStore("returns.db")
bot = dialogue.compile_flows([dialogue.parse_flow(FLOW, path="returns.yaml")])
engine = dialogue.Engine(bot, store=store, actions={"file_return": file_return})
engine.handle("user-1", "return", message_id="m1")

store.drop_next = True
try:
    engine.handle("user-1", "AB123456", message_id="m2")
except dialogue.StoreError as exc:
    print("save failed; retryable:", exc.retryable)  # the action ran, the turn is lost

result = engine.handle("user-1", "AB123456", message_id="m2")  # the client sends it again
print("bot>", result.replies[0])
print(f"action runs: {len(KEYS)}, keys: {len(set(KEYS))}, returns filed: {len(RETURNS)}")
engine.close()
store.close()
