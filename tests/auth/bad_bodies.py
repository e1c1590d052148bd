"""Bodies every JSON endpoint must refuse with a clear 4xx, as (case id, request kwargs, status)."""

from __future__ import annotations

from typing import Any


def bad_bodies(valid: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
    """Broken variants of ``valid``: media type, JSON syntax, missing/unknown/null/mistyped."""
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("no body", {}, 415),
        ("form encoded", {"data": valid}, 415),
        ("text/plain", {"data": "{}", "content_type": "text/plain"}, 415),
        ("latin-1", {"data": "{}", "content_type": "application/json; charset=latin-1"}, 415),
        ("malformed json", {"data": "{not json", "content_type": "application/json"}, 400),
        ("truncated json", {"data": '{"a": ', "content_type": "application/json"}, 400),
        ("array body", {"json": [valid]}, 400),
        ("string body", {"json": "password"}, 400),
        ("null body", {"data": "null", "content_type": "application/json"}, 400),
        ("empty object", {"json": {}}, 400),
        ("unknown field", {"json": {**valid, "extra": 1}}, 400),
        ("nul character", {"json": {k: v + "\x00" for k, v in valid.items()}}, 400),
    ]
    for name, value in valid.items():
        cases += [
            (f"missing {name}", {"json": {k: v for k, v in valid.items() if k != name}}, 400),
            (f"null {name}", {"json": {**valid, name: None}}, 400),
            (f"number {name}", {"json": {**valid, name: 12345678}}, 400),
            (f"list {name}", {"json": {**valid, name: [value]}}, 400),
            (f"object {name}", {"json": {**valid, name: {"value": value}}}, 400),
            (f"empty {name}", {"json": {**valid, name: ""}}, 400),
            (f"too long {name}", {"json": {**valid, name: "Aa1" * 30}}, 400),
        ]
    return cases


def assert_refused(response: Any, status: int, secrets: list[str]) -> None:
    """The contract's error body, never echoing a submitted value."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) <= {"error", "errors"}
    if status == 400 and body["error"] == "Validation failed":
        assert body["errors"] and all(set(e) == {"field", "message"} for e in body["errors"])
    text = response.get_data(as_text=True)
    for secret in secrets:
        assert secret not in text
