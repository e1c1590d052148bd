"""CORS, CORP and the docs CSP proved in a real browser (Debian's headless Chromium).

The API runs for real on 127.0.0.1; the pages that call it are served from ``localhost`` on other
ports, so they are other origins and even another site. The allowed page registers, logs in and
reads /me with a bearer token; a page on an origin not in CORS_ORIGINS gets nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from audiotricks import create_app
from tests import services
from tests.conftest import PASSWORD, dispose_engines, make_config

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BINARY", "/usr/bin/chromedriver")

PAGE = (
    b"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>frontend</title></head>"
    b"<body></body></html>"
)

# Runs in the page: register, log in, read /me; every step reports what the page could see.
FLOW = """
const [api, done] = [arguments[0], arguments[arguments.length - 1]];
const email = arguments[1], username = arguments[2], password = arguments[3];
async function call(method, path, body, token) {
  const headers = {};
  if (body) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = "Bearer " + token;
  try {
    const r = await fetch(api + path, {method, headers, body: body && JSON.stringify(body)});
    return {status: r.status, body: await r.json(),
            requestId: r.headers.get("X-Request-ID"), limit: r.headers.get("X-RateLimit-Limit")};
  } catch (e) {
    return {error: e.name + ": " + e.message};
  }
}
(async () => {
  const register = await call("POST", "/api/v1/auth/register", {email, username, password});
  const login = await call("POST", "/api/v1/auth/login", {email, password});
  const token = login.body && login.body.data ? login.body.data.token : "no-token";
  const me = await call("GET", "/api/v1/auth/me", null, token);
  done({register, login, me});
})();
"""


def _serve_page(port: int) -> ThreadingHTTPServer:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def origins() -> Iterator[dict[str, str]]:
    """Two static page servers: one origin the API allows, one it does not."""
    allowed_port, other_port = services.free_port(), services.free_port()
    servers = [_serve_page(allowed_port), _serve_page(other_port)]
    yield {"allowed": f"http://localhost:{allowed_port}", "other": f"http://localhost:{other_port}"}
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def api_url(origins: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served for real by Werkzeug on a free port, SQLite in a temporary folder."""
    path = tmp_path_factory.mktemp("browser") / "api.db"
    config = make_config(
        f"sqlite:///{path}",
        cors_origins=(origins["allowed"],),
        ratelimit_enabled=True,
        ratelimit_storage_uri="memory://",
    )
    with served(create_app(config)) as url:
        yield url


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` migrated and served for real by Werkzeug on a free port; its URL."""
    with app.app_context():
        upgrade()
    port = services.free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        dispose_engines(app)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through ChromeDriver; both given by path, so nothing is downloaded."""
    if not (os.path.isfile(CHROMIUM) and os.path.isfile(CHROMEDRIVER)):
        services.unavailable("no Chromium/ChromeDriver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="audiotricks-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def run_flow(browser: Any, page: str, api_url: str, email: str, username: str) -> dict[str, Any]:
    browser.get(page + "/")
    result: dict[str, Any] = browser.execute_async_script(FLOW, api_url, email, username, PASSWORD)
    return result


@pytest.mark.browser
def test_the_allowed_origin_registers_logs_in_and_reads_me(
    browser: Any, origins: dict[str, str], api_url: str
) -> None:
    result = run_flow(browser, origins["allowed"], api_url, "carol@example.com", "carol")
    assert result["register"]["status"] == 201, result
    assert result["login"]["status"] == 200, result
    assert result["login"]["body"]["data"]["tokenType"] == "Bearer"
    assert result["me"]["status"] == 200, result
    assert result["me"]["body"]["data"]["user"]["username"] == "carol"
    # Exposed headers are readable by the page.
    assert result["me"]["requestId"]
    assert result["login"]["limit"] is not None


@pytest.mark.browser
def test_another_origin_gets_nothing(browser: Any, origins: dict[str, str], api_url: str) -> None:
    result = run_flow(browser, origins["other"], api_url, "dave@example.com", "dave")
    for step in ("register", "login", "me"):
        assert result[step].get("error", "").startswith("TypeError"), result


@pytest.mark.browser
def test_the_docs_page_renders_under_its_csp(browser: Any, api_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    browser.get_log("browser")  # drop earlier pages' messages
    browser.get(api_url + "/api/v1/docs")
    WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path"))
    )
    title = browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    assert "AudioTricks API" in title
    violations = [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
    assert violations == []


def test_the_real_server_does_not_name_its_software(api_url: str) -> None:
    with urllib.request.urlopen(api_url + "/health", timeout=10) as response:
        assert json.load(response) == {"status": "ok"}
        assert response.headers["Server"] == "audiotricks"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
