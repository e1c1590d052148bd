"""Contract fuzzing: schemathesis sends generated requests to every operation of the app's OpenAPI
document and checks that no answer is a 5xx and every answer matches the documented statuses,
content types and schemas.

The app runs in a real HTTP server (Werkzeug's, in a thread, on a free port; test configuration on
SQLite), so requests cross a socket exactly as a client's do. schemathesis must know the operations
when pytest collects the tests, before any server runs, so the document is built at import by the
same code that serves ``/api/v1/openapi.json``; a test checks that the running server serves exactly
that document. Authenticated operations get a real bearer token; an operation that may end the
session (logout, say) is followed by a check, and a new login when the token stopped working, so
later examples are not all 401.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from werkzeug.serving import make_server

from audiotricks import create_app
from audiotricks.openapi import build_spec
from tests.conftest import PASSWORD, dispose_engines, make_config
from tests.ops.client import call
from tests.services import free_port

pytestmark = pytest.mark.slow

# Examples per operation: enough to find shape and status mistakes, small enough for CI (every
# operation the document lists is fuzzed, so the run grows with the API).
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
EMAIL = "fuzzer@example.com"
USERNAME = "fuzzer"


class Account:
    """The fuzzing user's bearer token, renewed when an operation under test ended the session."""

    def __init__(self, port: int):
        self.port = port
        self.token = ""
        self.renew()

    def renew(self) -> None:
        credentials = {"email": EMAIL, "password": PASSWORD}
        reply = call(self.port, "POST", "/api/v1/auth/login", credentials)
        if reply.status == 401:  # first run, or the account was deleted by an example
            registered = call(
                self.port,
                "POST",
                "/api/v1/auth/register",
                {"email": EMAIL, "username": USERNAME, "password": PASSWORD},
            )
            assert registered.status == 201, registered.text
            reply = call(self.port, "POST", "/api/v1/auth/login", credentials)
        assert reply.status == 200, reply.text
        self.token = reply.json()["data"]["token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def still_valid(self) -> bool:
        return call(self.port, "GET", "/api/v1/auth/me", headers=self.headers).status == 200


@pytest.fixture(scope="module")
def server(sqlite_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The app behind a real HTTP server on a free port."""
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    shutil.copyfile(sqlite_template, path)
    app = create_app(make_config(f"sqlite:///{path}"))
    port = free_port()
    http_server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    yield port
    http_server.shutdown()
    thread.join(10)
    dispose_engines(app)


@pytest.fixture(scope="module")
def account(server: int) -> Account:
    return Account(server)


def documented_api() -> dict[str, Any]:
    """The OpenAPI document of an app in the test configuration (nothing is connected to)."""
    return build_spec(create_app(make_config("sqlite://")))


DOCUMENT = documented_api()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_running_server_serves_the_fuzzed_document(server: int) -> None:
    reply = call(server, "GET", "/api/v1/openapi.json")
    assert reply.status == 200
    assert reply.json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_honours_its_contract(case: Any, server: int, account: Account) -> None:
    case.call_and_validate(
        base_url=f"http://127.0.0.1:{server}", headers=account.headers, checks=CHECKS
    )
    if case.method.upper() != "GET" and not account.still_valid():
        account.renew()
