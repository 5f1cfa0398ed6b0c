"""Intents trained from examples: a typo'd paraphrase matches, an unrelated message abstains.

Run from anywhere (needs the extra: pip install 'dialogue[nlu]'):
    python docs/examples/nlu.py
"""

from dialogue import Engine, compile_flows, parse_flow

FLOW = """
flow: shop
start: menu
intents:
  track:
    keywords: [track]
    examples:
      - where is my order
      - when will my package arrive
      - has my parcel been shipped yet
      - I'm still waiting for my delivery
      - can you check the status of my order
  refund:
    keywords: [refund]
    examples:
      - I want my money back
      - can I return this item
      - the product is broken, I want to send it back
      - how do I get reimbursed
      - I'd like to return my purchase
states:
  menu:
    say: "Hi! I can track an order or refund one."
    on: {track: tracking, refund: refunding}
  tracking: {say: "Let me look up your order.", final: true}
  refunding: {say: "Let's start your refund.", final: true}
fallback:
  no_match: "Sorry, I can track an order or refund one."
"""

engine = Engine(compile_flows([parse_flow(FLOW, path="shop.yaml")]))
for text in ["trak my ordr", "I want my mony back", "which team won the match"]:
    session = text  # a new conversation for each message
    engine.start(session)
    result = engine.handle(session, text)
    print(f"user> {text}")
    print(f" bot> {result.text}")
    print(f"      {result.trace.summary()}")
    for event in result.trace.events:
        if type(event).__name__ == "Classified":
            print(
                f"      classifier: {event.best} {event.confidence:.2f}, runner-up "
                f"{event.runner_up} {event.runner_up_confidence:.2f}, "
                f"{'taken' if event.taken else 'abstained'} (threshold {event.threshold})"
            )
