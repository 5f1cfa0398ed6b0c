"""Business actions of the example shop bots (customer_service*.yaml).

A tiny in-memory stand-in for an order system. A real deployment passes its
own callables: ``Engine.from_path(path, actions={"lookup_order": ..., ...})``.
"""

from __future__ import annotations

import itertools
from typing import Any

ORDERS: dict[str, dict[str, Any]] = {
    "AB123456": {"status": "on its way", "status_zh": "运输中", "eta": "Thursday", "eta_zh": "周四"},
    "CD654321": {"status": "delivered", "status_zh": "已送达", "eta": None, "eta_zh": None},
    "EF111111": {"status": "being packed", "status_zh": "正在打包", "eta": "next Monday", "eta_zh": "下周一"},
}

_numbers = itertools.count(1001)


def lookup_order(order_id: str) -> dict[str, Any] | None:
    """The order's status, or None if there is no such order."""
    order = ORDERS.get(order_id)
    return None if order is None else {"id": order_id, **order}


def create_return(order_id: str, reason: str) -> dict[str, Any] | None:
    """File a return; None if the order does not exist."""
    if order_id not in ORDERS:
        return None
    return {"number": f"R{next(_numbers)}", "order_id": order_id, "reason": reason}
