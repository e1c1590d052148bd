"""The mails themselves: two parts, escaped HTML, and headers no address or name can extend."""

from __future__ import annotations

import pytest

from audiotricks.config import Config
from audiotricks.mail import messages, transport
from audiotricks.mail.settings import parse_mail_url

SENDER = "AudioTricks <no-reply@example.com>"
LINK = "https://app.example.com/reset-password#token=abc_DEF-123"
INJECTIONS = [
    "alice@example.com\r\nBcc: mallory@evil.example",
    "alice@example.com\nBcc: mallory@evil.example",
    "alice@example.com\rBcc: mallory@evil.example",
    "alice@example.com\r\n\r\nInjected body",
]


def test_a_mail_has_a_text_and_an_html_part_with_the_link():
    message = messages.password_reset("alice@example.com", "alice", LINK, 1800).message(SENDER)

    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert LINK in text.splitlines()
    assert f'href="{LINK}"' in html
    assert "30 minutes" in text
    assert message["To"] == "alice@example.com"
    assert message["From"] == SENDER
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@example.com>")


def test_html_is_escaped():
    mail = messages.Mail(
        to="a@example.com", subject="<b>", paragraphs=("<script>x</script> & co", "second"),
        links=('https://x.example/"><img src=y>',),
    )
    html = mail.html()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert '"><img' not in html


@pytest.mark.parametrize("address", INJECTIONS)
def test_a_cr_or_lf_in_the_address_cannot_add_a_header_or_recipient(address):
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        messages.verify_address(address, "alice", LINK).message(SENDER)


@pytest.mark.parametrize("username", ["alice\r\nBcc: mallory@evil.example", "al\nice"])
def test_a_cr_or_lf_in_the_username_stays_in_the_body(username):
    message = messages.password_changed("alice@example.com", username).message(SENDER)

    assert sorted(message.keys()) == sorted(
        ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version",
         "Content-Type"]
    )
    assert "mallory" not in message["To"]
    assert "Bcc" not in message


@pytest.mark.parametrize("address", INJECTIONS)
def test_an_injected_address_reaches_no_server(address, smtp_port, start_smtp):
    server = start_smtp()
    config = Config(mail_url=f"smtp://127.0.0.1:{smtp_port}?starttls=off", mail_from=SENDER)

    with pytest.raises(transport.MailUnsendable):
        transport.send(messages.email_changed(address, "alice"), config)
    transport.send(messages.email_changed("alice@example.com", "alice"), config)

    [received] = server.handler.wait_for(1)
    assert received.rcpt_tos == ["alice@example.com"]
    assert "mallory" not in received.message.as_string()


def test_the_envelope_has_only_the_one_recipient(smtp_port, start_smtp):
    server = start_smtp()
    config = Config(mail_url=f"smtp://127.0.0.1:{smtp_port}?starttls=off", mail_from=SENDER)

    transport.send(messages.password_changed("alice@example.com", "alice"), config)

    [received] = server.handler.wait_for(1)
    assert received.rcpt_tos == ["alice@example.com"]
    assert received.mail_from == "no-reply@example.com"


def test_a_refusal_names_the_code_not_the_servers_text(smtp_port, start_smtp):
    start_smtp().handler.refuse["RCPT"] = "550 5.1.1 <alice@example.com> secret-detail"
    config = Config(mail_url=f"smtp://127.0.0.1:{smtp_port}?starttls=off", mail_from=SENDER)

    with pytest.raises(transport.MailNotSent) as caught:
        transport.send(messages.password_changed("alice@example.com", "alice"), config)

    assert caught.value.reason == "recipient refused (550)"
    assert "secret-detail" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 587, "required", "", "")),
        ("smtps://mail.example.com", ("mail.example.com", 465, "implicit", "", "")),
        ("smtp://u%40x:p%3Aw@mail.example.com:2525", ("mail.example.com", 2525, "required", "u@x", "p:w")),
        ("smtp://relay:25?starttls=optional", ("relay", 25, "optional", "", "")),
        ("smtp://relay:25?starttls=off", ("relay", 25, "off", "", "")),
    ],
)
def test_mail_urls(url, expected):
    server = parse_mail_url(url)
    assert (server.host, server.port, server.tls, server.username, server.password) == expected
    assert server.password not in repr(server) or not server.password


def test_the_smtp_password_is_redacted_from_any_log_line():
    from audiotricks.logs import RedactingFilter, secrets_of

    config = Config(mail_url="smtps://bob:pa%24%24-w0rd-long@mail.example.com")
    redactor = RedactingFilter(secrets_of(config))

    assert "pa$$-w0rd-long" not in redactor.redact_text("login failed for pa$$-w0rd-long")
    assert "pa%24%24-w0rd-long" not in redactor.redact_text("url pa%24%24-w0rd-long")


def test_an_internationalised_domain_travels_in_its_ascii_form(smtp_port, start_smtp):
    server = start_smtp()
    config = Config(mail_url=f"smtp://127.0.0.1:{smtp_port}?starttls=off", mail_from=SENDER)

    transport.send(messages.password_changed("a@b\u00fccher.de", "alice"), config)

    [received] = server.handler.wait_for(1)
    assert received.rcpt_tos == ["a@xn--bcher-kva.de"]
    assert received.message["To"] == "a@xn--bcher-kva.de"
