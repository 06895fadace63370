"""The development sender: writes each message to the log and to ``var/outbox.log``.

Nothing leaves the machine, so a developer (or a demo) can read what would have been sent.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from feedback.models import OutboxMessage, utcnow

log = logging.getLogger("feedback.outbox")


class LogSender:
    """Writes messages instead of sending them."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    async def send(self, message: OutboxMessage) -> None:
        """Log the message and append it to the outbox file."""
        log.info("%s to %s [%s]: %s", message.channel, message.recipient, message.message_key, message.body)
        if self.path is not None:
            await asyncio.to_thread(self._append, message)

    def _append(self, message: OutboxMessage) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            f"--- {utcnow().isoformat(timespec='seconds')} {message.channel} {message.message_key}",
            f"To: {message.recipient}",
        ]
        if message.subject:
            lines.append(f"Subject: {message.subject}")
        lines += ["", message.body, ""]
        with self.path.open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")

    async def aclose(self) -> None:
        """Nothing to release."""
