"""Access to the running app's typed configuration from services and commands."""

from __future__ import annotations

from flask import current_app

from audiotricks.config import Config

CONFIG_KEY = "audiotricks.config"


def current_config() -> Config:
    """The validated Config of the app in context."""
    config: Config = current_app.extensions[CONFIG_KEY]
    return config
