"""Alembic environment for Flask-Migrate: the app's engine and metadata, batch mode for SQLite."""

import logging

from alembic import context
from flask import current_app

from audiotricks.extensions import db

# The app has configured logging already; alembic.ini's logging section is not applied.
logger = logging.getLogger("alembic.env")
config = context.config


def _options() -> dict:
    return {
        "target_metadata": db.metadata,
        "render_as_batch": True,  # SQLite alters tables by copying them
        "compare_type": True,
        **current_app.extensions["migrate"].configure_args,
    }


def run_migrations_offline() -> None:
    """Emit SQL for ``flask db upgrade --sql`` without a connection."""
    url = db.engine.url.render_as_string(hide_password=False)
    context.configure(url=url, literal_binds=True, **_options())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def skip_empty(context, revision, directives):  # Alembic's hook signature
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    with db.engine.connect() as connection:
        context.configure(
            connection=connection, process_revision_directives=skip_empty, **_options()
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
