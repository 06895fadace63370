"""The one interface every delivery transport implements (FixMyStreet's SendReport idea).

A sender gets one outbox message and either returns (delivered) or raises:
``TemporaryFailure`` (try again later, e.g. the gateway is down or timed out) or
``PermanentFailure`` (no retry can help, e.g. the number or address is refused).
"""

from __future__ import annotations

from typing import Protocol

from feedback.models import OutboxMessage


class DeliveryError(Exception):
    """Delivery did not succeed; the message says why (kept as the message's last_error)."""


class TemporaryFailure(DeliveryError):
    """Try again later with the same message key."""


class PermanentFailure(DeliveryError):
    """Give up: the message is marked failed at once."""


class Sender(Protocol):
    """Delivers outbox messages of one channel."""

    async def send(self, message: OutboxMessage) -> None:
        """Deliver ``message`` or raise a ``DeliveryError``."""
        ...

    async def aclose(self) -> None:
        """Release connections (called once when the worker stops)."""
        ...


def short(text: str, limit: int = 300) -> str:
    """A bounded, single-line excerpt for an error message."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
