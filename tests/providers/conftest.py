"""The stand-in OpenAI server, one per test."""

from __future__ import annotations

import pytest

from tests.providers.openai_standin import OpenAIStandIn

KEY = "sk-test-" + "k3y" * 12


@pytest.fixture
def standin():
    server = OpenAIStandIn(KEY).start()
    yield server
    server.stop()
