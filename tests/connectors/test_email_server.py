"""Email connector against a real Dovecot and real SMTP servers started by the tests (tests/servers/dovecot.py).

People write from the outside world through the mailbox's incoming SMTP server (`mail_server.deliver`);
Communa reads over IMAP and answers over SMTP through the connector, and what it ingests is checked in the
database, what it sends in the recipients' own mailboxes.
"""

from __future__ import annotations

import socket
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from communa.accounts.models import Workspace
from communa.connectors.base import ReplyTarget
from communa.connectors.email.connector import EmailConnector
from communa.connectors.email.imap import ImapSession
from communa.connectors.email.schemas import EmailConfig
from communa.connectors.models import Source, SourceStatus
from communa.connectors.services import create_source
from communa.core.http import PermanentError, TransientError
from communa.ingest.models import RawEvent
from communa.ingest.polling import poll_source
from communa.ingest.services import ingest_events
from communa.members.models import Identity
from communa.stream.models import Message, Thread
from tests.servers.dovecot import HOST, Mailbox, MailServer

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db,
    # The test SMTP server accepts logins without TLS on purpose (security "none" on loopback).
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "email"
QUESTION = "4512.1772439242.giulia@example.it"
ANSWER = "CAF8kZ2v+3JxQ0bWmT5e=Marta@mail.aurora.test"
FOLLOW_UP = "AM0PR07MB6114A1B2C3D4E5F6@AM0PR07MB6114.eurprd07.prod.example.com"


def config_for(server: MailServer, box: Mailbox, **overrides: Any) -> EmailConfig:
    """Plain connections on loopback (security "none"), no waiting, unless a test says otherwise."""
    values: dict[str, Any] = {
        "imap_host": HOST,
        "imap_port": server.imap_port,
        "imap_security": "none",
        "username": box.username,
        "password": box.password,
        "smtp_host": HOST,
        "smtp_port": server.submission_port,
        "smtp_security": "none",
        "from_address": box.address,
        "idle_seconds": 0,
    }
    return EmailConfig.model_validate({**values, **overrides})


def email_source(workspace: Workspace, config: EmailConfig) -> Source:
    return create_source(workspace=workspace, kind="email", name="Support mailbox", config=config, actor=None)


