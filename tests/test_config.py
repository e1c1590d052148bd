"""Configuration: development defaults, production refusals, URL handling."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys

import pytest

from audiotricks.config import DEV_ENCRYPTION_KEY, DEV_JWT_SECRET, Config, ConfigError, parse_key
from tests.ops.servers import PRODUCTION_MAIL

STRONG_SECRET = "k3Jx9-pQ2mZr7Lw4vB8nT1yC6hF0dG5sA"
STRONG_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "APP_ENV": "production",
        "DATABASE_URL": "postgresql://app@db.internal/audiotricks",
        "JWT_SECRET": STRONG_SECRET,
        "ENCRYPTION_KEY": STRONG_KEY,
        **PRODUCTION_MAIL,
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_no_environment_gives_development_on_sqlite_in_instance_folder(tmp_path, caplog):
    config = Config.from_env({}, instance_path=str(tmp_path))

    with caplog.at_level(logging.WARNING):
        config.validate()

    assert config.app_env == "development"
    assert config.database_url == f"sqlite:///{tmp_path}/audiotricks.db"
    assert config.jwt_secret == DEV_JWT_SECRET
    assert config.jwt_expires_in == 604800
    assert config.bcrypt_rounds == 12
    assert config.max_content_length == 65536
    assert config.history_max_bytes == 2 * 1024 * 1024
    assert config.history_max_items == 10000
    assert config.cors_origins == ("http://localhost:5173", "http://localhost:3000")
    # Rate-limit counters every worker of the host shares, with nothing to install.
    assert config.ratelimit_storage_uri == f"sqlite:///{tmp_path}/ratelimits.db"
    assert "development defaults" in caplog.text
    assert DEV_JWT_SECRET not in caplog.text


def test_history_limits_are_read_and_checked(tmp_path):
    config = Config.from_env(
        {"HISTORY_MAX_BYTES": "4096", "HISTORY_MAX_ITEMS": "7", "HISTORY_SEARCH_RANKED": "50"},
        instance_path=str(tmp_path),
    )
    assert (config.history_max_bytes, config.history_max_items) == (4096, 7)
    assert config.history_search_ranked == 50
    config.validate()

    bad = Config.from_env(
        {"HISTORY_MAX_BYTES": "100", "HISTORY_MAX_ITEMS": "0", "HISTORY_SEARCH_RANKED": "0"},
        instance_path=str(tmp_path),
    )
    with pytest.raises(ConfigError) as caught:
        bad.validate()
    assert "HISTORY_MAX_BYTES must be at least 1024 bytes" in caught.value.problems
    assert "HISTORY_MAX_ITEMS must be at least 1" in caught.value.problems
    assert "HISTORY_SEARCH_RANKED must be at least 1" in caught.value.problems

    with pytest.raises(ConfigError) as caught:
        Config.from_env({"HISTORY_MAX_ITEMS": "many"}, instance_path=str(tmp_path)).validate()
    assert "HISTORY_MAX_ITEMS must be an integer" in caught.value.problems


def test_plain_postgresql_url_uses_psycopg3(tmp_path):
    for url in ("postgresql://u@h/db", "postgres://u@h/db"):
        config = Config.from_env({"DATABASE_URL": url}, instance_path=str(tmp_path))
        assert config.database_url == "postgresql+psycopg://u@h/db"


def test_strong_production_configuration_is_accepted(tmp_path):
    Config.from_env(production_env(), instance_path=str(tmp_path)).validate()


def test_production_with_defaults_fails_naming_every_problem(tmp_path):
    config = Config.from_env({"APP_ENV": "production", "BCRYPT_ROUNDS": "8"}, str(tmp_path))

    with pytest.raises(ConfigError) as caught:
        config.validate()

    message = str(caught.value)
    for name in (
        "DATABASE_URL", "JWT_SECRET", "ENCRYPTION_KEY", "BCRYPT_ROUNDS",
        "MAIL_URL", "MAIL_FROM", "FRONTEND_URL",
    ):
        assert name in message
    assert len(caught.value.problems) == 7


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"JWT_SECRET": "short-secret"}, "JWT_SECRET must be at least 32 characters"),
        ({"JWT_SECRET": "a" * 40}, "JWT_SECRET is too weak"),
        ({"JWT_SECRET": DEV_JWT_SECRET}, "JWT_SECRET must not be the development default"),
        ({"ENCRYPTION_KEY": DEV_ENCRYPTION_KEY}, "ENCRYPTION_KEY must not be the development default"),
        ({"ENCRYPTION_KEY": "abcd"}, "ENCRYPTION_KEY must"),
        ({"ENCRYPTION_KEY": "00" * 32}, "ENCRYPTION_KEY is too weak"),
        ({"ENCRYPTION_OLD_KEYS": "nope"}, "ENCRYPTION_OLD_KEYS must"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must be"),
        ({"BCRYPT_ROUNDS": "9"}, "BCRYPT_ROUNDS must be at least 10"),
        ({"BCRYPT_ROUNDS": "many"}, "BCRYPT_ROUNDS must be an integer"),
        ({"JWT_EXPIRES_IN": "soon"}, "JWT_EXPIRES_IN must be an integer"),
        ({"JWT_EXPIRES_IN": "30"}, "JWT_EXPIRES_IN must be between 60 seconds and 1 year"),
        ({"JWT_EXPIRES_IN": str(10**12)}, "JWT_EXPIRES_IN must be between 60 seconds and 1 year"),
        ({"APP_ENV": "staging"}, "APP_ENV must be one of"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "must not be memory:// in production"),
        ({"RATELIMIT_STORAGE_URI": "mongodb://x"}, "RATELIMIT_STORAGE_URI must be sqlite:///"),
        ({"MAIL_URL": None}, "MAIL_URL is required in production"),
        ({"MAIL_FROM": None}, "MAIL_FROM is required in production"),
        ({"FRONTEND_URL": None}, "FRONTEND_URL is required in production"),
        ({"MAIL_FROM": "AudioTricks <no-reply@localhost>"}, "MAIL_FROM must not be the development"),
        ({"FRONTEND_URL": "http://localhost:5173"}, "FRONTEND_URL must not be the development"),
        ({"MAIL_URL": "http://mail.example.com"}, "MAIL_URL must start with smtp://"),
        ({"MAIL_URL": "smtp://"}, "MAIL_URL must name a host"),
        ({"MAIL_URL": "smtp://u:pw@mail.example.com?starttls=off"}, "MAIL_URL with a user name"),
        ({"MAIL_URL": "smtp://mail.example.com?starttls=maybe"}, "starttls must be required"),
        ({"MAIL_URL": "smtps://mail.example.com?starttls=off"}, "starttls applies to smtp://"),
        ({"MAIL_URL": "smtp://mail.example.com?tls=1"}, "only one query parameter"),
        ({"MAIL_FROM": "not an address"}, "MAIL_FROM must be one address"),
        ({"MAIL_FROM": "a@example.com, b@example.com"}, "MAIL_FROM must be one address"),
        ({"FRONTEND_URL": "app.example.com"}, "FRONTEND_URL must be an http(s):// URL"),
        ({"FRONTEND_URL": "https://app.example.com/#/x"}, "FRONTEND_URL must have no query"),
        ({"MAIL_CA_FILE": "/nonexistent/ca.pem"}, "MAIL_CA_FILE must name a readable file"),
        ({"PASSWORD_RESET_TTL": "5"}, "PASSWORD_RESET_TTL must be between"),
        ({"RATELIMIT_FORGOT": "often"}, "RATELIMIT_FORGOT must be a rate limit"),
        ({"RATELIMIT_MAIL": "often"}, "RATELIMIT_MAIL must be a rate limit"),
    ],
)
def test_each_bad_production_setting_is_named(tmp_path, overrides, problem):
    config = Config.from_env(production_env(**overrides), instance_path=str(tmp_path))

    with pytest.raises(ConfigError) as caught:
        config.validate()

    assert problem in str(caught.value)


DEV_KEY_BYTES = b"dev-only-encryption-key-32-bytes"
# Every spelling parse_key accepts for the development key: refusing one and accepting another
# would let the public key into production.
DEV_KEY_SPELLINGS = {
    "base64": base64.b64encode(DEV_KEY_BYTES).decode(),
    "url-safe base64": base64.urlsafe_b64encode(DEV_KEY_BYTES).decode(),
    "hex": DEV_KEY_BYTES.hex(),
    "upper-case hex": DEV_KEY_BYTES.hex().upper(),
    "mixed-case hex": DEV_KEY_BYTES.hex()[:32] + DEV_KEY_BYTES.hex()[32:].upper(),
}


def test_the_spellings_are_of_the_development_key():
    assert DEV_KEY_SPELLINGS["base64"] == DEV_ENCRYPTION_KEY
    assert {parse_key(text) for text in DEV_KEY_SPELLINGS.values()} == {DEV_KEY_BYTES}


@pytest.mark.parametrize("spelling", sorted(DEV_KEY_SPELLINGS))
def test_the_development_key_is_refused_in_production_however_spelled(tmp_path, spelling):
    text = DEV_KEY_SPELLINGS[spelling]
    for overrides, problem in (
        ({"ENCRYPTION_KEY": text}, "ENCRYPTION_KEY must not be the development default"),
        ({"ENCRYPTION_KEY": f"  {text} "}, "ENCRYPTION_KEY must not be the development default"),
        (
            {"ENCRYPTION_OLD_KEYS": f"{STRONG_KEY.upper()}, {text}"},
            "ENCRYPTION_OLD_KEYS must not contain the development default",
        ),
    ):
        config = Config.from_env(production_env(**overrides), instance_path=str(tmp_path))
        with pytest.raises(ConfigError) as caught:
            config.validate()
        assert caught.value.problems == [problem]


def test_a_strong_key_in_another_spelling_is_still_accepted(tmp_path):
    raw = bytes.fromhex(STRONG_KEY)
    for text in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        env = production_env(ENCRYPTION_KEY=text, ENCRYPTION_OLD_KEYS=STRONG_KEY.upper())
        Config.from_env(env, instance_path=str(tmp_path)).validate()


def test_config_error_never_shows_secret_values(tmp_path):
    config = Config.from_env(production_env(JWT_SECRET="tiny-s3cret"), instance_path=str(tmp_path))

    with pytest.raises(ConfigError) as caught:
        config.validate()

    assert "tiny-s3cret" not in str(caught.value)
    assert "tiny-s3cret" not in repr(config)
    assert STRONG_KEY not in repr(config)


@pytest.mark.parametrize(
    "text",
    [
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
        "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg=",
    ],
)
def test_keys_given_as_hex_or_base64(text):
    assert len(parse_key(text)) == 32


def test_production_start_with_default_secrets_fails_with_the_message(tmp_path):
    """The real start-up path (wsgi.py) refuses, naming every problem, with no traceback noise."""
    env = {"APP_ENV": "production", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    for name in (
        "DATABASE_URL is required", "JWT_SECRET is required", "ENCRYPTION_KEY is required",
        "MAIL_URL is required", "MAIL_FROM is required", "FRONTEND_URL is required",
    ):
        assert name in result.stderr


def test_job_settings_default_to_the_instance_folder_and_the_contract(tmp_path):
    config = Config.from_env({}, instance_path=str(tmp_path))
    config.validate()

    assert config.queue_url == f"sqlite:///{tmp_path}/queue.db"
    assert config.upload_dir == f"{tmp_path}/uploads"
    assert config.upload_max_bytes == 209715200
    assert config.audio_max_seconds == 14400
    assert config.jobs_max_active == 3
    assert config.openai_base_url == "https://api.openai.com/v1"
    assert config.openai_transcribe_model == "whisper-1"
    assert config.openai_summary_model == "gpt-4o-mini"
    assert config.provider_retry_seconds == 600
    assert config.transcribe_max_bytes == 26214400
    assert (config.jobs_lease_seconds, config.jobs_sweep_seconds) == (60, 30)


def test_job_settings_are_read_from_the_environment(tmp_path):
    env = {
        "QUEUE_URL": "redis://queue.internal:6379/2",
        "QUEUE_NAME": "audiotricks-eu",
        "UPLOAD_DIR": "/srv/uploads",
        "UPLOAD_MAX_BYTES": "1048576",
        "JOBS_MAX_ACTIVE": "5",
        "OPENAI_BASE_URL": "http://llm.internal:8000/v1/",
        "TRANSCRIBE_MAX_BYTES": "10000000",
    }
    config = Config.from_env(env, instance_path=str(tmp_path))
    config.validate()

    assert config.queue_url == "redis://queue.internal:6379/2"
    assert config.queue_name == "audiotricks-eu"
    assert config.upload_dir == "/srv/uploads"
    assert (config.upload_max_bytes, config.jobs_max_active) == (1048576, 5)
    assert config.openai_base_url == "http://llm.internal:8000/v1"
    assert config.transcribe_max_bytes == 10_000_000


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"QUEUE_URL": "amqp://rabbit/"}, "QUEUE_URL must be"),
        ({"QUEUE_NAME": "a b"}, "QUEUE_NAME must be"),
        ({"OPENAI_BASE_URL": "ftp://x"}, "OPENAI_BASE_URL must be"),
        ({"UPLOAD_MAX_BYTES": "big"}, "UPLOAD_MAX_BYTES must be an integer"),
        ({"JOBS_MAX_ACTIVE": "0"}, "JOBS_MAX_ACTIVE must be at least 1"),
        ({"JOBS_LEASE_SECONDS": "1"}, "JOBS_LEASE_SECONDS must be at least 3"),
        ({"TRANSCRIBE_MAX_BYTES": "100"}, "TRANSCRIBE_MAX_BYTES must be at least 65536"),
    ],
)
def test_bad_job_settings_are_named(tmp_path, env, problem):
    config = Config.from_env(env, instance_path=str(tmp_path))

    with pytest.raises(ConfigError) as caught:
        config.validate()

    assert problem in str(caught.value)


def test_no_problem_message_quotes_the_mail_password(tmp_path):
    env = production_env(MAIL_URL="smtp://user:hunter2-secret@mail.example.com?starttls=off")
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env, instance_path=str(tmp_path)).validate()
    assert "hunter2-secret" not in str(caught.value)
    config = Config.from_env(production_env(MAIL_URL="smtps://u:hunter2-secret@h"), str(tmp_path))
    assert "hunter2-secret" not in repr(config)


def test_mail_settings_default_to_the_contract(tmp_path):
    config = Config.from_env({}, instance_path=str(tmp_path))
    config.validate()

    assert config.frontend_url == "http://localhost:5173"
    assert config.mail_url == ""  # development: mails go to the log
    assert config.password_reset_ttl == 1800
    assert config.require_verified_email is False
