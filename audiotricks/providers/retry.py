"""The retry loop every provider client shares: backoff, Retry-After, a time budget, cancel.

A client says how to read its own exceptions (``classify``); this module decides when to try
again. Time spent in requests and in waits counts against ``retry_seconds``; before every retry,
and every second of a wait, ``should_continue()`` is asked, and ``False`` raises Canceled.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Self, TypeVar

T = TypeVar("T")

PROVIDER_UNAVAILABLE = "provider_unavailable"
_WAIT_SLICE = 1.0  # seconds between should_continue() checks while waiting to retry
_BACKOFF_FIRST = 1.0
_BACKOFF_MAX = 60.0
_jitter = random.SystemRandom()


class ProviderClient:
    """What every provider client shares: its retrier, a repr without the key, and closing as a
    context."""

    def __init__(  # noqa: PLR0913 - the retry knobs, as the clients take them
        self,
        provider: str,
        api_key: str,
        base_url: str,
        *,
        retry_seconds: float,
        should_continue: Callable[[], bool],
        sleep: Callable[[float], None],
        malformed_attempts: int,
        log: logging.Logger,
    ) -> None:
        if not api_key:
            raise ValueError("An API key is required.")
        self._base_url = base_url
        self._retrier = Retrier(
            provider,
            retry_seconds,
            should_continue,
            sleep,
            backoff,
            malformed_attempts=malformed_attempts,
            log=log,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ProviderError(Exception):
    """A provider call that failed for good; ``code`` is one of the job error codes."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"ProviderError(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class Canceled(Exception):
    """``should_continue()`` answered False before a retry: stop without another provider call."""


class Malformed(Exception):
    """The provider answered 200 with something that is not what its API documents."""


@dataclass(frozen=True)
class Retry:
    """A failure worth another try: why (for the log), and the wait the provider asked for."""

    reason: str
    wait: float | None = None


@dataclass
class Retrier:
    """Runs calls to one provider with its retry budget and cancel check."""

    provider: str  # the name in log lines and messages: "OpenAI", "ElevenLabs"
    retry_seconds: float
    should_continue: Callable[[], bool]
    sleep: Callable[[float], None]
    backoff: Callable[[int], float]
    malformed_attempts: int = 3
    log: logging.Logger = field(default_factory=lambda: logging.getLogger(__name__))

    def check_continue(self) -> None:
        if not self.should_continue():
            raise Canceled

    def wait(self, seconds: float) -> None:
        """Wait ``seconds`` in slices, asking should_continue() before each and at the end."""
        remaining = seconds
        while True:
            self.check_continue()
            if remaining <= 0:
                return
            step = min(remaining, _WAIT_SLICE)
            self.sleep(step)
            remaining -= step

    def run(
        self, operation: str, call: Callable[[], T], classify: Callable[[Exception], Retry | None]
    ) -> T:
        """``call()`` until it succeeds, ``classify`` says an exception is final (None: re-raised;
        or it raises ProviderError itself), or the budget is spent (``provider_unavailable``)."""
        name = self.provider.lower()
        spent = 0.0  # of the retry budget: time in requests plus time waited (a fake sleep counts)
        attempt = 0
        malformed = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                result = call()
            except Malformed:
                malformed += 1
                retry = Retry("unreadable answer")
                if malformed >= self.malformed_attempts:
                    self.log.warning(
                        "%s %s: answer unreadable %d times; giving up", name, operation, malformed
                    )
                    raise ProviderError(
                        PROVIDER_UNAVAILABLE,
                        f"{self.provider}'s answer could not be read, several times over.",
                    ) from None
            except Exception as exc:
                found = classify(exc)
                if found is None:
                    raise
                retry = found
            else:
                self.log.info(
                    "%s %s succeeded on attempt %d in %.2fs",
                    name,
                    operation,
                    attempt,
                    time.monotonic() - started,
                )
                return result
            spent += time.monotonic() - started
            wait = retry.wait if retry.wait is not None else self.backoff(attempt)
            if spent + wait > self.retry_seconds:
                self.log.warning(
                    "%s %s attempt %d failed (%s); retry budget of %.0fs spent, giving up",
                    name,
                    operation,
                    attempt,
                    retry.reason,
                    self.retry_seconds,
                )
                raise ProviderError(
                    PROVIDER_UNAVAILABLE,
                    f"{self.provider} is unavailable or rate limiting; retried until the time "
                    "allowed ran out.",
                )
            self.log.warning(
                "%s %s attempt %d failed (%s); retrying in %.2fs",
                name,
                operation,
                attempt,
                retry.reason,
                wait,
            )
            self.wait(wait)
            spent += wait


def retry_after(headers: Any) -> float | None:
    """The wait a 429 or 5xx asked for, in seconds: ``retry-after-ms``, then ``Retry-After``."""
    with contextlib.suppress(TypeError, ValueError):
        millis = headers.get("retry-after-ms")
        if millis is not None:
            value = float(millis) / 1000
            if math.isfinite(value) and value >= 0:
                return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    with contextlib.suppress(ValueError):
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    with contextlib.suppress(TypeError, ValueError, IndexError):
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    return None


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter: about 1, 2, 4… seconds, at most a minute."""
    ceiling = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (attempt - 1))
    return _jitter.uniform(ceiling / 2, ceiling)
