"""Responses and log lines are written by orjson with Flask's own JSON semantics."""

from __future__ import annotations

import dataclasses
import decimal
import json
import logging
import uuid
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from audiotricks.fast_json import FastJSONProvider, dumps_line
from audiotricks.logs import JsonFormatter


@dataclasses.dataclass
class Point:
    x: int
    y: str


VALUES = [
    {"b": 1, "a": [1.5, -0.0, 10**18, True, None], "c": {"z": "é ☃ 😀", "y": "<&>\u2028"}},
    {"when": datetime(2026, 11, 26, 4, 5, 6, tzinfo=UTC), "day": date(2026, 1, 2)},
    {"id": uuid.UUID("9500699d-9c8e-44af-ac25-a0107e427e1e"), "amount": decimal.Decimal("1.10")},
    {"point": Point(1, "two")},
    {3: "integer keys", 4: "as text"},
    ["control \x00\x1f\n\t characters", "\"quotes\" and \\ backslashes"],
    {"big": 2**70},  # beyond orjson's 64 bits: the standard library writes it
    {"lone": "\ud800"},  # a lone surrogate: the standard library writes it, escaped
]


@pytest.fixture
def providers():
    app = Flask(__name__)
    return FastJSONProvider(app), DefaultJSONProvider(app), app


@pytest.mark.parametrize("value", VALUES)
def test_the_same_json_as_flasks_own_provider(providers, value):
    fast, default, _ = providers
    written = fast.dumps(value)
    assert json.loads(written) == json.loads(default.dumps(value))
    # Keys sorted and no spaces, as Flask writes them (ASCII only when the standard library wrote it).
    compact = [json.dumps(json.loads(written), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=ascii_only) for ascii_only in (False, True)]
    assert written in compact


def test_responses_are_compact_with_a_final_newline_and_pretty_in_debug(providers):
    fast, _, app = providers
    with app.app_context():
        body = fast.response({"b": 1, "a": "é"}).get_data()
        assert body == '{"a":"é","b":1}\n'.encode()
        app.debug = True
        assert fast.response(a=1).get_data() == b'{\n  "a": 1\n}\n'
    assert fast.dumps({"a": 1}, indent=1) == '{\n "a": 1\n}'  # other options: Flask's encoder


def test_the_app_uses_it(client):
    response = client.get("/health")
    assert response.get_data() == b'{"status":"ok"}\n'
    assert response.mimetype == "application/json"


def test_an_unknown_type_is_still_an_error(providers):
    fast, _, _ = providers
    with pytest.raises(TypeError):
        fast.dumps({"x": object()})


@pytest.mark.parametrize("value", [{"big": 2**70}, {"lone": "\ud800"}, {"o": object()}])
def test_a_log_line_is_always_written_and_is_one_line(value):
    line = dumps_line({"message": "m\nnext", **value})
    assert "\n" not in line
    assert json.loads(line)["message"] == "m\nnext"


def test_the_json_formatter_writes_extra_fields_as_text():
    record = logging.makeLogRecord({"msg": "hi", "levelname": "INFO", "name": "t",
                                    "when": datetime(2026, 1, 1, tzinfo=UTC), "n": 3})
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hi"
    assert entry["when"] == "2026-01-01 00:00:00+00:00"
    assert entry["n"] == 3
