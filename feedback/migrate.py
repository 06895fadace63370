"""Apply and check Alembic migrations from code (used by the CLI and the tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from feedback.settings import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    """The Alembic configuration for one database, without reading alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Take the database down to ``revision``."""
    command.downgrade(alembic_config(database_url), revision)
