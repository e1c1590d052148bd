"""AudioTricks backend: accounts, revocable sessions, settings and an encrypted API-key vault."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the package root stays importable without Flask (security helpers, tools)
    from flask import Flask

    from audiotricks.config import Config

__version__ = "1.0.0"


def create_app(config: Config | None = None) -> Flask:
    """Build the app: validated configuration, extensions, blueprints, error handlers, commands."""
    from dotenv import load_dotenv

    from audiotricks.auth.decorators import RequestGlobals
    from audiotricks.commands import register_commands
    from audiotricks.config import Config, ConfigError
    from audiotricks.errors import register_error_handlers
    from audiotricks.jobs.queue import init_queue
    from audiotricks.logs import configure_logging
    from audiotricks.routing import AudioTricksFlask
    from audiotricks.runtime import CONFIG_KEY
    from audiotricks.voices.service import init_cache

    # Flask with no slash-merging redirects and a 204 for OPTIONS (see audiotricks.routing).
    app = AudioTricksFlask(__name__, instance_relative_config=True)
    # ``g.user`` / ``g.auth_session`` built on first use (see audiotricks.auth.decorators).
    app.app_ctx_globals_class = RequestGlobals
    if config is None:
        # A .env file in the working directory fills in what the environment leaves out.
        load_dotenv(".env", override=False)
        config = Config.from_env(os.environ, instance_path=app.instance_path)

    configure_logging(config)
    config.validate()  # one ConfigError naming every problem
    if config.is_production and app.debug:
        # The debugger runs arbitrary code for whoever reaches it.
        raise ConfigError(["FLASK_DEBUG must be off in production"])
    app.extensions[CONFIG_KEY] = config
    app.config.from_mapping(flask_settings(config))
    if config.database_url.startswith("sqlite:///" + app.instance_path):
        os.makedirs(app.instance_path, exist_ok=True)

    init_extensions(app)
    init_cache(app, config)
    init_queue(app, config)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    init_edge(app, config)
    return app


def flask_settings(config: Config) -> dict[str, object]:
    """The Flask and extension settings derived from ``config``."""
    from audiotricks.extensions import SESSION_CHECK_BIND

    engine_options: dict[str, object] = {"hide_parameters": True}  # no values in SQL errors
    if config.database_url.startswith("postgresql"):
        engine_options["connect_args"] = {"connect_timeout": 5}
    # The session check runs alone, on every authenticated request: autocommit spares it a
    # BEGIN and a ROLLBACK, and it retries once on a dropped connection instead of pinging
    # before each use (see audiotricks.auth.service.load_session).
    session_check = {"url": config.database_url, "isolation_level": "AUTOCOMMIT", **engine_options}
    return {
        "SQLALCHEMY_DATABASE_URI": config.database_url,
        # pre_ping: a restarted database is survived without restarting the app.
        "SQLALCHEMY_ENGINE_OPTIONS": {**engine_options, "pool_pre_ping": True},
        "SQLALCHEMY_BINDS": {SESSION_CHECK_BIND: session_check},
        "MAX_CONTENT_LENGTH": config.max_content_length,
        "RATELIMIT_ENABLED": config.ratelimit_enabled,
        "RATELIMIT_STORAGE_URI": config.ratelimit_storage_uri,
        "RATELIMIT_HEADERS_ENABLED": True,
        "TESTING": config.app_env == "test",
    }


def init_extensions(app: Flask) -> None:
    from audiotricks.extensions import db, migrate
    from audiotricks.http import init_http
    from audiotricks.logs import init_access_log
    from audiotricks.metrics import init_metrics
    from audiotricks.models import include_object

    init_http(app)
    # Registered before the other hooks, so they log and count the final response.
    init_access_log(app)
    init_metrics(app)
    db.init_app(app)
    # include_object reaches migrations/env.py through configure_args: autogenerate skips the
    # database-maintained search objects.
    migrate.init_app(
        app,
        db,
        directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
        include_object=include_object,
    )


def init_edge(app: Flask, config: Config) -> None:
    """Edge protection: proxy trust, CORS, security headers and rate limits (after blueprints)."""
    from audiotricks.extensions import cors
    from audiotricks.proxy import TrustedProxyFix
    from audiotricks.ratelimits import init_rate_limits
    from audiotricks.security_headers import init_security_headers

    if config.trusted_proxy_count > 0:
        # Only then is X-Forwarded-For believed (and only a valid address in it, see
        # audiotricks.proxy); a client's own header never moves its IP.
        app.wsgi_app = TrustedProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, config.trusted_proxy_count
        )
    cors.init_app(
        app,
        resources={r"/api/*": {"origins": list(config.cors_origins)}},
        methods=["GET", "PUT", "POST", "DELETE"],
        # Range: a page may read the stored audio in parts (GET /history/<id>/audio).
        # Last-Event-ID: a job event stream's client resuming (fetch-based readers send it).
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Range", "Last-Event-ID"],
        expose_headers=[
            "Content-Range",
            "Accept-Ranges",
            "X-Request-ID",
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ],
        supports_credentials=False,  # bearer tokens, no cookies
        max_age=600,
        always_send=False,  # no Access-Control-Allow-Origin unless the request names an allowed origin
    )
    init_security_headers(app, config)
    init_rate_limits(app, config)


def register_blueprints(app: Flask) -> None:
    from flask import Blueprint

    from audiotricks import auth, health, history, jobs, openapi, settings, voices

    api = Blueprint("api", __name__, url_prefix="/api/v1")
    api.register_blueprint(auth.bp)
    api.register_blueprint(settings.bp)
    api.register_blueprint(history.bp)
    api.register_blueprint(jobs.bp)
    api.register_blueprint(voices.bp)
    api.register_blueprint(openapi.bp)
    app.register_blueprint(api)
    app.register_blueprint(health.bp)


