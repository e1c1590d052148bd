"""The whole flow through real parts: the API enqueues, a real ``flask worker`` process mints the
token and sends the mail over SMTP to a real server on loopback (aiosmtpd), and the link read
from the received mail resets the password. Outages and refusals delay the mail, never the
request; TLS (STARTTLS and implicit) is checked against a certificate made by the test."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from tests import services
from tests.mail.conftest import FRONTEND, Handler, token_of

pytestmark = pytest.mark.slow

API = "/api/v1/auth"
NEW_PASSWORD = "Mailed-Link-Secret-3"
# Retries come after 2, 4, 8 … seconds: a mail held back this long has been tried several times.
QUICK = 5.0


@pytest.fixture
def config_overrides(smtp_port, certificate, tmp_path, request):
    """How the deployment reaches its mail server: ``plain`` (the default), ``dev`` (no MAIL_URL),
    ``starttls`` / ``implicit`` (a login, the test's CA trusted), ``untrusted`` (no CA given)."""
    kind = getattr(request, "param", "plain")
    queue = {"queue_url": f"sqlite:///{tmp_path}/queue.db"}
    if kind == "redis":  # the queue (and its schedule of retries) on Redis
        queue = redis_queue(request)
    urls = {
        "plain": f"smtp://127.0.0.1:{smtp_port}?starttls=off",
        "redis": f"smtp://127.0.0.1:{smtp_port}?starttls=off",
        "dev": "",
        "starttls": f"smtp://bob:s3cr%40t-pw@127.0.0.1:{smtp_port}",
        "implicit": f"smtps://bob:s3cr%40t-pw@127.0.0.1:{smtp_port}",
        "untrusted": f"smtp://127.0.0.1:{smtp_port}",
    }
    return {
        "frontend_url": FRONTEND,
        "mail_from": "AudioTricks <no-reply@example.com>",
        "mail_url": urls[kind],
        "mail_ca_file": str(certificate[0]) if kind in ("starttls", "implicit") else "",
        **queue,
    }


def redis_queue(request):
    url = request.getfixturevalue("redis_url")
    if url is None:
        services.unavailable("no Redis (set TEST_REDIS_URL or install redis-server)")
    name = f"test{uuid.uuid4().hex[:12]}"  # Redis is shared with other runs

    def remove_keys():
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"huey.*.{name}*"):
            client.delete(key)
        client.close()

    request.addfinalizer(remove_keys)
    return {"queue_url": url, "queue_name": name}


def forgot(client, email="alice@example.com"):
    start = time.perf_counter()
    response = client.post(f"{API}/password/forgot", json={"email": email})
    return response, time.perf_counter() - start


def wait_for_log(workers, text, timeout=30):
    deadline = time.monotonic() + timeout
    while text not in workers.logs():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the worker log:\n{workers.logs()}")
        time.sleep(0.1)


def test_the_link_in_the_received_mail_resets_the_password(
    app, client, auth, start_smtp, mail_workers
):
    server = start_smtp()
    old_token = auth.signup()
    mail_workers.start()
    verification = server.handler.wait_for(1)[0]
    assert verification.message["Subject"] == "Confirm your email address for AudioTricks"

    response, _ = forgot(client)
    assert response.status_code == 202
    mail = server.handler.wait_for(2)[1]

    assert mail.mail_from == "no-reply@example.com"
    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail.message["To"] == "alice@example.com"
    assert mail.message["From"] == "AudioTricks <no-reply@example.com>"
    assert mail.message.get_content_type() == "multipart/alternative"
    [link] = [line for line in mail.text().splitlines() if "#token=" in line]
    assert link.startswith(f"{FRONTEND}/reset-password#token=")
    assert f'href="{link}"' in mail.html()
    reset = client.post(
        f"{API}/password/reset", json={"token": token_of(link), "newPassword": NEW_PASSWORD}
    )
    assert reset.status_code == 200
    assert client.get(f"{API}/me", headers=auth.headers(old_token)).status_code == 401
    assert auth.login(password=NEW_PASSWORD)
    notice = server.handler.wait_for(3)[2]
    assert notice.message["Subject"] == "Your AudioTricks password was changed"
    assert token_of(link) not in mail_workers.logs()  # only the mail carried it


def test_nothing_is_sent_for_an_unknown_address(app, client, auth, start_smtp, mail_workers):
    server = start_smtp()
    mail_workers.start()
    response, _ = forgot(client, "nobody@example.com")
    assert response.status_code == 202
    wait_for_log(mail_workers, '"mail_skipped"')
    assert server.handler.received == []


