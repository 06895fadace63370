"""E-mail through an SMTP server, with the standard library in a thread.

The message key becomes the Message-ID, so a resend after a crash can be recognised.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from feedback.channels.base import PermanentFailure, TemporaryFailure, short
from feedback.models import OutboxMessage


class SmtpSender:
    """Sends each message in its own SMTP session (the volume is small)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        mail_from: str,
        security: str = "none",
        user: str = "",
        password: str = "",
        timeout: float = 30.0,
    ) -> None:
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(f"unknown SMTP security {security!r}")
        self.host = host
        self.port = port
        self.mail_from = mail_from
        self.security = security
        self.user = user
        self.password = password
        self.timeout = timeout

    def build(self, message: OutboxMessage) -> EmailMessage:
        """The e-mail for one outbox message."""
        email = EmailMessage()
        email["From"] = self.mail_from
        email["To"] = message.recipient
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(usegmt=True)
        domain = self.mail_from.rpartition("@")[2] or "localhost"
        email["Message-ID"] = f"<{message.message_key}@{domain}>"
        email["Content-Language"] = message.locale
        email.set_content(message.body)
        return email

    async def send(self, message: OutboxMessage) -> None:
        """Send one e-mail; raises TemporaryFailure or PermanentFailure."""
        email = self.build(message)
        try:
            await asyncio.to_thread(self._send, email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            error = f"recipient refused: {codes}"
            if codes and all(code >= 500 for code in codes):
                raise PermanentFailure(error) from exc
            raise TemporaryFailure(error) from exc
        except smtplib.SMTPAuthenticationError as exc:
            # A wrong password is an operator's fix, not the message's fault: keep trying.
            raise TemporaryFailure(f"SMTP authentication failed ({exc.smtp_code})") from exc
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}: {short(exc.smtp_error.decode(errors='replace'), 200)}"
            if exc.smtp_code >= 500:
                raise PermanentFailure(error) from exc
            raise TemporaryFailure(error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"SMTP unavailable: {short(str(exc)) or type(exc).__name__}") from exc

    def _send(self, email: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(email)

    async def aclose(self) -> None:
        """Nothing to release (one session per message)."""
