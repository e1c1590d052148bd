"""Health checks, the OpenAPI document and the self-hosted docs page."""

from __future__ import annotations

import re


def test_health_is_ok(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_checks_the_database(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok"}}


def test_openapi_documents_every_api_route(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()

    assert spec["openapi"].startswith("3.")
    documented = {
        (path, method.upper()) for path, ops in spec["paths"].items() for method in ops
    }
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not hasattr(view, "response_doc"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented
    assert ("/api/v1/auth/login", "POST") in documented
    assert ("/api/v1/auth/me", "GET") in documented


def test_openapi_request_schema_is_the_validating_schema(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    register = spec["paths"]["/api/v1/auth/register"]["post"]
    ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]

    assert set(schema["required"]) == {"email", "username", "password"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["password"]["writeOnly"] is True
    assert {"201", "400", "409", "415"} <= set(register["responses"])


def test_authenticated_operations_declare_bearer_security(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    me = spec["paths"]["/api/v1/auth/me"]["get"]

    assert me["security"] == [{"bearerAuth": []}]
    assert "401" in me["responses"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_loads_only_local_assets(client):
    page = client.get("/api/v1/docs")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    for source in sources:
        assert "//" not in source  # no other host
        with client.get(f"/api/v1/{source}") as asset:
            assert asset.status_code == 200