@pytest.mark.parametrize(
    ("config_overrides", "refusal"),
    [
        ("plain", {"RCPT": "451 4.3.0 Try again later"}),
        ("plain", {"RCPT": "550 5.7.1 Relaying temporarily denied"}),
        ("plain", {"DATA": "452 4.3.1 Insufficient system storage"}),
        ("plain", {"DATA": "554 5.3.0 Not now"}),
        ("redis", {"RCPT": "451 4.3.0 Try again later"}),  # the retry schedule on Redis
    ],
    indirect=["config_overrides"],
)
def test_a_refusing_server_delays_the_mail_not_the_request(
    app, client, auth, start_smtp, mail_workers, refusal
):
    server = start_smtp(handler=Handler(refuse=dict(refusal)))
    auth.register()
    mail_workers.start()

    response, took = forgot(client)

    assert response.status_code == 202
    assert took < 1.0  # the request only enqueued
    wait_for_log(mail_workers, '"mail_retry"')
    assert server.handler.refused >= 1
    server.handler.refuse.clear()
    mails = server.handler.wait_for(2, timeout=40)  # the verification and the reset
    subjects = sorted(m.message["Subject"] for m in mails)
    assert subjects == [
        "Confirm your email address for AudioTricks",
        "Reset your AudioTricks password",
    ]
    [reset_mail] = [m for m in mails if "Reset" in m.message["Subject"]]
    link = next(line for line in reset_mail.text().splitlines() if "#token=" in line)
    reset = client.post(
        f"{API}/password/reset", json={"token": token_of(link), "newPassword": NEW_PASSWORD}
    )
    assert reset.status_code == 200


def test_a_server_that_is_down_gets_the_mail_when_it_comes_back(
    app, client, auth, start_smtp, mail_workers
):
    auth.register()
    mail_workers.start()

    response, took = forgot(client)

    assert response.status_code == 202
    assert took < 1.0
    wait_for_log(mail_workers, "ConnectionRefusedError")
    server = start_smtp()  # the same port, now listening
    mails = server.handler.wait_for(2, timeout=40)
    assert {m.rcpt_tos[0] for m in mails} == {"alice@example.com"}


@pytest.mark.parametrize("config_overrides", ["dev"], indirect=True)
def test_in_development_the_mail_is_in_the_worker_log(app, client, auth, mail_workers):
    """What a newcomer does on ``make run``: no MAIL_URL, the link is in the log."""
    auth.register()
    mail_workers.start()
    forgot(client)
    wait_for_log(mail_workers, "reset-password#token=")
    log = mail_workers.logs()
    start = log.index("reset-password#token=") + len("reset-password#token=")
    token = log[start:].split('"')[0].split("\\n")[0]

    reset = client.post(f"{API}/password/reset", json={"token": token, "newPassword": NEW_PASSWORD})
    assert reset.status_code == 200


# --- TLS and credentials ---


@pytest.mark.parametrize(
    ("config_overrides", "tls"),
    [("starttls", "starttls"), ("implicit", "implicit")],
    indirect=["config_overrides"],
)
def test_mail_goes_over_tls_with_a_login_and_the_password_is_never_logged(
    app, client, auth, start_smtp, certificate, mail_workers, tls
):
    server = start_smtp(tls=tls, certificate=certificate, login=("bob", "s3cr@t-pw"))
    auth.register()
    mail_workers.start()

    mails = server.handler.wait_for(1)

    assert mails[0].rcpt_tos == ["alice@example.com"]
    assert server.logins == ["bob"]
    assert "s3cr" not in mail_workers.logs()


@pytest.mark.parametrize(("config_overrides"), ["starttls"], indirect=True)
def test_starttls_required_never_sends_in_clear(app, client, auth, start_smtp, mail_workers):
    """A server (or a man in the middle) that does not offer STARTTLS gets nothing."""
    server = start_smtp()  # plain SMTP only
    auth.register()
    mail_workers.start()

    wait_for_log(mail_workers, "does not offer STARTTLS")
    assert server.handler.received == []
    assert "s3cr" not in mail_workers.logs()


@pytest.mark.parametrize(("config_overrides"), ["untrusted"], indirect=True)
def test_a_certificate_that_is_not_trusted_is_refused(
    app, client, auth, start_smtp, certificate, mail_workers
):
    server = start_smtp(tls="starttls", certificate=certificate)
    auth.register()
    mail_workers.start()

    wait_for_log(mail_workers, "SSLCertVerificationError")
    assert server.handler.received == []
