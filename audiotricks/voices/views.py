"""Voices endpoint: a thin view over :mod:`audiotricks.voices.service`."""

from __future__ import annotations

from flask import Response, g

from audiotricks.auth.decorators import require_session
from audiotricks.http import envelope, responds
from audiotricks.schemas.base import ErrorSchema
from audiotricks.schemas.voices import VoicesDataSchema, VoicesEnvelope
from audiotricks.settings.checks import ProviderRequestFailed
from audiotricks.voices import bp, service

voices_data = VoicesDataSchema()


@bp.get("")
@responds(
    200,
    VoicesEnvelope,
    (409, ErrorSchema, "No ElevenLabs API key stored, or it cannot be decrypted"),
    (502, ErrorSchema, ProviderRequestFailed.message),
)
@require_session
def list_voices() -> tuple[Response, int]:
    """The caller's ElevenLabs voices, read with the stored key and cached for 10 minutes.

    The list is cached per user; storing or deleting the ElevenLabs key drops it. 409 when no
    ElevenLabs key is stored. 502 Provider request failed when ElevenLabs cannot be reached, fails
    or rejects the key (a rejected key is then shown as valid: false in its KeyStatus).
    """
    voices = service.list_voices(g.user)
    return envelope("Voices", voices_data.dump({"voices": voices}))
