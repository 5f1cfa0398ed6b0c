"""A queue worker: messages in from a Redis list, replies out to one list per session.

A message is JSON ``{"session_id": ..., "text": ..., "message_id": ...}`` pushed
(RPUSH) onto the queue. Run as many workers as you like, on any hosts:

    DIALOGUE_WORKER=worker-1 python docs/examples/queue_worker.py

Each worker moves a message to its own processing list (BLMOVE) before it
answers, and removes it only once the reply is pushed. A worker that dies holds
its message in that list; started again under the same name, it answers it
first. The message may have been answered already: its ``message_id`` makes the
engine give the first answer again instead of running a second turn, so the
reply is pushed again, with the same ``message_id``, and the reader drops the
repeat.

Environment: ``DIALOGUE_REDIS`` (the queue's server, default
redis://localhost:6379/0), ``DIALOGUE_STORE`` (the sessions, default the same
server), ``DIALOGUE_QUEUE`` (default ``dialogue:inbox``), ``DIALOGUE_WORKER``
(default the host name). SIGTERM or SIGINT stops a worker after its message.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import redis

import dialogue

FLOW = Path(__file__).resolve().parents[2] / "flows" / "customer_service.yaml"


def replies_key(queue: str, session_id: str) -> str:
    """The list that the replies to one session's messages go to."""
    return f"{queue}:replies:{session_id}"


def answer(
    engine: dialogue.Engine, client: redis.Redis, queue: str, processing: str, raw: str
) -> None:
    """Answer a message taken into ``processing``, push the reply, then let go of it."""
    message = json.loads(raw)
    session_id, message_id = message["session_id"], message["message_id"]
    try:
        result = engine.handle(session_id, message["text"], message_id=message_id)
    except dialogue.LeaseTimeout:
        client.rpush(queue, raw)  # its session stayed busy elsewhere: answer it later
    else:
        reply = {"message_id": message_id, "replies": result.replies}
        client.rpush(replies_key(queue, session_id), json.dumps(reply))
    client.lrem(processing, 1, raw)


def main() -> None:
    server = os.environ.get("DIALOGUE_REDIS", "redis://localhost:6379/0")
    store = os.environ.get("DIALOGUE_STORE", server)
    queue = os.environ.get("DIALOGUE_QUEUE", "dialogue:inbox")
    name = os.environ.get("DIALOGUE_WORKER", socket.gethostname())
    processing = f"{queue}:processing:{name}"

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    client = redis.Redis.from_url(server, decode_responses=True)
    with dialogue.Engine.from_path(FLOW, store=store) as engine:
        # What this worker was answering when it last stopped: answer it again.
        for left in client.lrange(processing, 0, -1):
            answer(engine, client, queue, processing, left)
        print(f"{name}: answering {queue}", flush=True)
        while not stopping:
            taken = client.blmove(queue, processing, timeout=1, src="LEFT", dest="RIGHT")
            if taken is not None:  # else nothing came for a second: look at `stopping` again
                answer(engine, client, queue, processing, taken)
    client.close()


if __name__ == "__main__":
    main()
