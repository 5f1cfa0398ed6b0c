"""Business actions of the example restaurant bot (restaurant.yaml)."""

from __future__ import annotations

import itertools

_refs = itertools.count(1)
BOOKINGS: list[dict[str, object]] = []


def book_table(date: str, time: str, party_size: int, name: str, phone: str) -> str:
    """Record a booking and return its reference."""
    ref = f"GF-{next(_refs):04d}"
    BOOKINGS.append(
        {"ref": ref, "date": date, "time": time, "party_size": party_size, "name": name, "phone": phone}
    )
    return ref
