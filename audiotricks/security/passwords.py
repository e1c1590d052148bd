"""Password policy and bcrypt hashing."""

from __future__ import annotations

import functools
import hmac

import bcrypt

MIN_LENGTH = 8
MAX_BYTES = 72  # bcrypt ignores (bcrypt 5 refuses) anything past 72 bytes
COMMON_PASSWORD_LIST_SIZE = 30000


@functools.cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships a ranked list of the 30,000 most common leaked passwords (lower case).
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"][:COMMON_PASSWORD_LIST_SIZE])


def password_problems(password: str) -> list[str]:
    """Every rule ``password`` breaks, as sentences that never quote it."""
    if len(password.encode("utf-8")) > MAX_BYTES:
        return [f"Password must be at most {MAX_BYTES} bytes in UTF-8."]
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Password must be at least {MIN_LENGTH} characters long.")
    if not any(c.islower() for c in password):
        problems.append("Password must contain a lowercase letter.")
    if not any(c.isupper() for c in password):
        problems.append("Password must contain an uppercase letter.")
    if not any(c.isdigit() for c in password):
        problems.append("Password must contain a digit.")
    if password.lower() in _common_passwords():
        problems.append("Password is too common; choose a less predictable one.")
    return problems


def hash_password(password: str, rounds: int) -> str:
    """A bcrypt hash of ``password`` at cost ``rounds``."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (constant time inside bcrypt)."""
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_BYTES:
        return False
    return bcrypt.checkpw(encoded, password_hash.encode("ascii"))


@functools.cache
def dummy_hash(rounds: int) -> str:
    """A hash to verify against when there is no account, so timing matches a wrong password."""
    return hash_password("dummy-password-for-timing-only", rounds)


def verify_or_dummy(password: str, password_hash: str | None, rounds: int) -> bool:
    """Verify against ``password_hash``, or burn the same time on a dummy hash and fail."""
    if password_hash is None:
        verify_password(password, dummy_hash(rounds))
        return False
    return verify_password(password, password_hash)


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two secrets without leaking where they differ."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
