"""Password reset, address verification and change of address through the API, on both engines.

The queue is the app's real one; its messages are run here, in-process, as a worker runs them
(tests/mail/test_smtp.py runs real workers against a real SMTP server). With no MAIL_URL the
mails go to the development mailer, whose log records these tests read.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from audiotricks.extensions import db
from audiotricks.jobs.queue import QUEUE_KEY
from audiotricks.mail.outbox import send_later
from audiotricks.models import EmailToken, User, utcnow
from tests.conftest import PASSWORD
from tests.helpers import execute, scalar, user_id
from tests.mail.conftest import FRONTEND, deliver_queued, token_of

API = "/api/v1/auth"
NEW_PASSWORD = "Brand-New-Secret-7"
FORGOT_BODY = {"message": "If an account exists for this email, a reset link has been sent", "data": {}}
BAD_TOKEN = {
    "error": "Validation failed",
    "errors": [{"field": "token", "message": "Invalid or expired token"}],
}


def forgot(client, email="alice@example.com", **kwargs):
    return client.post(f"{API}/password/forgot", json={"email": email}, **kwargs)


def reset(client, token, password=NEW_PASSWORD):
    return client.post(f"{API}/password/reset", json={"token": token, "newPassword": password})


def login_status(client, password, email="alice@example.com"):
    return client.post(f"{API}/login", json={"email": email, "password": password}).status_code


def reset_link(app, client, mail_log, email="alice@example.com"):
    """Ask for a reset and return the link of the mail that arrives."""
    assert forgot(client, email).status_code == 202
    deliver_queued(app)
    return mail_log.to(email)[-1].links[0]


@pytest.fixture
def alice(auth, app, mail_log):
    token = auth.signup()
    deliver_queued(app)  # the verification mail of the registration
    mail_log.mails.clear()
    return token


# --- forgot ---


def test_forgot_answers_the_same_for_known_and_unknown_addresses(app, client, alice, mail_log):
    known = forgot(client, "alice@example.com")
    unknown = forgot(client, "nobody@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json() == FORGOT_BODY
    assert deliver_queued(app) == 2  # both enqueued: the request cannot tell them apart
    [mail] = mail_log.mails
    assert mail.to == "alice@example.com"
    assert mail.subject == "Reset your AudioTricks password"
    assert mail.links[0].startswith(f"{FRONTEND}/reset-password#token=")


def test_the_token_has_256_bits_and_only_its_sha256_is_stored(app, client, alice, mail_log):
    token = token_of(reset_link(app, client, mail_log))

    assert len(token) >= 43  # 32 random bytes in URL-safe base64
    with app.app_context():
        row = db.session.scalar(select(EmailToken).where(EmailToken.purpose == "reset"))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        stored = [str(getattr(row, c.key)) for c in EmailToken.__table__.columns]
        assert not any(token in value for value in stored)
        ttl = row.expires_at - row.created_at
    assert ttl == timedelta(seconds=1800)


def test_forgot_for_a_deactivated_account_sends_nothing(app, client, alice, mail_log):
    execute(app, update(User).values(is_active=False))
    assert forgot(client).status_code == 202
    deliver_queued(app)
    assert mail_log.mails == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"email": "alice@example.com", "extra": 1}, "extra"),
        ({"email": 7}, "email"),
    ],
)
def test_forgot_refuses_bad_bodies(app, client, body, field):
    response = client.post(f"{API}/password/forgot", json=body)

    assert response.status_code == 400
    assert [e["field"] for e in response.get_json()["errors"]] == [field]
    assert deliver_queued(app) == 0


# --- reset ---


def test_the_mailed_link_resets_the_password_and_ends_every_session(
    app, client, auth, alice, mail_log
):
    token = token_of(reset_link(app, client, mail_log))
    response = reset(client, token)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Password reset", "data": {}}
    assert client.get(f"{API}/me", headers=auth.headers(alice)).status_code == 401
    assert login_status(client, PASSWORD) == 401
    assert login_status(client, NEW_PASSWORD) == 200
    # The token came back from the mailbox: the address is verified; a notice is mailed.
    me = client.get(f"{API}/me", headers=auth.headers(auth.login(password=NEW_PASSWORD)))
    assert me.get_json()["data"]["user"]["emailVerified"] is True
    deliver_queued(app)
    assert mail_log.mails[-1].subject == "Your AudioTricks password was changed"


def test_a_replayed_token_is_refused(app, client, alice, mail_log):
    token = token_of(reset_link(app, client, mail_log))
    assert reset(client, token).status_code == 200

    replay = reset(client, token, "Another-Secret-8")

    assert replay.status_code == 400
    assert replay.get_json() == BAD_TOKEN
    assert login_status(client, NEW_PASSWORD) == 200


@pytest.mark.parametrize(
    "alter",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t[:-2],
        lambda t: t + "x",
        lambda t: t.upper(),
        lambda t: hashlib.sha256(t.encode()).hexdigest(),  # the stored hash is not a token
        lambda t: "x" * 128,
    ],
)
def test_an_altered_token_is_refused(app, client, alice, mail_log, alter):
    token = token_of(reset_link(app, client, mail_log))

    response = reset(client, alter(token))

    assert response.status_code == 400
    assert response.get_json() == BAD_TOKEN
    assert reset(client, token).status_code == 200  # the real one still works


def test_an_expired_token_is_refused(app, client, alice, mail_log):
    token = token_of(reset_link(app, client, mail_log))
    execute(app, update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))

    assert reset(client, token).get_json() == BAD_TOKEN
    assert login_status(client, PASSWORD) == 200


def test_a_newer_token_supersedes_the_older(app, client, alice, mail_log):
    first = token_of(reset_link(app, client, mail_log))
    second = token_of(reset_link(app, client, mail_log))

    assert reset(client, first).get_json() == BAD_TOKEN
    assert reset(client, second).status_code == 200


def test_a_password_change_kills_the_reset_token(app, client, auth, alice, mail_log):
    token = token_of(reset_link(app, client, mail_log))
    changed = client.put(
        f"{API}/password",
        json={"currentPassword": PASSWORD, "newPassword": "Changed-Meanwhile-5"},
        headers=auth.headers(alice),
    )
    assert changed.status_code == 200

    assert reset(client, token).get_json() == BAD_TOKEN
    assert login_status(client, "Changed-Meanwhile-5") == 200
    deliver_queued(app)
    assert mail_log.mails[-1].subject == "Your AudioTricks password was changed"


def test_a_change_of_address_kills_the_tokens_mailed_to_the_old_one(app, client, alice, mail_log):
    token = token_of(reset_link(app, client, mail_log))
    execute(app, update(User).values(email="alice@new.example.com"))

    assert reset(client, token).get_json() == BAD_TOKEN


@pytest.mark.parametrize(
    ("password", "fragment"),
    [("short1A", "8"), ("alllowercase1", "uppercase"), ("Password123", "common")],
)
def test_reset_applies_the_register_rules_and_keeps_the_token(
    app, client, alice, mail_log, password, fragment
):
    token = token_of(reset_link(app, client, mail_log))

    response = reset(client, token, password)

    assert response.status_code == 400
    [error] = response.get_json()["errors"]
    assert error["field"] == "newPassword"
    assert fragment in error["message"].lower() or fragment in error["message"]
    assert reset(client, token).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"token": "x"}, {"newPassword": NEW_PASSWORD}, {"token": "", "newPassword": NEW_PASSWORD},
     {"token": "t" * 129, "newPassword": NEW_PASSWORD}, {"token": 5, "newPassword": NEW_PASSWORD},
     {"token": "x", "newPassword": NEW_PASSWORD, "email": "a@b.c"}],
)
def test_reset_refuses_bad_bodies(client, body):
    response = client.post(f"{API}/password/reset", json=body)

    assert response.status_code == 400
    assert response.get_json()["error"] == "Validation failed"


def test_two_concurrent_resets_with_one_token_exactly_one_wins(app, client, alice, mail_log):
    token = token_of(reset_link(app, client, mail_log))
    racers = 4
    barrier = threading.Barrier(racers)
    passwords = [f"Racing-Secret-{i}x" for i in range(racers)]

    def attempt(password):
        racer = app.test_client()
        barrier.wait()
        return racer.post(
            f"{API}/password/reset", json={"token": token, "newPassword": password}
        ).status_code

    with ThreadPoolExecutor(racers) as pool:
        statuses = list(pool.map(attempt, passwords))

    assert sorted(statuses) == [200] + [400] * (racers - 1)
    winner = passwords[statuses.index(200)]
    assert [login_status(client, p) for p in passwords].count(200) == 1
    assert login_status(client, winner) == 200


# --- timing ---


def test_forgot_takes_about_the_same_time_for_known_and_unknown_addresses(app, client, alice):
    """Both do the same work (count the budget, enqueue); compared on medians, not tightly.

    The two kinds alternate, so a busy moment of the machine slows both alike.
    """
    samples = {"alice@example.com": [], "nobody@example.com": []}
    forgot(client, "warm-up@example.com")
    for _ in range(15):
        for email, times in samples.items():
            start = time.perf_counter()
            forgot(client, email)
            times.append(time.perf_counter() - start)
    known, unknown = (sorted(times)[7] for times in samples.values())

    assert unknown < known * 2
    assert known < unknown * 2


# --- verification ---


def test_registration_mails_a_verification_link_that_verifies(app, client, auth, mail_log):
    token = auth.signup()
    headers = auth.headers(token)
    me = client.get(f"{API}/me", headers=headers).get_json()["data"]["user"]
    assert me["emailVerified"] is False

    deliver_queued(app)
    [mail] = mail_log.to("alice@example.com")
    assert mail.subject == "Confirm your email address for AudioTricks"
    assert mail.links[0].startswith(f"{FRONTEND}/verify-email#token=")
    with app.app_context():
        row = db.session.scalar(select(EmailToken))
        assert row.expires_at - row.created_at == timedelta(hours=48)

    response = client.post(f"{API}/email/verify", json={"token": token_of(mail.links[0])})

    assert response.status_code == 200
    assert response.get_json() == {"message": "Email verified", "data": {}}
    me = client.get(f"{API}/me", headers=headers).get_json()["data"]["user"]
    assert me["emailVerified"] is True
    replay = client.post(f"{API}/email/verify", json={"token": token_of(mail.links[0])})
    assert replay.get_json() == BAD_TOKEN


def test_a_reset_token_does_not_verify_and_a_verify_token_does_not_reset(
    app, client, auth, mail_log
):
    auth.signup()
    deliver_queued(app)
    verify_token = token_of(mail_log.mails[-1].links[0])
    reset_token = token_of(reset_link(app, client, mail_log))

    assert client.post(f"{API}/email/verify", json={"token": reset_token}).get_json() == BAD_TOKEN
    assert reset(client, verify_token).get_json() == BAD_TOKEN


def test_resend_mails_a_new_link_and_kills_the_old_one(app, client, auth, mail_log):
    headers = auth.headers(auth.signup())
    deliver_queued(app)
    old = token_of(mail_log.mails[-1].links[0])

    response = client.post(f"{API}/email/verify/resend", headers=headers)

    assert response.status_code == 202
    deliver_queued(app)
    new = token_of(mail_log.mails[-1].links[0])
    assert new != old
    assert client.post(f"{API}/email/verify", json={"token": old}).get_json() == BAD_TOKEN
    assert client.post(f"{API}/email/verify", json={"token": new}).status_code == 200
    again = client.post(f"{API}/email/verify/resend", headers=headers)
    assert again.status_code == 409
    assert again.get_json() == {"error": "Email already verified"}


def test_resend_needs_a_session(client):
    assert client.post(f"{API}/email/verify/resend").status_code == 401


# --- REQUIRE_VERIFIED_EMAIL ---


@pytest.mark.parametrize("config_overrides", [{"require_verified_email": True}])
def test_unverified_accounts_cannot_store_keys_or_start_jobs(app, client, auth, mail_log):
    headers = auth.headers(auth.signup())
    key = client.put(
        "/api/v1/settings/api-keys/openai", json={"apiKey": "sk-" + "a" * 48}, headers=headers
    )
    job = client.post("/api/v1/jobs/transcriptions", data={}, headers=headers)
    speech = client.post(
        "/api/v1/jobs/speech",
        json={"historyId": str(uuid.uuid4()), "voiceId": "v1", "source": "summary"},
        headers=headers,
    )
    summary = client.post(
        "/api/v1/jobs/summaries", json={"historyId": str(uuid.uuid4())}, headers=headers
    )

    for refused in (key, job, speech, summary):
        assert refused.status_code == 403
        assert refused.get_json() == {"error": "Email not verified"}
    assert client.get("/api/v1/settings", headers=headers).status_code == 200  # reading is fine

    deliver_queued(app)
    token = token_of(mail_log.mails[-1].links[0])
    assert client.post(f"{API}/email/verify", json={"token": token}).status_code == 200
    key = client.put(
        "/api/v1/settings/api-keys/openai", json={"apiKey": "sk-" + "a" * 48}, headers=headers
    )
    assert key.status_code == 200


def test_without_the_setting_unverified_accounts_store_keys(client, auth):
    headers = auth.headers(auth.signup())
    key = client.put(
        "/api/v1/settings/api-keys/openai", json={"apiKey": "sk-" + "a" * 48}, headers=headers
    )
    assert key.status_code == 200


# --- change of address ---


def change_email(client, headers, new_email="alice@new.example.com", password=PASSWORD):
    return client.put(
        f"{API}/email", json={"password": password, "newEmail": new_email}, headers=headers
    )


def test_the_address_changes_when_the_new_one_confirms(app, client, auth, alice, mail_log):
    headers = auth.headers(alice)
    response = change_email(client, headers, "  Alice@New.Example.com ")

    assert response.status_code == 202
    assert scalar(app, select(User.email)) == "alice@example.com"  # not yet
    deliver_queued(app)
    [mail] = mail_log.to("alice@new.example.com")
    assert mail.subject == "Confirm your new email address for AudioTricks"

    confirmed = client.post(f"{API}/email/verify", json={"token": token_of(mail.links[0])})

    assert confirmed.status_code == 200
    assert confirmed.get_json() == {"message": "Email changed", "data": {}}
    user = client.get(f"{API}/me", headers=headers).get_json()["data"]["user"]
    assert (user["email"], user["emailVerified"]) == ("alice@new.example.com", True)
    assert login_status(client, PASSWORD, "alice@new.example.com") == 200
    assert login_status(client, PASSWORD, "alice@example.com") == 401
    deliver_queued(app)
    [notice] = mail_log.to("alice@example.com")
    assert notice.subject == "Your AudioTricks email address was changed"
    assert notice.links == []


def test_an_address_taken_meanwhile_is_a_409_and_nothing_changes(
    app, client, auth, alice, mail_log
):
    assert change_email(client, auth.headers(alice)).status_code == 202
    deliver_queued(app)
    token = token_of(mail_log.to("alice@new.example.com")[-1].links[0])
    assert auth.register("alice@new.example.com", "mallory").status_code == 201

    response = client.post(f"{API}/email/verify", json={"token": token})

    assert response.status_code == 409
    assert response.get_json() == {"error": "Email already registered"}
    assert scalar(app, select(User.email).where(User.username == "alice")) == "alice@example.com"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"password": "Wrong-Pass-99", "newEmail": "a@new.example.com"}, 400, "password"),
        ({"password": PASSWORD, "newEmail": "ALICE@example.com"}, 400, "newEmail"),
        ({"password": PASSWORD, "newEmail": "bob@example.com"}, 409, None),
        ({"password": PASSWORD, "newEmail": "nope"}, 400, "newEmail"),
        ({"password": PASSWORD}, 400, "newEmail"),
        ({"newEmail": "a@new.example.com"}, 400, "password"),
    ],
)
def test_change_of_address_refusals(app, client, auth, alice, mail_log, body, status, field):
    auth.register("bob@example.com", "bob")
    deliver_queued(app)
    mail_log.mails.clear()

    response = client.put(f"{API}/email", json=body, headers=auth.headers(alice))

    assert response.status_code == status
    if field:
        assert [e["field"] for e in response.get_json()["errors"]] == [field]
    else:
        assert response.get_json() == {"error": "Email already registered"}
    deliver_queued(app)
    assert mail_log.mails == []


@pytest.mark.parametrize(
    "config_overrides",
    [{"ratelimit_enabled": True, "ratelimit_login_account": "2 per 15 minutes"}],
)
def test_wrong_passwords_on_change_of_address_spend_the_password_budget(client, auth, alice):
    headers = auth.headers(alice)
    statuses = [
        change_email(client, headers, password="Wrong-Pass-99").status_code for _ in range(3)
    ]
    assert statuses == [400, 400, 429]
    assert change_email(client, headers).status_code == 429  # even the right password


# --- rate limits ---


@pytest.mark.parametrize(
    "config_overrides",
    [{"ratelimit_enabled": True, "ratelimit_forgot": "2 per minute", "ratelimit_mail": "50 per hour"}],
)
def test_forgot_is_limited_per_client_ip(client):
    ip = {"environ_base": {"REMOTE_ADDR": "192.0.2.10"}}
    statuses = [forgot(client, f"u{i}@example.com", **ip).status_code for i in range(3)]

    assert statuses == [202, 202, 429]
    refused = forgot(client, "u9@example.com", **ip)
    assert refused.get_json() == {"error": "Too many requests"}
    assert "Retry-After" in refused.headers
    other = forgot(client, "u9@example.com", environ_base={"REMOTE_ADDR": "192.0.2.11"})
    assert other.status_code == 202


@pytest.mark.parametrize(
    "config_overrides",
    [{"ratelimit_enabled": True, "ratelimit_forgot": "100 per minute", "ratelimit_mail": "2 per hour"}],
)
@pytest.mark.parametrize("address", ["alice@example.com", "nobody@example.com"])
def test_forgot_is_limited_per_address_known_or_not(app, client, alice, mail_log, address):
    statuses = [
        forgot(client, address, environ_base={"REMOTE_ADDR": f"192.0.2.{i}"}).status_code
        for i in range(3)
    ]
    spelled = forgot(client, address.upper(), environ_base={"REMOTE_ADDR": "192.0.2.99"})

    assert statuses == [202, 202, 429]
    assert spelled.status_code == 429  # every spelling of one address shares the budget
    assert forgot(client, "someone-else@example.com").status_code == 202


@pytest.mark.parametrize(
    "config_overrides", [{"ratelimit_enabled": True, "ratelimit_mail": "1 per hour"}]
)
def test_resend_is_limited_per_account(client, auth):
    headers = auth.headers(auth.signup())
    assert client.post(f"{API}/email/verify/resend", headers=headers).status_code == 202
    assert client.post(f"{API}/email/verify/resend", headers=headers).status_code == 429


# --- logs ---


def test_no_token_reaches_a_log_line_but_the_development_mailers(
    app, client, auth, alice, mail_log, caplog
):
    with caplog.at_level("DEBUG"):
        token = token_of(reset_link(app, client, mail_log))
        reset(client, token)
        reset(client, token)  # refused: the refusal is logged without it
        deliver_queued(app)

    for record in caplog.records:
        if getattr(record, "event", None) == "mail_logged":
            continue
        assert token not in record.getMessage()
        assert all(token not in str(value) for value in vars(record).values())


# --- the queue unreachable ---


@pytest.mark.parametrize("config_overrides", [{"queue_url": "redis://127.0.0.1:1/0"}])
def test_a_queue_outage_is_a_503_for_mail_requests_and_nothing_for_the_rest(client, auth):
    """The mail is the point of forgot, resend and change of address: 503, nothing changed. A
    registration or password change succeeds without its mail (logged); resend sends it later."""
    assert auth.register().status_code == 201
    headers = auth.headers(auth.login())

    refused = forgot(client)
    resend = client.post(f"{API}/email/verify/resend", headers=headers)

    assert refused.status_code == resend.status_code == 503
    assert refused.get_json() == {"error": "Service temporarily unavailable"}
    changed = client.put(
        f"{API}/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers=headers,
    )
    assert changed.status_code == 200


def test_a_mail_that_cannot_be_built_is_dropped_not_retried(app, alice, mail_log, caplog):
    """Addresses reach the queue validated; one that would add a header is refused all the same."""
    with app.app_context():
        send_later(
            "email_changed",
            user_id=user_id(alice),
            email="alice@example.com\r\nBcc: mallory@evil.example",
        )

    with caplog.at_level("INFO"):
        assert deliver_queued(app) == 1

    assert mail_log.mails == []
    assert [r.event for r in caplog.records if r.name == "audiotricks.mail.tasks"] == [
        "mail_dropped"
    ]
    assert app.extensions[QUEUE_KEY].huey.scheduled_count() == 0


def test_a_waiting_mail_does_not_hide_a_lost_job_message(app, client, auth):
    """The sweep counts "run job" messages only: the registration's mail is not one."""
    from audiotricks.jobs.queue import current_queue

    auth.signup()  # its verification mail waits on the queue
    with app.app_context():
        queue = current_queue()
        assert queue.huey.pending_count() == 1
        assert queue.pending() == 0
