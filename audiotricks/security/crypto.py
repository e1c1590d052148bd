"""API-key encryption at rest: AES-256-GCM under a keyring that supports key rotation.

A stored value reads ``v1.<key id>.<base64url(nonce + ciphertext + tag)>`` (no padding):

- ``v1`` names this format, so a later one can be told apart;
- the key id is the first 8 hex characters of SHA-256 over a domain-separated string and the
  key. It names the key a value was made with (the current one or an old one kept for
  rotation) without revealing anything usable about it;
- the nonce is 12 fresh random bytes per encryption;
- the associated data (:func:`associated_data`) binds the value to one user and one provider,
  so a ciphertext copied to another row or column fails authentication.

Nothing here imports Flask: the service, the CLI and the tests use it alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import uuid
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, as GCM recommends
TAG_BYTES = 16
KEY_ID_CONTEXT = b"audiotricks:encryption-key-id:v1:"
_KEY_ID = re.compile(r"[0-9a-f]{8}")
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]+")


class DecryptionError(Exception):
    """A stored value cannot be decrypted. The message never holds key material or plaintext."""


class MalformedCiphertext(DecryptionError):
    """The value is not in the vault's format."""


class UnknownKeyId(DecryptionError):
    """The value names a key the keyring does not hold (removed too early, or never configured)."""


class AuthenticationFailed(DecryptionError):
    """The key is known but the value does not authenticate: tampered, or copied to another row."""


def key_id(key: bytes) -> str:
    """The short public id of ``key``: 8 hex characters of a domain-separated SHA-256."""
    return hashlib.sha256(KEY_ID_CONTEXT + key).hexdigest()[:8]


def associated_data(user_id: uuid.UUID | str, provider: str) -> bytes:
    """The associated data binding a ciphertext to one user's key for one provider."""
    return f"audiotricks:v1:{uuid.UUID(str(user_id))}:{provider}".encode("ascii")


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict base64url without padding: only the canonical spelling of the bytes is accepted."""
    if not _PAYLOAD.fullmatch(text) or len(text) % 4 == 1:
        raise MalformedCiphertext("Ciphertext payload is not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedCiphertext("Ciphertext payload is not base64url") from None
    # Unused low bits in the last character would let two spellings decode alike.
    if _b64encode(raw) != text:
        raise MalformedCiphertext("Ciphertext payload is not canonical base64url")
    return raw


def parse(value: str) -> tuple[str, bytes]:
    """Split a stored value into its key id and ``nonce + ciphertext + tag``."""
    if not isinstance(value, str):
        raise MalformedCiphertext("Ciphertext must be text")
    parts = value.split(".")
    if len(parts) != 3:
        raise MalformedCiphertext("Ciphertext does not have three dot-separated parts")
    version, kid, payload = parts
    if version != FORMAT_VERSION:
        raise MalformedCiphertext("Ciphertext has an unsupported format version")
    if not _KEY_ID.fullmatch(kid):
        raise MalformedCiphertext("Ciphertext has a malformed key id")
    raw = _b64decode(payload)
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise MalformedCiphertext("Ciphertext is too short")
    return kid, raw


class Keyring:
    """The current key (encrypts and decrypts) and old keys (decrypt only), found by key id."""

    def __init__(self, current: bytes, old: Iterable[bytes] = ()):
        keys = [current, *old]
        for key in keys:
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise ValueError(f"Encryption keys must be exactly {KEY_BYTES} bytes")
        self._current_id = key_id(current)
        self._ciphers: dict[str, AESGCM] = {}
        self._keys: dict[str, bytes] = {}
        for key in keys:
            kid = key_id(key)
            if kid in self._keys:
                if self._keys[kid] != key:  # 32-bit ids: a clash is astronomically unlikely
                    raise ValueError(f"Two different encryption keys share the id {kid}")
                continue  # the same key listed twice (say, current and old) is harmless
            self._keys[kid] = key
            self._ciphers[kid] = AESGCM(key)

    def __repr__(self) -> str:
        return f"<Keyring current={self._current_id} keys={','.join(self._ciphers)}>"

    @property
    def current_key_id(self) -> str:
        return self._current_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id held, the current one first."""
        return tuple(self._ciphers)

    def encrypt(self, plaintext: str, aad: bytes) -> str:
        """Encrypt under the current key with a fresh nonce; the result is the stored text."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._current_id].encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{FORMAT_VERSION}.{self._current_id}.{_b64encode(nonce + sealed)}"

    def decrypt(self, value: str, aad: bytes) -> str:
        """The plaintext of a stored value, or a :class:`DecryptionError` subclass."""
        kid, raw = parse(value)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UnknownKeyId(f"Ciphertext was made with key {kid}, which is not configured")
        try:
            plaintext = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except InvalidTag:
            raise AuthenticationFailed(
                "Ciphertext does not authenticate (tampered, or bound to another user or provider)"
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedCiphertext("Decrypted value is not UTF-8 text") from None

    def is_current(self, value: str) -> bool:
        """Whether ``value`` names the current key (checked from the format, without decrypting)."""
        try:
            kid, _ = parse(value)
        except MalformedCiphertext:
            return False
        return kid == self._current_id

    def reencrypt(self, value: str, aad: bytes) -> str:
        """The value decrypted (with whichever key it names) and encrypted under the current key."""
        return self.encrypt(self.decrypt(value, aad), aad)
