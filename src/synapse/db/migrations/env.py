"""Alembic environment: the URL comes from our settings via migrate.alembic_config."""

from __future__ import annotations

from alembic import context

from synapse.db.engine import build_engine
from synapse.db.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url is set by synapse.db.migrate"

engine = build_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
