"""The vault's encryption: AES-256-GCM, the stored format, associated data and the keyring."""

from __future__ import annotations

import base64
import re
import uuid

import pytest

from audiotricks.security.crypto import (
    AuthenticationFailed,
    DecryptionError,
    Keyring,
    MalformedCiphertext,
    UnknownKeyId,
    associated_data,
    key_id,
    parse,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
SECRET = "sk-proj-Zq8bW1xY7nM3vK5tR9uP2sL4"
USER = uuid.UUID("6f1c1e6a-1f7b-4a8e-9b1e-2d9a3c4b5e6f")
OTHER_USER = uuid.UUID("0b6c3a8e-5d2f-4e71-8a9c-1f2e3d4c5b6a")
AAD = associated_data(USER, "openai")
FORMAT = re.compile(r"v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+")


def test_round_trip() -> None:
    ring = Keyring(KEY_A)
    stored = ring.encrypt(SECRET, AAD)
    assert ring.decrypt(stored, AAD) == SECRET


def test_format_names_version_and_key_id_and_hides_the_plaintext() -> None:
    ring = Keyring(KEY_A)
    stored = ring.encrypt(SECRET, AAD)
    assert FORMAT.fullmatch(stored)
    version, kid, payload = stored.split(".")
    assert (version, kid) == ("v1", key_id(KEY_A))
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    # 12-byte nonce + ciphertext as long as the plaintext + 16-byte tag
    assert len(raw) == 12 + len(SECRET) + 16
    assert SECRET.encode() not in raw and SECRET not in stored


def test_fresh_nonce_each_time() -> None:
    ring = Keyring(KEY_A)
    values = {ring.encrypt(SECRET, AAD) for _ in range(50)}
    assert len(values) == 50
    nonces = {parse(v)[1][:12] for v in values}
    assert len(nonces) == 50


def test_key_id_is_short_stable_and_not_the_key() -> None:
    assert key_id(KEY_A) == key_id(bytes(KEY_A))
    assert key_id(KEY_A) != key_id(KEY_B)
    assert re.fullmatch(r"[0-9a-f]{8}", key_id(KEY_A))
    assert key_id(KEY_A) not in KEY_A.hex()


@pytest.mark.parametrize(
    "aad",
    [
        associated_data(OTHER_USER, "openai"),
        associated_data(USER, "elevenlabs"),
        b"",
    ],
    ids=["other-user", "other-provider", "no-aad"],
)
def test_ciphertext_is_bound_to_user_and_provider(aad: bytes) -> None:
    ring = Keyring(KEY_A)
    stored = ring.encrypt(SECRET, AAD)
    with pytest.raises(AuthenticationFailed):
        ring.decrypt(stored, aad)


def test_associated_data_accepts_uuid_or_text_alike() -> None:
    assert associated_data(USER, "openai") == associated_data(str(USER), "openai")
    assert associated_data(USER, "openai") == f"audiotricks:v1:{USER}:openai".encode()


def test_every_single_character_change_fails() -> None:
    ring = Keyring(KEY_A)
    stored = ring.encrypt(SECRET, AAD)
    prefix_len = len("v1.") + 8 + 1
    for index in range(prefix_len, len(stored)):
        original = stored[index]
        for replacement in {"A", "B", "_", "-", "z"} - {original}:
            tampered = stored[:index] + replacement + stored[index + 1:]
            with pytest.raises(DecryptionError):
                ring.decrypt(tampered, AAD)


def test_flipped_ciphertext_bit_fails_authentication() -> None:
    ring = Keyring(KEY_A)
    kid, raw = parse(ring.encrypt(SECRET, AAD))
    flipped = bytearray(raw)
    flipped[20] ^= 0x01
    payload = base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
    with pytest.raises(AuthenticationFailed):
        ring.decrypt(f"v1.{kid}.{payload}", AAD)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plaintext-key-stored-by-mistake",
        "v1.abcdef12",
        "v1.abcdef12.AAAA.extra",
        "v2.{kid}.{payload}",
        "v1.ABCDEF12.{payload}",
        "v1.abcdef1.{payload}",
        "v1.{kid}.{payload}=",
        "v1.{kid}.{payload}!",
        "v1.{kid}.",
        "v1.{kid}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.{kid}.AAAA",
    ],
)
def test_malformed_values(value: str) -> None:
    ring = Keyring(KEY_A)
    _, kid, payload = ring.encrypt(SECRET, AAD).split(".")
    with pytest.raises(MalformedCiphertext):
        ring.decrypt(value.format(kid=kid, payload=payload), AAD)


def test_non_text_value_is_malformed() -> None:
    with pytest.raises(MalformedCiphertext):
        Keyring(KEY_A).decrypt(b"v1.x.y", AAD)  # type: ignore[arg-type]


def test_unknown_key_id() -> None:
    stored = Keyring(KEY_B).encrypt(SECRET, AAD)
    with pytest.raises(UnknownKeyId) as caught:
        Keyring(KEY_A).decrypt(stored, AAD)
    assert key_id(KEY_B) in str(caught.value)


def test_old_keys_decrypt_and_current_key_encrypts() -> None:
    old_value = Keyring(KEY_A).encrypt(SECRET, AAD)
    ring = Keyring(KEY_B, [KEY_A])
    assert ring.current_key_id == key_id(KEY_B)
    assert ring.key_ids == (key_id(KEY_B), key_id(KEY_A))
    assert ring.decrypt(old_value, AAD) == SECRET
    assert not ring.is_current(old_value)
    new_value = ring.reencrypt(old_value, AAD)
    assert ring.is_current(new_value)
    assert parse(new_value)[0] == key_id(KEY_B)
    assert Keyring(KEY_B).decrypt(new_value, AAD) == SECRET
    with pytest.raises(UnknownKeyId):
        Keyring(KEY_A).decrypt(new_value, AAD)


def test_is_current_of_garbage_is_false() -> None:
    assert not Keyring(KEY_A).is_current("not-a-ciphertext")


def test_same_key_listed_twice_is_harmless() -> None:
    ring = Keyring(KEY_A, [KEY_A, KEY_B, KEY_B])
    assert ring.key_ids == (key_id(KEY_A), key_id(KEY_B))


@pytest.mark.parametrize("bad", [b"", b"short", bytes(31), bytes(33), "0" * 32])
def test_keys_must_be_32_bytes(bad: object) -> None:
    with pytest.raises(ValueError):
        Keyring(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Keyring(KEY_A, [bad])  # type: ignore[list-item]


def test_no_key_material_in_repr_or_errors() -> None:
    ring = Keyring(KEY_A, [KEY_B])
    forms = [KEY_A.hex(), KEY_B.hex(), base64.b64encode(KEY_A).decode(), repr(KEY_A)]
    stored = ring.encrypt(SECRET, AAD)
    messages = [repr(ring), str(ring)]
    for attempt in (
        lambda: ring.decrypt(stored, associated_data(OTHER_USER, "openai")),
        lambda: ring.decrypt(stored[:-2], AAD),
        lambda: Keyring(bytes(range(50, 82))).decrypt(stored, AAD),
    ):
        with pytest.raises(DecryptionError) as caught:
            attempt()
        messages += [str(caught.value), repr(caught.value)]
    for message in messages:
        assert SECRET not in message
        for form in forms:
            assert form not in message
