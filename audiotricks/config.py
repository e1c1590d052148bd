"""Configuration: one frozen object built from the environment, validated once at start-up.

Every variable the service reads is listed here (the README repeats the table):

======================== ============================================ ==============================
variable                 default                                      meaning
======================== ============================================ ==============================
APP_ENV                  development                                  development, test or production
DATABASE_URL             SQLite file in the instance folder           sqlite:///… or postgresql://…
JWT_SECRET               development value                            at least 32 characters
JWT_EXPIRES_IN           604800 (7 days)                              token and session lifetime, s
ENCRYPTION_KEY           development value                            32 bytes, base64 or 64 hex chars
ENCRYPTION_OLD_KEYS      empty                                        older keys, decrypt only
CORS_ORIGINS             http://localhost:5173,http://localhost:3000  frontend origins
RATELIMIT_ENABLED        true                                         false turns every limit off
RATELIMIT_STORAGE_URI    SQLite file in the instance folder           redis://… for several instances
RATELIMIT_DEFAULT        300 per minute                               every /api/ route, per IP
RATELIMIT_LOGIN          10 per minute                                login, per IP
RATELIMIT_LOGIN_ACCOUNT  10 per 15 minutes                            failed logins per account
RATELIMIT_REGISTER       5 per minute                                 register, per IP
RATELIMIT_KEY_PREFIX     audiotricks                                  namespace of the counters in storage
TRUSTED_PROXY_COUNT      0                                            trusted reverse proxies
MAX_CONTENT_LENGTH       65536                                        largest request body, bytes
HISTORY_MAX_BYTES        2097152 (2 MiB)                              largest body on /history routes
HISTORY_MAX_ITEMS        10000                                        history items per user
HISTORY_SEARCH_RANKED    200                                          newest matches a search ranks
BCRYPT_ROUNDS            12                                           below 10 refused in production
LOG_LEVEL / LOG_FORMAT   INFO / json                                  console for humans
HOST / PORT              127.0.0.1 / 5000                             where ``make run`` serves
METRICS_TOKEN            empty (``/metrics`` off)                     bearer token for ``/metrics``
PROMETHEUS_MULTIPROC_DIR set by gunicorn.conf.py                      metrics shared by workers
QUEUE_URL                SQLite file in the instance folder           redis://… for several instances
QUEUE_NAME               audiotricks                                  the queue's name in its storage
UPLOAD_DIR               uploads/ in the instance folder              uploads waiting for their job
UPLOAD_MAX_BYTES         209715200 (200 MiB)                          largest audio upload
AUDIO_MAX_SECONDS        14400 (4 h)                                  longest recording
JOBS_MAX_ACTIVE          3                                            queued + running jobs per user
JOBS_LEASE_SECONDS       60                                           a claim's lease, renewed while running
JOBS_SWEEP_SECONDS       30                                           how often lost jobs are looked for
JOBS_REQUEUE_SECONDS     60                                           a queued job older is sent again
JOBS_MAX_ATTEMPTS        3                                            runs of a job before ``internal``
SESSIONS_PRUNE_SECONDS   86400 (daily)                                how often workers prune sessions
OPENAI_BASE_URL          https://api.openai.com/v1                    any OpenAI-compatible server
OPENAI_TRANSCRIBE_MODEL  whisper-1                                    transcription model
OPENAI_SUMMARY_MODEL     gpt-4o-mini                                  summary model
PROVIDER_RETRY_SECONDS   600                                          retrying a failing provider, s
TRANSCRIBE_MAX_BYTES     26214400 (25 MiB)                            largest part per transcription
ELEVENLABS_BASE_URL      https://api.elevenlabs.io                    any ElevenLabs-compatible server
ELEVENLABS_TTS_MODEL     eleven_multilingual_v2                       text-to-speech model
AUDIO_DIR                audio/ in the instance folder                speech made by jobs, per item
API_KEY_REVEAL           true                                         false: no endpoint returns a key
CACHE_URL                empty (in-process cache)                     redis://… to share the cache
FRONTEND_URL             http://localhost:5173                        base of the links in mails
MAIL_URL                 unset (mails are written to the log)         smtp://… (STARTTLS) or smtps://…
MAIL_FROM                AudioTricks <no-reply@localhost>             the sender of every mail
MAIL_CA_FILE             unset (the system's CAs)                     CA bundle the SMTP server's
                                                                      certificate is checked against
MAIL_RETRY_SECONDS       86400 (1 day)                                how long a mail is retried
PASSWORD_RESET_TTL       1800                                         seconds a reset link works
REQUIRE_VERIFIED_EMAIL   false                                        keys and jobs need a verified address
RATELIMIT_FORGOT         5 per minute                                 password/forgot, per IP
RATELIMIT_MAIL           5 per hour                                   mails asked for one address or account
STREAMS_MAX_PER_USER     5                                            open job event streams per user
STREAMS_PING_SECONDS     15                                           keep-alive comment on idle streams
STREAMS_POLL_MS          1000                                         how often job changes are looked for
STREAMS_MAX_PER_WORKER   1000                                         stream threads per gunicorn worker
======================== ============================================ ==============================

gunicorn.conf.py reads its own (not part of this object): WEB_CONCURRENCY (workers, default
twice the cores), GUNICORN_THREADS (threads per worker, 1 = sync), GUNICORN_TIMEOUT (30 s) and
GUNICORN_GRACEFUL_TIMEOUT (30 s to finish in-flight requests after SIGTERM), plus HOST / PORT.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from limits import parse_many

log = logging.getLogger(__name__)

ENVIRONMENTS = ("development", "test", "production")

# Development defaults: usable with no environment at all, refused in production.
DEV_JWT_SECRET = "dev-only-jwt-secret-do-not-use-in-production"  # noqa: S105 - refused in production
DEV_ENCRYPTION_KEY = base64.b64encode(b"dev-only-encryption-key-32-bytes").decode()
SQLITE_FILENAME = "audiotricks.db"
DEV_FRONTEND_URL = "http://localhost:5173"
DEV_MAIL_FROM = "AudioTricks <no-reply@localhost>"
# Rate-limit counters shared by every worker of one host (audiotricks.ratelimits.sqlite_storage).
RATELIMIT_SQLITE_FILENAME = "ratelimits.db"
# The embedded job queue (Huey on SQLite) and where uploads wait, both in the instance folder.
QUEUE_SQLITE_FILENAME = "queue.db"
UPLOAD_DIRNAME = "uploads"
# Speech made by jobs, one MP3 per history item, in the instance folder.
AUDIO_DIRNAME = "audio"
MAX_JWT_EXPIRES_IN = 366 * 86400  # a session longer than a year is a configuration mistake


class ConfigError(Exception):
    """Raised once, naming every configuration problem found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "Invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def parse_key(text: str) -> bytes:
    """Decode a 32-byte key given as 64 hex characters or base64 (standard or URL-safe)."""
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be 32 bytes given as base64 or 64 hex characters") from None
    if len(raw) != 32:
        raise ValueError(f"must decode to exactly 32 bytes (got {len(raw)})")
    return raw


