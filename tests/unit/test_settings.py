"""Settings: the development key generated once, and the production refusals (DESIGN §11)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from feedback.app import create_app
from feedback.settings import PROJECT_ROOT, SettingsError, load_settings

GOOD_KEY = "k" * 48


def _production(tmp_path: Path, **env: str) -> dict[str, str]:
    base = {
        "FEEDBACK_ENV": "production",
        "FEEDBACK_DATA_DIR": str(tmp_path),
        "FEEDBACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'feedback.db'}",
        "FEEDBACK_SECRET_KEY": GOOD_KEY,
    }
    base.update(env)
    return {k: v for k, v in base.items() if v is not None}


def _refusal(env: dict[str, str]) -> str:
    settings = load_settings(env)
    with pytest.raises(SettingsError) as refused:
        settings.check_production()
    message = str(refused.value)
    assert message and "\n" not in message
    # The app refuses to be built with the same reason.
    with pytest.raises(SettingsError, match=message.split(" ")[0]):
        create_app(settings)
    return message


def test_development_key_is_generated_once_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"FEEDBACK_DATA_DIR": str(tmp_path / "var")}
    first = load_settings(env)
    warning = capsys.readouterr().err
    key_file = tmp_path / "var" / "secret_key"
    assert "warning" in warning and str(key_file) in warning
    assert len(first.secret_key) >= 32 and first.secret_key_generated
    assert key_file.read_text().strip() == first.secret_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = load_settings(env)
    assert again.secret_key == first.secret_key
    assert capsys.readouterr().err == ""
    first.check_production()  # development never refuses


def test_production_needs_an_explicit_secret_key(tmp_path: Path) -> None:
    # Even a key generated earlier into the data directory does not count.
    (tmp_path / "secret_key").write_text("x" * 64)
    message = _refusal(_production(tmp_path, FEEDBACK_SECRET_KEY=""))
    assert message == "FEEDBACK_SECRET_KEY must be set explicitly in production"


def test_production_refuses_a_short_secret_key(tmp_path: Path) -> None:
    assert "at least 32 characters" in _refusal(_production(tmp_path, FEEDBACK_SECRET_KEY="short"))


def test_production_refuses_insecure_cookies(tmp_path: Path) -> None:
    message = _refusal(_production(tmp_path, FEEDBACK_SECURE_COOKIES="0"))
    assert message == "FEEDBACK_SECURE_COOKIES must stay on in production"


def test_production_refuses_an_unwritable_data_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    message = _refusal(_production(tmp_path, FEEDBACK_DATA_DIR=str(missing)))
    assert message == f"data directory {missing} is not writable"
    assert not missing.exists()  # production never creates it behind the operator's back


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_production_refuses_a_read_only_data_directory(tmp_path: Path) -> None:
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        assert "is not writable" in _refusal(_production(tmp_path, FEEDBACK_DATA_DIR=str(read_only)))
    finally:
        read_only.chmod(0o755)


def test_a_safe_production_configuration_passes(tmp_path: Path) -> None:
    settings = load_settings(_production(tmp_path))
    settings.check_production()
    assert settings.production and settings.secure_cookies
    assert not (tmp_path / "secret_key").exists()


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(SettingsError, match="FEEDBACK_ENV must be"):
        load_settings({"FEEDBACK_ENV": "staging"})


def test_postgres_urls_use_asyncpg(tmp_path: Path) -> None:
    settings = load_settings({"FEEDBACK_DATA_DIR": str(tmp_path), "FEEDBACK_SECRET_KEY": GOOD_KEY,
                              "FEEDBACK_DATABASE_URL": "postgresql://u@db/feedback"})
    assert settings.database_url == "postgresql+asyncpg://u@db/feedback"
    assert not settings.is_sqlite


@pytest.mark.parametrize(("env", "reason"), [
    ({"FEEDBACK_SECRET_KEY": ""}, "FEEDBACK_SECRET_KEY must be set explicitly in production"),
    ({"FEEDBACK_SECURE_COOKIES": "off"}, "FEEDBACK_SECURE_COOKIES must stay on in production"),
])
def test_serve_exits_with_the_reason(tmp_path: Path, env: dict[str, str], reason: str) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
    full.update(_production(tmp_path, **env))
    result = subprocess.run(
        [sys.executable, "-m", "feedback", "serve", "--port", "1"], cwd=PROJECT_ROOT, env=full,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {reason}"
    assert result.stdout == ""
