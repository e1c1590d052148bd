"""Fixtures for voices, key checks and speech: stand-in ElevenLabs and OpenAI servers on loopback,
the app pointed at them, stored audio in the test's folder, and a check that no API key reached
a log record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.providers.elevenlabs_standin import ElevenLabsStandIn
from tests.providers.openai_standin import OpenAIStandIn
from tests.settings.conftest import no_key_in_logs  # noqa: F401  (autouse: no key in any log)
from tests.settings.helpers import remember

API = "/api/v1"


@pytest.fixture
def eleven() -> Iterator[ElevenLabsStandIn]:
    server = ElevenLabsStandIn(remember(uuid.uuid4().hex + uuid.uuid4().hex[:8])).start()
    yield server
    server.stop()


@pytest.fixture
def openai_standin() -> Iterator[OpenAIStandIn]:
    server = OpenAIStandIn(remember("sk-" + uuid.uuid4().hex + uuid.uuid4().hex[:8])).start()
    yield server
    server.stop()


@pytest.fixture
def provider_settings(
    eleven: ElevenLabsStandIn, openai_standin: OpenAIStandIn, tmp_path: Path
) -> dict[str, Any]:
    return {
        "elevenlabs_base_url": eleven.base_url,
        "openai_base_url": openai_standin.base_url,
        "audio_dir": str(tmp_path / "audio"),
        "log_level": "DEBUG",
    }


@pytest.fixture
def config_overrides(provider_settings: dict[str, Any]) -> dict[str, Any]:
    return provider_settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def put_key(client: Any, token: str, provider: str, key: str) -> Any:
    response = client.put(
        f"{API}/settings/api-keys/{provider}", json={"apiKey": key}, headers=bearer(token)
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]["status"]
