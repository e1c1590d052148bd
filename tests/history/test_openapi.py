"""The OpenAPI document describes every history operation from the schemas that validate it."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths: dict[str, Any] = response.get_json()["paths"]
    return paths


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_every_history_operation_is_documented(document: dict[str, Any]) -> None:
    history = {path: ops for path, ops in document.items() if path.startswith("/api/v1/history")}
    operations = {(path, method) for path, ops in history.items() for method in ops}
    assert operations == {
        ("/api/v1/history", "get"),
        ("/api/v1/history", "post"),
        ("/api/v1/history/import", "post"),
        ("/api/v1/history/{item_id}", "get"),
        ("/api/v1/history/{item_id}", "put"),
        ("/api/v1/history/{item_id}", "delete"),
        ("/api/v1/history/{item_id}/export", "get"),
        ("/api/v1/history/{item_id}/audio", "get"),
    }
    for ops in history.values():
        for operation in ops.values():
            assert operation["security"] == [{"bearerAuth": []}]
            assert {"401", "429", "500"} <= set(operation["responses"])


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_statuses_parameters_and_downloads(document: dict[str, Any]) -> None:
    create = document["/api/v1/history"]["post"]
    assert {"200", "201", "400", "409", "413", "415"} <= set(create["responses"])
    assert "ETag" in create["responses"]["201"]["headers"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/CreateHistory")

    listing = document["/api/v1/history"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "cursor", "q"}
    assert "400" in listing["responses"]

    item = document["/api/v1/history/{item_id}"]
    assert "content" not in item["get"]["responses"]["304"]
    assert "If-None-Match" in {p["name"] for p in item["get"]["parameters"]}
    assert "412" in item["put"]["responses"]
    assert "If-Match" in {p["name"] for p in item["put"]["parameters"]}

    export = document["/api/v1/history/{item_id}/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {
        "text/plain", "text/markdown", "application/json", "application/x-subrip", "text/vtt",
    }
    assert {"400", "404", "409"} <= set(export["responses"])
    assert [p["name"] for p in export["parameters"] if p["in"] == "query"] == ["format"]