def read_and_ingest(source: Source, connector: EmailConnector) -> list[str]:
    """One fetch from the source's saved cursor, ingested; return the external ids it brought."""
    result = connector.fetch(source.cursor)
    ingest_events(source=source, events=result.items, cursor=result.cursor, connector=connector)
    return [item.external_id for item in result.items]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def mail(*, sender: str, to: str, subject: str, text: str, message_id: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = f"<{message_id}>"
    message["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message


def stored(source: Source) -> dict[str, Message]:
    rows = Message.objects.filter(source=source).select_related("identity", "thread", "parent")
    return {m.external_id: m for m in rows}


# --- reading ------------------------------------------------------------------------------------------


def test_real_world_mail_delivered_over_smtp_becomes_exactly_the_expected_messages(
    mail_server: MailServer, workspace: Workspace
) -> None:
    box = mail_server.mailbox("support")
    names = sorted(path.name for path in FIXTURES.glob("*.eml"))
    for name in names:
        mail_server.deliver(fixture(name), to=[box.address])
    connector = EmailConnector(config_for(mail_server, box))
    source = email_source(workspace, connector.config)

    read_and_ingest(source, connector)

    messages = stored(source)
    summary = {
        ext: (m.kind, m.identity.external_id if m.identity else "", m.parent_external_id, m.thread.external_id)
        for ext, m in messages.items()
    }
    bounce = "20260306101533.3F1A2B4C5D@mail.aurora.test"
    newsletter = "20260304070000.8842.campaign-17@news.roastery.example"
    no_id = next(ext for ext in messages if ext.endswith("@no-message-id.communa.invalid"))
    assert summary == {
        QUESTION: ("email", "giulia.rossi@example.it", "", QUESTION),
        ANSWER: ("email", "support@aurora.test", QUESTION, QUESTION),
        FOLLOW_UP: ("email", "giulia.rossi@example.it", ANSWER, QUESTION),
        "oof.5a9c@mail.example.com": ("email", "peter.novak@example.com", ANSWER, QUESTION),
        "b7f3e2a1-5c4d-4e6f-9a8b-0c1d2e3f4a5b@example.org": (
            "email",
            "olga@example.org",
            "",
            "b7f3e2a1-5c4d-4e6f-9a8b-0c1d2e3f4a5b@example.org",
        ),
        "1772530240.512934@example.ru": ("email", "ivan.petrov@example.ru", "", "1772530240.512934@example.ru"),
        newsletter: ("email", "news@roastery.example", "", newsletter),
        bounce: ("email", "mailer-daemon@mail.aurora.test", "", bounce),
        no_id: ("email", "zoe@example.de", "", no_id),
    }
    assert sorted(Thread.objects.filter(source=source).values_list("external_id", flat=True)) == sorted(
        [
            QUESTION,
            "b7f3e2a1-5c4d-4e6f-9a8b-0c1d2e3f4a5b@example.org",
            "1772530240.512934@example.ru",
            newsletter,
            bounce,
            no_id,
        ]
    )
    conversation = Thread.objects.get(source=source, external_id=QUESTION)
    assert (conversation.title, conversation.message_count) == (
        "Problema con l'ordine #4512: il caffè non è arrivato",
        4,
    )
    assert messages[ANSWER].parent == messages[QUESTION]
    assert messages[FOLLOW_UP].parent == messages[ANSWER]
    assert messages[FOLLOW_UP].text == "Perfetto, grazie! Il pacco nuovo è arrivato stamattina.\n\nGiulia"
    assert messages["1772530240.512934@example.ru"].title == "Вопрос о встрече сообщества в Москве"
    assert messages[no_id].text == "Hallo,\n\nkann ich mein Abo pausieren? Danke!\n\nZoë\nStray byte: \ufffd\ufffd end"
    assert "track" not in messages[newsletter].text
    assert "document.cookie" not in messages[newsletter].text
    assert messages[bounce].metadata["bounce"] is True
    assert messages["oof.5a9c@mail.example.com"].metadata["automated"] is True
    ivan = Identity.objects.get(workspace=workspace, platform="email", external_id="ivan.petrov@example.ru")
    assert (ivan.display_name, ivan.email, ivan.is_bot) == ("Иван Петров", "ivan.petrov@example.ru", False)
    assert Identity.objects.get(workspace=workspace, external_id="mailer-daemon@mail.aurora.test").is_bot is True
    # Attachments are described, never stored: the raw payload holds their metadata only.
    payload = RawEvent.objects.get(
        source=source, external_id="b7f3e2a1-5c4d-4e6f-9a8b-0c1d2e3f4a5b@example.org"
    ).payload
    assert payload["attachments"] == [
        {"filename": "photo.png", "content_type": "image/png", "size": 70, "inline": True},
        {"filename": "Счет-4512.pdf", "content_type": "application/pdf", "size": 960, "inline": False},
        {"filename": "scontrini — marzo.zip", "content_type": "application/zip", "size": 22, "inline": False},
    ]
    assert "JVBERi0" not in str(payload)  # no base64 of the PDF anywhere
    # Reading never changes the mailbox: nothing is marked seen.
    with mail_server.imap(box) as conn:
        conn.select("INBOX", readonly=True)
        assert conn.uid("SEARCH", "UNSEEN")[1][0].split() == conn.uid("SEARCH", "ALL")[1][0].split()


def test_the_cursor_resumes_without_duplicates(mail_server: MailServer, workspace: Workspace) -> None:
    box = mail_server.mailbox("cursor")
    connector = EmailConnector(config_for(mail_server, box))
    source = email_source(workspace, connector.config)
    for n in (1, 2):
        mail_server.deliver(
            mail(
                sender="ann@elsewhere.test",
                to=box.address,
                subject=f"Hi {n}",
                text="hello",
                message_id=f"m{n}@elsewhere.test",
            ),
            to=[box.address],
        )

    assert read_and_ingest(source, connector) == ["m1@elsewhere.test", "m2@elsewhere.test"]
    cursor = dict(source.cursor)
    assert read_and_ingest(source, connector) == []
    assert source.cursor == cursor
    mail_server.deliver(
        mail(sender="ann@elsewhere.test", to=box.address, subject="Hi 3", text="again", message_id="m3@elsewhere.test"),
        to=[box.address],
    )
    assert read_and_ingest(source, connector) == ["m3@elsewhere.test"]

    assert sorted(stored(source)) == ["m1@elsewhere.test", "m2@elsewhere.test", "m3@elsewhere.test"]
    assert source.cursor == {"folder": "INBOX", "uidvalidity": cursor["uidvalidity"], "last_uid": 3}


def test_a_recreated_folder_is_read_again_without_duplicates(mail_server: MailServer, workspace: Workspace) -> None:
    box = mail_server.mailbox("recreated")
    local, domain = box.address.split("@")
    into_support = f"{local}+Support@{domain}"  # Dovecot files it into the folder "Support"
    first = [
        mail(sender="bo@elsewhere.test", to=box.address, subject=f"Q{n}", text="?", message_id=f"q{n}@elsewhere.test")
        for n in (1, 2)
    ]
    for message in first:
        mail_server.deliver(message, to=[into_support])
    connector = EmailConnector(config_for(mail_server, box, folder="Support"))
    source = email_source(workspace, connector.config)
    assert read_and_ingest(source, connector) == ["q1@elsewhere.test", "q2@elsewhere.test"]
    before = source.cursor["uidvalidity"]

    mail_server.recreate_folder(box, "Support")
    for message in [
        *first,
        mail(sender="bo@elsewhere.test", to=box.address, subject="Q3", text="?", message_id="q3@elsewhere.test"),
    ]:
        mail_server.deliver(message, to=[into_support])

    assert read_and_ingest(source, connector) == ["q1@elsewhere.test", "q2@elsewhere.test", "q3@elsewhere.test"]
    assert source.cursor["uidvalidity"] == mail_server.uidvalidity(box, "Support") != before
    assert source.cursor["last_uid"] == 3
    assert sorted(stored(source)) == ["q1@elsewhere.test", "q2@elsewhere.test", "q3@elsewhere.test"]
    assert Message.objects.filter(source=source).count() == 3


def test_idle_wakes_up_on_new_mail_within_a_couple_of_seconds(mail_server: MailServer, workspace: Workspace) -> None:
    box = mail_server.mailbox("idle")
    cursor = EmailConnector(config_for(mail_server, box)).fetch({}).cursor  # an empty folder's cursor
    connector = EmailConnector(config_for(mail_server, box, idle_seconds=30))
    new = mail(sender="cy@elsewhere.test", to=box.address, subject="Live", text="now", message_id="live@elsewhere.test")
    timer = threading.Timer(1.0, mail_server.deliver, args=(new,), kwargs={"to": [box.address]})

    started = time.monotonic()
    timer.start()
    result = connector.fetch(cursor)
    elapsed = time.monotonic() - started
    timer.join()

    assert [item.external_id for item in result.items] == ["live@elsewhere.test"]
    # Woken by the server, not by the 30 s timeout; the margin is for a loaded machine (this is no timing test).
    assert 1.0 <= elapsed < 15.0
    assert result.cursor["last_uid"] == 1


def test_a_wait_with_no_new_mail_ends_on_time_with_nothing(mail_server: MailServer, workspace: Workspace) -> None:
    box = mail_server.mailbox("quiet")
    cursor = EmailConnector(config_for(mail_server, box)).fetch({}).cursor
    connector = EmailConnector(config_for(mail_server, box, idle_seconds=1))

    started = time.monotonic()
    result = connector.fetch(cursor)

    assert (result.items, result.cursor) == ([], cursor)
    assert 1.0 <= time.monotonic() - started < 10.0  # waited its second, and did not hang


def test_without_idle_the_wait_asks_the_server_now_and_then(
    mail_server: MailServer, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server without IDLE (Dovecot cannot hide it, so the connector is told it is missing)."""
    offered = ImapSession.capabilities
    monkeypatch.setattr(
        ImapSession, "capabilities", property(lambda self: tuple(c for c in offered.fget(self) if c != "IDLE"))
    )
    box = mail_server.mailbox("noidle")
    cursor = EmailConnector(config_for(mail_server, box)).fetch({}).cursor
    connector = EmailConnector(config_for(mail_server, box, idle_seconds=20))
    connector.poll_seconds = 0.3
    new = mail(sender="di@elsewhere.test", to=box.address, subject="Polled", text="hi", message_id="p@elsewhere.test")
    timer = threading.Timer(1.0, mail_server.deliver, args=(new,), kwargs={"to": [box.address]})

    started = time.monotonic()
    timer.start()
    result = connector.fetch(cursor)
    timer.join()

    assert [item.external_id for item in result.items] == ["p@elsewhere.test"]
    assert time.monotonic() - started < 10.0  # found by asking, well before the 20 s wait would end


def test_the_first_read_takes_only_recent_mail(mail_server: MailServer, workspace: Workspace) -> None:
    box = mail_server.mailbox("history")
    with mail_server.imap(box) as conn:  # mail that arrived long ago (its INTERNALDATE is from 2024)
        old = mail(
            sender="ed@elsewhere.test", to=box.address, subject="Old", text="old", message_id="old@elsewhere.test"
        )
        status, _ = conn.append("INBOX", "", '"02-Jan-2024 10:00:00 +0000"', old.as_bytes())
        assert status == "OK"
    new = mail(sender="ed@elsewhere.test", to=box.address, subject="New", text="new", message_id="new@elsewhere.test")
    mail_server.deliver(new, to=[box.address])
    connector = EmailConnector(config_for(mail_server, box, history_days=30))

    result = connector.fetch({})

    assert [item.external_id for item in result.items] == ["new@elsewhere.test"]
    assert result.cursor["last_uid"] == 2
    everything = EmailConnector(config_for(mail_server, box, history_days=0)).fetch({})
    assert [item.external_id for item in everything.items] == ["old@elsewhere.test", "new@elsewhere.test"]


# --- writing ------------------------------------------------------------------------------------------


def test_a_reply_is_threaded_arrives_and_comes_back_as_the_same_message(
    mail_server: MailServer, workspace: Workspace
) -> None:
    support, giulia = mail_server.mailbox("support"), mail_server.mailbox("giulia")
    question = mail(
        sender=f"Giulia Rossi <{giulia.address}>",
        to=support.address,
        subject="Re: R: Problema con l'ordine #4512",
        text="Il pacco non è arrivato.",
        message_id="q-4512@example.it",
        References="<root-4512@example.it> <reply-4512@aurora.test>",
        In_Reply_To="<reply-4512@aurora.test>",
    )
    mail_server.deliver(question, to=[support.address])
    connector = EmailConnector(config_for(mail_server, support, from_name="Aurora Coffee"))
    source = email_source(workspace, connector.config)
    read_and_ingest(source, connector)
    target = ReplyTarget(channel="INBOX", message_external_id="q-4512@example.it")

    sent = connector.reply(target=target, text="Ciao Giulia, è in arrivo! Спасибо.", idempotency_key="outbox-41")

    [arrived] = mail_server.messages(giulia)
    expected_id = f"<{sent.external_id}>"
    assert sent.external_id.startswith("communa-")
    assert sent.external_id.endswith(f"@{support.address.split('@')[1]}")
    assert {
        name: str(arrived[name])
        for name in ("From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Auto-Submitted")
    } == {
        "From": f"Aurora Coffee <{support.address}>",
        "To": f"Giulia Rossi <{giulia.address}>",
        "Subject": "Re: Problema con l'ordine #4512",
        "Message-ID": expected_id,
        "In-Reply-To": "<q-4512@example.it>",
        "References": "<root-4512@example.it> <reply-4512@aurora.test> <q-4512@example.it>",
        "Auto-Submitted": "no",
    }
    assert "Bcc" not in arrived
    assert (arrived.get_content_type(), arrived.get_content_charset()) == ("text/plain", "utf-8")
    assert arrived.get_content() == "Ciao Giulia, è in arrivo! Спасибо.\r\n"  # as IMAP serves it, CRLF
    # The mailbox got a blind copy: the envelope shows it, no header does.
    [envelope] = mail_server.submission.received
    assert (envelope.mail_from, envelope.rcpt_tos) == (support.address, (giulia.address, support.address))

    read_and_ingest(source, connector)

    messages = stored(source)
    reply = messages[sent.external_id]
    assert (reply.parent, reply.thread.external_id, reply.text) == (
        messages["q-4512@example.it"],
        "root-4512@example.it",
        "Ciao Giulia, è in arrivo! Спасибо.",
    )
    assert reply.metadata["outgoing"] is True
    assert reply.identity.external_id == support.address


def test_the_same_outbox_key_sends_once_under_one_message_id(mail_server: MailServer, workspace: Workspace) -> None:
    support, ann = mail_server.mailbox("support"), mail_server.mailbox("ann")
    mail_server.deliver(
        mail(sender=ann.address, to=support.address, subject="Hello", text="?", message_id="h@x.test"),
        to=[support.address],
    )
    connector = EmailConnector(config_for(mail_server, support))
    target = ReplyTarget(channel="INBOX", message_external_id="h@x.test")
    received_before = len(mail_server.submission.received)

    first = connector.reply(target=target, text="Hi Ann!", idempotency_key="outbox-7")
    again = connector.reply(target=target, text="Hi Ann!", idempotency_key="outbox-7")
    other = connector.reply(target=target, text="One more thing.", idempotency_key="outbox-8")

    assert first.external_id == again.external_id != other.external_id
    assert [str(m["Message-ID"]) for m in mail_server.messages(ann)] == [
        f"<{first.external_id}>",
        f"<{other.external_id}>",
    ]
    assert len(mail_server.submission.received) == received_before + 2


def test_a_reply_goes_to_reply_to_and_takes_the_target_s_recipient_first(
    mail_server: MailServer, workspace: Workspace
) -> None:
    support, form, visitor, boss = (mail_server.mailbox(n) for n in ("support", "form", "visitor", "boss"))
    contact = mail(
        sender=form.address,
        to=support.address,
        subject="Contact form",
        text="Call me",
        message_id="form-1@x.test",
        Reply_To=visitor.address,
    )
    mail_server.deliver(contact, to=[support.address])
    connector = EmailConnector(config_for(mail_server, support))

    connector.reply(
        target=ReplyTarget(channel="INBOX", message_external_id="form-1@x.test"), text="Sure", idempotency_key="k1"
    )
    explicit = ReplyTarget(
        channel="INBOX", message_external_id="form-1@x.test", recipient=boss.address, subject="Escalated"
    )
    connector.reply(target=explicit, text="FYI", idempotency_key="k2")

    assert [m["Subject"] for m in mail_server.messages(visitor)] == ["Re: Contact form"]
    assert [m["Subject"] for m in mail_server.messages(boss)] == ["Re: Escalated"]
    assert mail_server.messages(form) == []


def test_a_reply_to_a_mail_that_is_gone_without_recipient_is_refused(
    mail_server: MailServer, workspace: Workspace
) -> None:
    support = mail_server.mailbox("support")
    connector = EmailConnector(config_for(mail_server, support))
    sent_before = len(mail_server.submission.received)

    with pytest.raises(PermanentError, match=r"cannot answer <gone@x\.test>: it is not in the folder 'INBOX'"):
        connector.reply(
            target=ReplyTarget(channel="INBOX", message_external_id="gone@x.test"), text="Hi", idempotency_key="k"
        )

    assert len(mail_server.submission.received) == sent_before


def test_a_recipient_the_smtp_server_refuses_is_a_permanent_error(
    mail_server: MailServer, workspace: Workspace
) -> None:
    support = mail_server.mailbox("support")
    connector = EmailConnector(config_for(mail_server, support))
    target = ReplyTarget(
        channel="INBOX", message_external_id="x@x.test", recipient="someone@elsewhere.test", subject="Hi"
    )
    sent_before = len(mail_server.submission.received)

    with pytest.raises(
        PermanentError, match=r"refused the recipient: someone@elsewhere\.test: 550 5\.7\.1 Relay denied"
    ):
        connector.reply(target=target, text="Hi", idempotency_key="k")

    assert len(mail_server.submission.received) == sent_before


# --- failures -----------------------------------------------------------------------------------------


def test_a_bad_password_disables_the_source_with_a_clear_reason(mail_server: MailServer, workspace: Workspace) -> None:
    box = mail_server.mailbox("locked")
    config = config_for(mail_server, box, password="wrong")
    source = email_source(workspace, config)

    with pytest.raises(PermanentError) as refused:
        EmailConnector(config).fetch({})
    poll_source(source_id=source.pk)

    assert str(refused.value) == (
        f"the IMAP server refused the login for {box.address}: [AUTHENTICATIONFAILED] Authentication failed."
        " (check the username and password; some providers need an app password)"
    )
    source.refresh_from_db()
    assert (source.status, source.last_error, source.next_poll_at) == (SourceStatus.DISABLED, str(refused.value), None)
    assert (RawEvent.objects.filter(source=source).count(), source.cursor) == (0, {})


def test_a_bad_smtp_password_is_a_permanent_error(mail_server: MailServer, workspace: Workspace) -> None:
    support = mail_server.mailbox("support")
    connector = EmailConnector(config_for(mail_server, support, smtp_password="wrong"))
    target = ReplyTarget(channel="INBOX", message_external_id="x@x.test", recipient=support.address, subject="Hi")

    with pytest.raises(PermanentError, match=r"the SMTP server 127\.0\.0\.1:\d+ refused the login: 535 5\.7\.8"):
        connector.reply(target=target, text="Hi", idempotency_key="k")


def test_a_server_that_is_down_is_a_transient_error(mail_server: MailServer, workspace: Workspace) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    box = mail_server.mailbox("down")
    config = config_for(mail_server, box, imap_port=port)
    source = email_source(workspace, config)

    with pytest.raises(
        TransientError, match=rf"could not reach the IMAP server 127\.0\.0\.1:{port}: .*Connection refused"
    ):
        EmailConnector(config).fetch({})
    poll_source(source_id=source.pk)

    source.refresh_from_db()
    assert (source.status, source.failure_count, source.cursor) == (SourceStatus.RETRYING, 1, {})
    target = ReplyTarget(channel="INBOX", message_external_id="x@x.test", recipient="a@example.test", subject="Hi")
    smtp_down = EmailConnector(config_for(mail_server, box, smtp_port=port))
    with pytest.raises(TransientError, match=rf"could not send through the SMTP server 127\.0\.0\.1:{port}"):
        smtp_down.reply(target=target, text="Hi", idempotency_key="k")


def test_a_server_that_never_answers_times_out_as_a_transient_error(mail_server: MailServer) -> None:
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen(1)  # accepts connections (the kernel does), never says a word
        box = mail_server.mailbox("silent")
        connector = EmailConnector(config_for(mail_server, box, imap_port=silent.getsockname()[1]))
        connector.timeout = 0.5

        started = time.monotonic()
        with pytest.raises(TransientError, match=r"could not reach the IMAP server .*timed out"):
            connector.fetch({})

    assert time.monotonic() - started < 2.0


# --- TLS ----------------------------------------------------------------------------------------------


def test_ssl_and_starttls_with_a_trusted_certificate(
    mail_server: MailServer, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(mail_server.ca_file))  # trust the test CA, check as usual
    support, dan = mail_server.mailbox("support"), mail_server.mailbox("dan")
    mail_server.deliver(
        mail(sender=dan.address, to=support.address, subject="TLS?", text="!", message_id="tls@x.test"),
        to=[support.address],
    )
    implicit = EmailConnector(
        config_for(mail_server, support, imap_port=mail_server.imaps_port, imap_security="ssl",
                   smtp_port=mail_server.submissions_port, smtp_security="ssl")
    )  # fmt: skip
    upgraded = EmailConnector(config_for(mail_server, support, imap_security="starttls", smtp_security="starttls"))

    for connector in (implicit, upgraded):
        assert [item.external_id for item in connector.fetch({}).items] == ["tls@x.test"]
    target = ReplyTarget(channel="INBOX", message_external_id="tls@x.test")
    implicit.reply(target=target, text="over SSL", idempotency_key="tls-1")
    upgraded.reply(target=target, text="over STARTTLS", idempotency_key="tls-2")

    assert [m.get_content().strip() for m in mail_server.messages(dan)] == ["over SSL", "over STARTTLS"]


def test_an_untrusted_certificate_is_a_permanent_error(mail_server: MailServer) -> None:
    box = mail_server.mailbox("untrusted")
    imaps = EmailConnector(config_for(mail_server, box, imap_port=mail_server.imaps_port, imap_security="ssl"))
    starttls = EmailConnector(config_for(mail_server, box, imap_security="starttls"))
    smtp = EmailConnector(config_for(mail_server, box, smtp_security="starttls"))
    target = ReplyTarget(channel="INBOX", message_external_id="x@x.test", recipient=box.address, subject="Hi")

    for connector in (imaps, starttls):
        with pytest.raises(PermanentError, match=r"the IMAP server 127\.0\.0\.1:.* certificate that cannot be trusted"):
            connector.fetch({})
    with pytest.raises(PermanentError, match=r"the SMTP server 127\.0\.0\.1:.* certificate that cannot be trusted"):
        smtp.reply(target=target, text="Hi", idempotency_key="k")


def test_ssl_on_a_plain_port_is_a_permanent_error_that_names_the_usual_ports(mail_server: MailServer) -> None:
    box = mail_server.mailbox("wrongport")
    connector = EmailConnector(config_for(mail_server, box, imap_security="ssl"))  # the plain IMAP port
    connector.timeout = 5

    with pytest.raises(PermanentError, match=r"TLS with the IMAP server .* failed .*993 is SSL/TLS, 143 is STARTTLS"):
        connector.fetch({})


def test_idle_over_tls_wakes_up_too(mail_server: MailServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(mail_server.ca_file))
    box = mail_server.mailbox("tlsidle")
    over_tls = {"imap_port": mail_server.imaps_port, "imap_security": "ssl"}
    cursor = EmailConnector(config_for(mail_server, box, **over_tls)).fetch({}).cursor
    connector = EmailConnector(config_for(mail_server, box, idle_seconds=30, **over_tls))
    new = mail(sender="fa@elsewhere.test", to=box.address, subject="Secure", text="hi", message_id="s@elsewhere.test")
    timer = threading.Timer(1.0, mail_server.deliver, args=(new,), kwargs={"to": [box.address]})

    started = time.monotonic()
    timer.start()
    result = connector.fetch(cursor)
    timer.join()

    assert [item.external_id for item in result.items] == ["s@elsewhere.test"]
    assert time.monotonic() - started < 15.0  # woken by the server, not by the 30 s timeout
