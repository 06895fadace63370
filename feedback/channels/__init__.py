"""Outbox delivery transports, one module each behind one interface (``base.Sender``).

``build_senders(settings)`` picks them from the settings: SMS ``log`` or ``http``, e-mail
``log`` or ``smtp``. The log sender is the development default.
"""

from __future__ import annotations

from feedback.channels.base import PermanentFailure, Sender, TemporaryFailure
from feedback.channels.email_smtp import SmtpSender
from feedback.channels.log import LogSender
from feedback.channels.sms_http import HttpSmsSender
from feedback.settings import Settings

__all__ = ["PermanentFailure", "Sender", "TemporaryFailure", "build_senders"]


def build_senders(settings: Settings) -> dict[str, Sender]:
    """One sender per outbox channel, as configured."""
    log_sender = LogSender(settings.data_dir / "outbox.log")
    senders: dict[str, Sender] = {"sms": log_sender, "email": log_sender}
    if settings.sms_sender == "http":
        senders["sms"] = HttpSmsSender(
            settings.sms_gateway_url,
            payload=settings.sms_gateway_payload,
            fields=settings.sms_gateway_fields,
            extra=settings.sms_gateway_extra,
            sender_id=settings.sms_gateway_from,
            user=settings.sms_gateway_user,
            password=settings.sms_gateway_password,
            token=settings.sms_gateway_token,
            token_header=settings.sms_gateway_token_header,
            token_scheme=settings.sms_gateway_token_scheme,
            timeout=settings.sms_gateway_timeout,
        )
    if settings.mail_sender == "smtp":
        senders["email"] = SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            mail_from=settings.mail_from,
            security=settings.smtp_security,
            user=settings.smtp_user,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout,
        )
    return senders