def normalise_database_url(url: str) -> str:
    """Let a plain ``postgresql://`` (or ``postgres://``) URL use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Config:
    """Typed settings; build with :meth:`from_env` and check with :meth:`validate`."""

    app_env: str = "development"
    database_url: str = ""
    jwt_secret: str = field(default=DEV_JWT_SECRET, repr=False)
    jwt_expires_in: int = 604800
    encryption_key: str = field(default=DEV_ENCRYPTION_KEY, repr=False)
    encryption_old_keys: tuple[str, ...] = field(default=(), repr=False)
    cors_origins: tuple[str, ...] = ("http://localhost:5173", "http://localhost:3000")
    ratelimit_enabled: bool = True
    # One process (an app built in code, as the tests do); from_env's default is the counter file
    # in the instance folder, which every worker of the host shares.
    ratelimit_storage_uri: str = "memory://"
    ratelimit_default: str = "300 per minute"
    ratelimit_login: str = "10 per minute"
    ratelimit_login_account: str = "10 per 15 minutes"
    ratelimit_register: str = "5 per minute"
    # Namespaces the counters, so apps sharing one Redis (or test runs) never mix them.
    ratelimit_key_prefix: str = "audiotricks"
    trusted_proxy_count: int = 0
    max_content_length: int = 65536
    # History bodies carry whole transcripts: their own, larger limit (history routes only).
    history_max_bytes: int = 2 * 1024 * 1024
    history_max_items: int = 10000
    # A search ranks this many of the newest matches (best first); older matches follow, newest
    # first: ranking reads each candidate's whole index entry (see audiotricks.history.search).
    history_search_ranked: int = 200
    bcrypt_rounds: int = 12
    log_level: str = "INFO"
    log_format: str = "json"
    # /metrics answers only with this bearer token; empty turns the endpoint off.
    metrics_token: str = field(default="", repr=False)
    # Where prometheus_client keeps the counters of every gunicorn worker (read at its import).
    prometheus_multiproc_dir: str = ""
    # Background jobs (see audiotricks.jobs): the queue, uploads, limits, and the lease that
    # makes a job survive a worker that dies.
    queue_url: str = ""
    queue_name: str = "audiotricks"
    upload_dir: str = ""
    upload_max_bytes: int = 200 * 1024 * 1024
    audio_max_seconds: int = 14400
    jobs_max_active: int = 3
    jobs_lease_seconds: int = 60
    jobs_sweep_seconds: int = 30
    jobs_requeue_seconds: int = 60
    jobs_max_attempts: int = 3
    sessions_prune_seconds: int = 86400
    openai_base_url: str = "https://api.openai.com/v1"
    openai_transcribe_model: str = "whisper-1"
    openai_summary_model: str = "gpt-4o-mini"
    provider_retry_seconds: int = 600
    transcribe_max_bytes: int = 26214400
    # Speech (see audiotricks.jobs.speech): ElevenLabs' API root (the client adds /v1/...), the
    # model, and where the joined MP3 of each item is kept (shared by web and worker hosts).
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    elevenlabs_tts_model: str = "eleven_multilingual_v2"
    audio_dir: str = ""
    # False: GET /settings/api-keys/<provider> is a 403, so a stored key never leaves the server.
    api_key_reveal: bool = True
    # The app's cache (the voices lists): empty is an in-process cache; redis://… is shared by
    # every process and instance.
    cache_url: str = field(default="", repr=False)
    # Mail (see audiotricks.mail): where links point, the SMTP server (its URL may hold a
    # password), the sender, and how long a mail that cannot be delivered is retried.
    frontend_url: str = DEV_FRONTEND_URL
    mail_url: str = field(default="", repr=False)
    mail_from: str = DEV_MAIL_FROM
    mail_ca_file: str = ""
    mail_retry_seconds: int = 86400
    password_reset_ttl: int = 1800
    require_verified_email: bool = False
    ratelimit_forgot: str = "5 per minute"
    ratelimit_mail: str = "5 per hour"
    # Job event streams (audiotricks.jobs.events): the per-user cap, the keep-alive interval, how
    # often each process looks for job changes, and the stream threads of one gunicorn worker.
    streams_max_per_user: int = 5
    streams_ping_seconds: int = 15
    streams_poll_ms: int = 1000
    streams_max_per_worker: int = 1000
    # Problems met while parsing (a non-number, say); reported by validate().
    parse_problems: tuple[str, ...] = ()
    # Which secrets fell back to development values (for the start-up warning).
    defaulted: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str], instance_path: str) -> Config:
        """Build a Config from environment-like ``env``; nothing is raised here."""
        problems: list[str] = []
        defaulted: list[str] = []

        def text(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value if value else default

        def integer(name: str, default: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return int(raw)
            except ValueError:
                problems.append(f"{name} must be an integer")
                return default

        database_url = text("DATABASE_URL", "")
        if not database_url:
            defaulted.append("DATABASE_URL")
            database_url = "sqlite:///" + os.path.join(instance_path, SQLITE_FILENAME)
        jwt_secret = env.get("JWT_SECRET", "")
        if not jwt_secret:
            defaulted.append("JWT_SECRET")
        encryption_key = env.get("ENCRYPTION_KEY", "").strip()
        if not encryption_key:
            defaulted.append("ENCRYPTION_KEY")
        # Mail works without them in development (links to a local frontend, mails in the log).
        defaulted += [name for name in ("MAIL_URL", "MAIL_FROM", "FRONTEND_URL") if not text(name, "")]

        return cls(
            app_env=text("APP_ENV", "development").lower(),
            database_url=normalise_database_url(database_url),
            jwt_secret=jwt_secret or DEV_JWT_SECRET,
            jwt_expires_in=integer("JWT_EXPIRES_IN", 604800),
            encryption_key=encryption_key or DEV_ENCRYPTION_KEY,
            encryption_old_keys=_split(env.get("ENCRYPTION_OLD_KEYS", "")),
            cors_origins=_split(text("CORS_ORIGINS", ",".join(cls.cors_origins))),
            ratelimit_enabled=_flag(text("RATELIMIT_ENABLED", "true")),
            ratelimit_storage_uri=text(
                "RATELIMIT_STORAGE_URI",
                "sqlite:///" + os.path.join(instance_path, RATELIMIT_SQLITE_FILENAME),
            ),
            ratelimit_default=text("RATELIMIT_DEFAULT", cls.ratelimit_default),
            ratelimit_login=text("RATELIMIT_LOGIN", cls.ratelimit_login),
            ratelimit_login_account=text("RATELIMIT_LOGIN_ACCOUNT", cls.ratelimit_login_account),
            ratelimit_register=text("RATELIMIT_REGISTER", cls.ratelimit_register),
            ratelimit_key_prefix=text("RATELIMIT_KEY_PREFIX", cls.ratelimit_key_prefix),
            trusted_proxy_count=integer("TRUSTED_PROXY_COUNT", 0),
            max_content_length=integer("MAX_CONTENT_LENGTH", 65536),
            history_max_bytes=integer("HISTORY_MAX_BYTES", cls.history_max_bytes),
            history_max_items=integer("HISTORY_MAX_ITEMS", cls.history_max_items),
            history_search_ranked=integer("HISTORY_SEARCH_RANKED", cls.history_search_ranked),
            bcrypt_rounds=integer("BCRYPT_ROUNDS", 12),
            log_level=text("LOG_LEVEL", "INFO").upper(),
            log_format=text("LOG_FORMAT", "json").lower(),
            metrics_token=env.get("METRICS_TOKEN", "").strip(),
            prometheus_multiproc_dir=text("PROMETHEUS_MULTIPROC_DIR", ""),
            queue_url=text(
                "QUEUE_URL", "sqlite:///" + os.path.join(instance_path, QUEUE_SQLITE_FILENAME)
            ),
            queue_name=text("QUEUE_NAME", cls.queue_name),
            upload_dir=text("UPLOAD_DIR", os.path.join(instance_path, UPLOAD_DIRNAME)),
            upload_max_bytes=integer("UPLOAD_MAX_BYTES", cls.upload_max_bytes),
            audio_max_seconds=integer("AUDIO_MAX_SECONDS", cls.audio_max_seconds),
            jobs_max_active=integer("JOBS_MAX_ACTIVE", cls.jobs_max_active),
            jobs_lease_seconds=integer("JOBS_LEASE_SECONDS", cls.jobs_lease_seconds),
            jobs_sweep_seconds=integer("JOBS_SWEEP_SECONDS", cls.jobs_sweep_seconds),
            jobs_requeue_seconds=integer("JOBS_REQUEUE_SECONDS", cls.jobs_requeue_seconds),
            jobs_max_attempts=integer("JOBS_MAX_ATTEMPTS", cls.jobs_max_attempts),
            sessions_prune_seconds=integer("SESSIONS_PRUNE_SECONDS", cls.sessions_prune_seconds),
            openai_base_url=text("OPENAI_BASE_URL", cls.openai_base_url).rstrip("/"),
            openai_transcribe_model=text("OPENAI_TRANSCRIBE_MODEL", cls.openai_transcribe_model),
            openai_summary_model=text("OPENAI_SUMMARY_MODEL", cls.openai_summary_model),
            provider_retry_seconds=integer("PROVIDER_RETRY_SECONDS", cls.provider_retry_seconds),
            transcribe_max_bytes=integer("TRANSCRIBE_MAX_BYTES", cls.transcribe_max_bytes),
            elevenlabs_base_url=text("ELEVENLABS_BASE_URL", cls.elevenlabs_base_url).rstrip("/"),
            elevenlabs_tts_model=text("ELEVENLABS_TTS_MODEL", cls.elevenlabs_tts_model),
            audio_dir=text("AUDIO_DIR", os.path.join(instance_path, AUDIO_DIRNAME)),
            api_key_reveal=_flag(text("API_KEY_REVEAL", "true")),
            cache_url=text("CACHE_URL", ""),
            frontend_url=text("FRONTEND_URL", cls.frontend_url).rstrip("/"),
            mail_url=text("MAIL_URL", ""),
            mail_from=text("MAIL_FROM", cls.mail_from),
            mail_ca_file=text("MAIL_CA_FILE", ""),
            mail_retry_seconds=integer("MAIL_RETRY_SECONDS", cls.mail_retry_seconds),
            password_reset_ttl=integer("PASSWORD_RESET_TTL", cls.password_reset_ttl),
            require_verified_email=_flag(text("REQUIRE_VERIFIED_EMAIL", "false")),
            ratelimit_forgot=text("RATELIMIT_FORGOT", cls.ratelimit_forgot),
            ratelimit_mail=text("RATELIMIT_MAIL", cls.ratelimit_mail),
            streams_max_per_user=integer("STREAMS_MAX_PER_USER", cls.streams_max_per_user),
            streams_ping_seconds=integer("STREAMS_PING_SECONDS", cls.streams_ping_seconds),
            streams_poll_ms=integer("STREAMS_POLL_MS", cls.streams_poll_ms),
            streams_max_per_worker=integer("STREAMS_MAX_PER_WORKER", cls.streams_max_per_worker),
            parse_problems=tuple(problems),
            defaulted=tuple(defaulted),
        )

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (tests use it to tweak one setting)."""
        return dataclasses.replace(self, **changes)

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def encryption_key_bytes(self) -> bytes:
        return parse_key(self.encryption_key)

    @property
    def encryption_old_key_bytes(self) -> tuple[bytes, ...]:
        return tuple(parse_key(k) for k in self.encryption_old_keys)

    def validate(self) -> None:
        """Raise one ConfigError naming every problem; warn about development defaults."""
        problems = list(self.parse_problems)
        if self.app_env not in ENVIRONMENTS:
            problems.append(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}")
        if not self.database_url.startswith(("sqlite:", "postgresql")):
            problems.append("DATABASE_URL must be a sqlite:/// or postgresql:// URL")
        problems += _secret_problems(self)
        if not 60 <= self.jwt_expires_in <= MAX_JWT_EXPIRES_IN:
            problems.append("JWT_EXPIRES_IN must be between 60 seconds and 1 year")
        problems += _rate_limit_problems(self)
        if self.trusted_proxy_count < 0:
            problems.append("TRUSTED_PROXY_COUNT must not be negative")
        if self.max_content_length < 1024:
            problems.append("MAX_CONTENT_LENGTH must be at least 1024 bytes")
        problems += _history_problems(self)
        if not 4 <= self.bcrypt_rounds <= 31:
            problems.append("BCRYPT_ROUNDS must be between 4 and 31")
        if self.log_format not in ("json", "console"):
            problems.append("LOG_FORMAT must be json or console")
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            problems.append("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        if self.metrics_token and len(self.metrics_token) < 16:
            problems.append("METRICS_TOKEN must be at least 16 characters (or empty: /metrics off)")
        problems += _job_problems(self)
        problems += _mail_problems(self)
        if self.is_production:
            problems += _production_problems(self)
        if problems:
            raise ConfigError(problems)
        if self.defaulted and not self.is_production:
            log.warning(
                "Using development defaults for %s; never use them in production",
                ", ".join(self.defaulted),
            )


def _secret_problems(config: Config) -> list[str]:
    problems = []
    if len(config.jwt_secret) < 32:
        problems.append("JWT_SECRET must be at least 32 characters")
    elif len(set(config.jwt_secret)) < 8:
        problems.append("JWT_SECRET is too weak (too few distinct characters)")
    for name, keys in (
        ("ENCRYPTION_KEY", (config.encryption_key,)),
        ("ENCRYPTION_OLD_KEYS", config.encryption_old_keys),
    ):
        for key in keys:
            try:
                raw = parse_key(key)
            except ValueError as exc:
                problems.append(f"{name} {exc}")
                continue
            if len(set(raw)) < 8:
                problems.append(f"{name} is too weak (too few distinct bytes)")
    return problems


def _history_problems(config: Config) -> list[str]:
    problems = []
    if config.history_max_bytes < 1024:
        problems.append("HISTORY_MAX_BYTES must be at least 1024 bytes")
    if config.history_max_items < 1:
        problems.append("HISTORY_MAX_ITEMS must be at least 1")
    if config.history_search_ranked < 1:
        problems.append("HISTORY_SEARCH_RANKED must be at least 1")
    return problems


def _rate_limit_problems(config: Config) -> list[str]:
    problems = []
    for name, value in (
        ("RATELIMIT_DEFAULT", config.ratelimit_default),
        ("RATELIMIT_LOGIN", config.ratelimit_login),
        ("RATELIMIT_LOGIN_ACCOUNT", config.ratelimit_login_account),
        ("RATELIMIT_REGISTER", config.ratelimit_register),
        ("RATELIMIT_FORGOT", config.ratelimit_forgot),
        ("RATELIMIT_MAIL", config.ratelimit_mail),
    ):
        try:
            parse_many(value)
        except ValueError:
            problems.append(f"{name} must be a rate limit such as '10 per minute'")
    if not config.ratelimit_storage_uri.startswith(
        ("memory://", "sqlite:///", "redis://", "rediss://", "redis+")
    ):
        problems.append("RATELIMIT_STORAGE_URI must be sqlite:///…, memory:// or a redis:// URL")
    return problems


def _is_dev_key(text: str) -> bool:
    """True when ``text`` decodes to the development key's bytes, however it is spelled
    (base64, URL-safe base64, hex in either case): the bytes are the key, not their spelling."""
    try:
        return parse_key(text) == parse_key(DEV_ENCRYPTION_KEY)
    except ValueError:  # not a key at all: reported by _secret_problems
        return False


def _job_problems(config: Config) -> list[str]:
    problems = []
    # Empty (a Config built in code) means the defaults: resolved against the instance folder.
    if config.queue_url and not config.queue_url.startswith(("sqlite:///", "redis://", "rediss://")):
        problems.append("QUEUE_URL must be sqlite:///… or a redis:// URL")
    if not config.queue_name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        problems.append("QUEUE_NAME must be letters, digits, '.', '-' and '_'")
    if config.ratelimit_storage_uri.startswith("redis+"):
        # The per-user cap on job event streams counts in this storage (audiotricks.jobs.leases).
        problems.append(
            "RATELIMIT_STORAGE_URI must be redis://, sqlite:/// or memory:// (job event streams "
            "count their per-user cap there)"
        )
    if not config.openai_base_url.startswith(("https://", "http://")):
        problems.append("OPENAI_BASE_URL must be an http(s):// URL")
    if not config.elevenlabs_base_url.startswith(("https://", "http://")):
        problems.append("ELEVENLABS_BASE_URL must be an http(s):// URL")
    if not config.elevenlabs_tts_model.strip():
        problems.append("ELEVENLABS_TTS_MODEL must not be empty")
    if config.cache_url and not config.cache_url.startswith(("redis://", "rediss://")):
        problems.append("CACHE_URL must be a redis:// URL (or empty: an in-process cache)")
    for name, value, low in (
        ("UPLOAD_MAX_BYTES", config.upload_max_bytes, 1024),
        ("AUDIO_MAX_SECONDS", config.audio_max_seconds, 1),
        ("JOBS_MAX_ACTIVE", config.jobs_max_active, 1),
        ("JOBS_LEASE_SECONDS", config.jobs_lease_seconds, 3),
        ("JOBS_SWEEP_SECONDS", config.jobs_sweep_seconds, 1),
        ("JOBS_REQUEUE_SECONDS", config.jobs_requeue_seconds, 1),
        ("JOBS_MAX_ATTEMPTS", config.jobs_max_attempts, 1),
        ("SESSIONS_PRUNE_SECONDS", config.sessions_prune_seconds, 1),
        ("PROVIDER_RETRY_SECONDS", config.provider_retry_seconds, 0),
        ("TRANSCRIBE_MAX_BYTES", config.transcribe_max_bytes, 65536),
        ("STREAMS_MAX_PER_USER", config.streams_max_per_user, 1),
        ("STREAMS_PING_SECONDS", config.streams_ping_seconds, 1),
        ("STREAMS_POLL_MS", config.streams_poll_ms, 50),
        ("STREAMS_MAX_PER_WORKER", config.streams_max_per_worker, 1),
    ):
        if value < low:
            problems.append(f"{name} must be at least {low}")
    return problems


def _mail_problems(config: Config) -> list[str]:
    from audiotricks.mail.settings import frontend_url_problem, mail_from_problem, mail_url_problem

    problems = [
        problem
        for problem in (
            mail_url_problem(config.mail_url) if config.mail_url else None,
            mail_from_problem(config.mail_from),
            frontend_url_problem(config.frontend_url),
        )
        if problem
    ]
    if config.mail_ca_file and not os.path.isfile(config.mail_ca_file):
        problems.append("MAIL_CA_FILE must name a readable file of CA certificates")
    if config.mail_retry_seconds < 0:
        problems.append("MAIL_RETRY_SECONDS must not be negative")
    if not 60 <= config.password_reset_ttl <= 86400:
        problems.append("PASSWORD_RESET_TTL must be between 60 seconds and 1 day")
    return problems


def _production_problems(config: Config) -> list[str]:
    problems = []
    if "DATABASE_URL" in config.defaulted:
        problems.append("DATABASE_URL is required in production")
    if "JWT_SECRET" in config.defaulted:
        problems.append("JWT_SECRET is required in production")
    elif config.jwt_secret == DEV_JWT_SECRET:
        problems.append("JWT_SECRET must not be the development default")
    if "ENCRYPTION_KEY" in config.defaulted:
        problems.append("ENCRYPTION_KEY is required in production")
    elif _is_dev_key(config.encryption_key):
        problems.append("ENCRYPTION_KEY must not be the development default")
    if any(_is_dev_key(key) for key in config.encryption_old_keys):
        problems.append("ENCRYPTION_OLD_KEYS must not contain the development default")
    if config.bcrypt_rounds < 10:
        problems.append("BCRYPT_ROUNDS must be at least 10 in production")
    if config.ratelimit_enabled and config.ratelimit_storage_uri.startswith("memory://"):
        problems.append(
            "RATELIMIT_STORAGE_URI must not be memory:// in production (each worker process would"
            " count alone): leave it unset (a file shared by the workers of this host) or use redis://"
        )
    for name, value, default in (
        ("MAIL_URL", config.mail_url, ""),
        ("MAIL_FROM", config.mail_from, DEV_MAIL_FROM),
        ("FRONTEND_URL", config.frontend_url, DEV_FRONTEND_URL),
    ):
        if name in config.defaulted:
            problems.append(f"{name} is required in production")
        elif value == default:  # copied from .env.example: mail to nowhere, links to localhost
            problems.append(f"{name} must not be the development default")
    return problems
