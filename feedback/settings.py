"""Settings, read once from ``FEEDBACK_*`` environment variables."""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """The configuration cannot be used; the message is a one-line reason."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    data_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    default_locale: str = "fr"
    host: str = "127.0.0.1"
    port: int = 8000
    secure_cookies: bool = False
    session_idle_minutes: int = 60
    session_absolute_hours: int = 12
    max_body_bytes: int = 3 * 1024 * 1024
    # Abuse limits (per minute). 0 switches a limit off, e.g. for a load test.
    rate_limit_kiosk_per_minute: int = 30
    rate_limit_client_per_minute: int = 60
    rate_limit_track_per_minute: int = 30
    rate_limit_login_per_15min: int = 10
    kiosk_idle_seconds: int = 60
    kiosk_warning_seconds: int = 25
    contact_retention_days: int = 90
    auto_close_days: int = 14
    kiosk_silent_days: int = 2
    min_items_for_rates: int = 10
    # Board figures are kept this long per process (0: computed on every request).
    board_cache_seconds: int = 20
    sms_secret: str = ""
    sms_sender: str = "log"
    sms_gateway_url: str = ""
    sms_gateway_user: str = ""
    sms_gateway_password: str = ""
    sms_gateway_payload: str = "form"
    # Bearer-style token (instead of, or besides, basic auth) and the header that carries it.
    sms_gateway_token: str = ""
    sms_gateway_token_header: str = "Authorization"  # noqa: S105 (a header name)
    sms_gateway_token_scheme: str = "Bearer"  # noqa: S105 (an auth scheme)
    # The gateway's names for our fields (to, text, from, key); "" leaves a field out.
    sms_gateway_fields: dict[str, str] = field(default_factory=dict)
    # Fixed fields every request carries (e.g. username=..., smsc=...).
    sms_gateway_extra: dict[str, str] = field(default_factory=dict)
    sms_gateway_from: str = ""
    sms_gateway_timeout: float = 10.0
    sms_default_sites: dict[str, str] = field(default_factory=dict)
    # Extra names the moderation page highlights as personal data (besides its built-in list).
    redact_names: tuple[str, ...] = ()
    mail_sender: str = "log"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    # "none", "starttls" or "ssl" (implicit TLS, usually port 465).
    smtp_security: str = "none"
    smtp_timeout: float = 30.0
    mail_from: str = "sauti@localhost"
    # After this many failed deliveries a message is marked failed (back-off doubles from 1 min).
    outbox_max_attempts: int = 8
    weekend_days: tuple[int, ...] = (5, 6)
    secret_key_generated: bool = False

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check_production(self) -> None:
        """Refuse an unsafe production configuration with a one-line reason."""
        if not self.production:
            return
        if self.secret_key_generated or not self.secret_key:
            raise SettingsError("FEEDBACK_SECRET_KEY must be set explicitly in production")
        if len(self.secret_key) < 32:
            raise SettingsError("FEEDBACK_SECRET_KEY must be at least 32 characters in production")
        if not self.secure_cookies:
            raise SettingsError("FEEDBACK_SECURE_COOKIES must stay on in production")
        if not os.access(self.data_dir, os.W_OK):
            raise SettingsError(f"data directory {self.data_dir} is not writable")


def _secret_key(env: dict[str, str], data_dir: Path, production: bool) -> tuple[str, bool]:
    if env.get("FEEDBACK_SECRET_KEY"):
        return env["FEEDBACK_SECRET_KEY"], False
    if production:
        return "", True
    # Development: one key generated into var/ so sessions survive a restart.
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip(), True
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    print(
        f"warning: FEEDBACK_SECRET_KEY is not set; generated a development key in {key_file}",
        file=sys.stderr,
    )
    return key, True


def _pairs(raw: str | None) -> dict[str, str]:
    """``a=b,c=d`` as a dict (keys and values stripped)."""
    result = {}
    for pair in filter(None, (raw or "").split(",")):
        key, _, value = pair.partition("=")
        if key.strip():
            result[key.strip()] = value.strip()
    return result


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def _choice(env: dict[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment (``FEEDBACK_*``)."""
    env = dict(os.environ if environ is None else environ)
    mode = env.get("FEEDBACK_ENV", "development")
    if mode not in {"development", "production", "test"}:
        raise SettingsError(f"FEEDBACK_ENV must be development, production or test, got {mode!r}")
    production = mode == "production"
    data_dir = Path(env.get("FEEDBACK_DATA_DIR") or PROJECT_ROOT / "var").resolve()
    if not production:
        data_dir.mkdir(parents=True, exist_ok=True)
    database_url = env.get("FEEDBACK_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'feedback.db'}"
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    secret_key, generated = _secret_key(env, data_dir, production)
    locale = env.get("FEEDBACK_DEFAULT_LOCALE", "fr")
    if locale not in {"fr", "bm", "en"}:
        raise SettingsError(f"FEEDBACK_DEFAULT_LOCALE must be fr, bm or en, got {locale!r}")
    default_sites = {}
    for pair in filter(None, env.get("FEEDBACK_SMS_DEFAULT_SITES", "").split(",")):
        number, _, code = pair.partition("=")
        default_sites[number.strip()] = code.strip().upper()
    weekend = tuple(int(d) for d in env.get("FEEDBACK_WEEKEND_DAYS", "5,6").split(",") if d.strip())
    return Settings(
        env=mode,
        data_dir=data_dir,
        database_url=database_url,
        secret_key=secret_key,
        secret_key_generated=generated,
        base_url=env.get("FEEDBACK_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        default_locale=locale,
        host=env.get("FEEDBACK_HOST", "127.0.0.1"),
        port=_int(env, "FEEDBACK_PORT", 8000),
        secure_cookies=_bool(env.get("FEEDBACK_SECURE_COOKIES"), production),
        session_idle_minutes=_int(env, "FEEDBACK_SESSION_IDLE_MINUTES", 60),
        session_absolute_hours=_int(env, "FEEDBACK_SESSION_ABSOLUTE_HOURS", 12),
        max_body_bytes=_int(env, "FEEDBACK_MAX_BODY_BYTES", 3 * 1024 * 1024),
        rate_limit_kiosk_per_minute=_int(env, "FEEDBACK_RATE_LIMIT_KIOSK", 30),
        rate_limit_client_per_minute=_int(env, "FEEDBACK_RATE_LIMIT_CLIENT", 60),
        rate_limit_track_per_minute=_int(env, "FEEDBACK_RATE_LIMIT_TRACK", 30),
        rate_limit_login_per_15min=_int(env, "FEEDBACK_RATE_LIMIT_LOGIN", 10),
        kiosk_idle_seconds=_int(env, "FEEDBACK_KIOSK_IDLE_SECONDS", 60),
        kiosk_warning_seconds=_int(env, "FEEDBACK_KIOSK_WARNING_SECONDS", 25),
        contact_retention_days=_int(env, "FEEDBACK_CONTACT_RETENTION_DAYS", 90),
        auto_close_days=_int(env, "FEEDBACK_AUTO_CLOSE_DAYS", 14),
        kiosk_silent_days=_int(env, "FEEDBACK_KIOSK_SILENT_DAYS", 2),
        min_items_for_rates=_int(env, "FEEDBACK_MIN_ITEMS_FOR_RATES", 10),
        board_cache_seconds=_int(env, "FEEDBACK_BOARD_CACHE_SECONDS", 20),
        sms_secret=env.get("FEEDBACK_SMS_SECRET", ""),
        sms_sender=_choice(env, "FEEDBACK_SMS_SENDER", "log", ("log", "http")),
        sms_gateway_url=env.get("FEEDBACK_SMS_GATEWAY_URL", ""),
        sms_gateway_user=env.get("FEEDBACK_SMS_GATEWAY_USER", ""),
        sms_gateway_password=env.get("FEEDBACK_SMS_GATEWAY_PASSWORD", ""),
        sms_gateway_payload=_choice(env, "FEEDBACK_SMS_GATEWAY_PAYLOAD", "form", ("form", "json", "query")),
        sms_gateway_token=env.get("FEEDBACK_SMS_GATEWAY_TOKEN", ""),
        sms_gateway_token_header=env.get("FEEDBACK_SMS_GATEWAY_TOKEN_HEADER") or "Authorization",
        sms_gateway_token_scheme=env.get("FEEDBACK_SMS_GATEWAY_TOKEN_SCHEME", "Bearer"),
        sms_gateway_fields=_pairs(env.get("FEEDBACK_SMS_GATEWAY_FIELDS")),
        sms_gateway_extra=_pairs(env.get("FEEDBACK_SMS_GATEWAY_EXTRA")),
        sms_gateway_from=env.get("FEEDBACK_SMS_GATEWAY_FROM", ""),
        sms_gateway_timeout=_float(env, "FEEDBACK_SMS_GATEWAY_TIMEOUT", 10.0),
        sms_default_sites=default_sites,
        redact_names=tuple(n.strip() for n in env.get("FEEDBACK_REDACT_NAMES", "").split(",") if n.strip()),
        mail_sender=_choice(env, "FEEDBACK_MAIL_SENDER", "log", ("log", "smtp")),
        smtp_host=env.get("FEEDBACK_SMTP_HOST", "127.0.0.1"),
        smtp_port=_int(env, "FEEDBACK_SMTP_PORT", 25),
        smtp_user=env.get("FEEDBACK_SMTP_USER", ""),
        smtp_password=env.get("FEEDBACK_SMTP_PASSWORD", ""),
        smtp_security=_choice(env, "FEEDBACK_SMTP_SECURITY", "none", ("none", "starttls", "ssl")),
        smtp_timeout=_float(env, "FEEDBACK_SMTP_TIMEOUT", 30.0),
        outbox_max_attempts=_int(env, "FEEDBACK_OUTBOX_MAX_ATTEMPTS", 8),
        mail_from=env.get("FEEDBACK_MAIL_FROM", "sauti@localhost"),
        weekend_days=weekend,
    )
