"""Repeat contacts: the same customer starting another conversation within the window.

Every conversation is registered with its customer id and start as soon as it is seen, so a
conversation that ends before an earlier one of the same customer still finds it. Memory is
bounded: at most `max_customers` customers (least recently seen forgotten first) with at
most `max_per_customer` recent starts each, and starts more than `retention_s` older than
the customer's newest one are dropped.
"""

from __future__ import annotations

from collections import OrderedDict


class RepeatContacts:
    """Which conversations are repeat contacts of their customer."""

    def __init__(
        self,
        window_s: float,
        *,
        retention_s: float | None = None,
        max_customers: int = 200_000,
        max_per_customer: int = 16,
    ) -> None:
        self.window_s = window_s
        # How far behind a customer's newest start older starts are kept. The window is
        # enough when conversations are judged in order; a stream judges each one when it
        # ends, so it keeps the window plus the longest a conversation can last.
        self.retention_s = window_s if retention_s is None else retention_s
        self.max_customers = max_customers
        self.max_per_customer = max_per_customer
        self._starts: OrderedDict[str, dict[str, float]] = OrderedDict()

    def register(self, customer_id: str, conversation_id: str, start_s: float) -> None:
        """Records (or moves earlier) the start of a customer's conversation."""
        starts = self._starts.pop(customer_id, None) or {}
        known = starts.get(conversation_id)
        starts[conversation_id] = start_s if known is None else min(known, start_s)
        newest = max(starts.values())
        recent = {c: s for c, s in starts.items() if s >= newest - self.retention_s}
        if len(recent) > self.max_per_customer:
            kept = sorted(recent.items(), key=lambda item: item[1])[-self.max_per_customer :]
            recent = dict(kept)
        self._starts[customer_id] = recent
        while len(self._starts) > self.max_customers:
            self._starts.popitem(last=False)

    def is_repeat(self, customer_id: str, conversation_id: str, start_s: float) -> bool:
        """Whether another conversation of the customer started within the window before."""
        starts = self._starts.get(customer_id, {})
        return any(
            start_s - self.window_s <= other < start_s
            or (other == start_s and other_id < conversation_id)  # same instant: id order
            for other_id, other in starts.items()
            if other_id != conversation_id
        )

    def __len__(self) -> int:
        return len(self._starts)
