"""The edge settings are read from the environment and checked at start-up."""

from __future__ import annotations

import pytest

from audiotricks.config import Config, ConfigError


def test_edge_settings_from_the_environment() -> None:
    config = Config.from_env(
        {
            "CORS_ORIGINS": "https://app.example.com, https://admin.example.com",
            "RATELIMIT_KEY_PREFIX": "blue",
            "RATELIMIT_LOGIN_ACCOUNT": "5 per 10 minutes",
            "TRUSTED_PROXY_COUNT": "1",
        },
        instance_path="/nonexistent",
    )
    assert config.cors_origins == ("https://app.example.com", "https://admin.example.com")
    assert config.ratelimit_key_prefix == "blue"
    assert config.ratelimit_login_account == "5 per 10 minutes"
    assert config.trusted_proxy_count == 1
    assert Config.from_env({}, instance_path="/nonexistent").ratelimit_key_prefix == "audiotricks"


def test_bad_limits_and_storage_are_named_at_start_up() -> None:
    config = Config.from_env(
        {
            "RATELIMIT_DEFAULT": "lots",
            "RATELIMIT_LOGIN": "10 per fortnight",
            "RATELIMIT_STORAGE_URI": "memcached://127.0.0.1:11211",
            "TRUSTED_PROXY_COUNT": "-1",
        },
        instance_path="/nonexistent",
    )
    with pytest.raises(ConfigError) as raised:
        config.validate()
    problems = "\n".join(raised.value.problems)
    for name in ("RATELIMIT_DEFAULT", "RATELIMIT_LOGIN ", "RATELIMIT_STORAGE_URI", "TRUSTED_PROXY_COUNT"):
        assert name in problems
