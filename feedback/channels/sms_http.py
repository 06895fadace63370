"""SMS through an HTTP gateway (RapidPro/Kannel/Africa's Talking-style), configured, not coded.

The request shape is settings: the URL; ``form`` (POST urlencoded), ``json`` (POST JSON) or
``query`` (GET with parameters, as Kannel's sendsms); the gateway's names for our fields
(``to``, ``text``, ``from``, ``key``); fixed extra fields; basic auth and/or a token header.
The message key travels as the ``key`` field and as an ``Idempotency-Key`` header so a gateway
that deduplicates drops a resend after a crash or a timeout.
"""

from __future__ import annotations

import httpx

from feedback.channels.base import PermanentFailure, TemporaryFailure, short
from feedback.models import OutboxMessage

DEFAULT_FIELDS = {"to": "to", "text": "text", "from": "from", "key": "reference"}
# Statuses worth retrying: the gateway is busy, down, or misconfigured (fixed by an operator).
TEMPORARY_STATUSES = frozenset({401, 403, 408, 409, 425, 429})


class HttpSmsSender:
    """Posts each SMS to the configured gateway."""

    def __init__(
        self,
        url: str,
        *,
        payload: str = "form",
        fields: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
        sender_id: str = "",
        user: str = "",
        password: str = "",
        token: str = "",
        token_header: str = "Authorization",  # noqa: S107 (a header name)
        token_scheme: str = "Bearer",  # noqa: S107 (an auth scheme)
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not url:
            raise ValueError("FEEDBACK_SMS_GATEWAY_URL is required for the http SMS sender")
        if payload not in ("form", "json", "query"):
            raise ValueError(f"unknown SMS payload shape {payload!r}")
        self.url = url
        self.payload = payload
        self.fields = {**DEFAULT_FIELDS, **(fields or {})}
        self.extra = dict(extra or {})
        self.sender_id = sender_id
        headers = {}
        if token:
            headers[token_header] = f"{token_scheme} {token}".strip()
        auth = httpx.BasicAuth(user, password) if user else None
        self.client = httpx.AsyncClient(
            headers=headers, auth=auth, timeout=httpx.Timeout(timeout), transport=transport
        )

    def body(self, message: OutboxMessage) -> dict[str, str]:
        """The fields sent for one message, under the gateway's names."""
        values = {"to": message.recipient, "text": message.body, "key": message.message_key}
        if self.sender_id:
            values["from"] = self.sender_id
        data = dict(self.extra)
        for name, value in values.items():
            if self.fields.get(name):
                data[self.fields[name]] = value
        return data

    async def send(self, message: OutboxMessage) -> None:
        """Send one SMS; raises TemporaryFailure or PermanentFailure."""
        data = self.body(message)
        headers = {"Idempotency-Key": message.message_key}
        try:
            if self.payload == "json":
                response = await self.client.post(self.url, json=data, headers=headers)
            elif self.payload == "query":
                response = await self.client.get(self.url, params=data, headers=headers)
            else:
                response = await self.client.post(self.url, data=data, headers=headers)
        except httpx.TimeoutException as exc:
            raise TemporaryFailure(f"gateway timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"gateway unreachable: {short(str(exc)) or type(exc).__name__}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = f"gateway answered {status}: {short(response.text, 200)}"
        if status >= 500 or status in TEMPORARY_STATUSES:
            raise TemporaryFailure(detail)
        raise PermanentFailure(detail)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self.client.aclose()
