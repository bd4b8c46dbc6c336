"""The database schema's migrations (Alembic): the one place that finds them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str | None = None):
    """Return the Alembic configuration of OneWindow's migrations (for `url`, if given)."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if url is not None:
        cfg.attributes["database_url"] = url
    return cfg


def upgrade_database(url: str) -> None:
    """Bring the database schema to the newest Alembic revision."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
