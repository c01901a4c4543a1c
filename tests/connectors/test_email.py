"""Email connector, pure parts: MIME parsing and normalize on real-world style mail, quoting, replies, settings.

The .eml files in tests/fixtures/email/ are what mail software writes (Thunderbird, Gmail, Outlook, The
Bat!, Postfix, Exchange, a newsletter tool): parse_message turns each into the stored payload, and the
connector's normalize (pure) turns that into a message. The same files go through a real Dovecot in
test_email_server.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pydantic import ValidationError

from communa.accounts.models import User, Workspace
from communa.connectors.base import MessageKind, NormalizedIdentity, RawItem
from communa.connectors.email.connector import EmailConnector, resume_after
from communa.connectors.email.imap import _fetch_records, decode_folder, encode_folder, parse_internaldate, uid_set
from communa.connectors.email.parse import (
    MAX_BODY_BYTES,
    addresses,
    decode_bytes,
    decode_encoded_words,
    message_ids,
    parse_message,
    unflow,
)
from communa.connectors.email.quoting import trim_html, trim_text
from communa.connectors.email.schemas import EmailConfig, is_loopback
from communa.connectors.email.smtp import build_reply, references_for, reply_message_id, reply_subject
from communa.connectors.models import Source
from communa.connectors.services import load_config
from tests.conftest import login

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "email"
MAILBOX = "support@aurora.test"
RECEIVED = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)


def config(**overrides: Any) -> EmailConfig:
    values: dict[str, Any] = {
        "imap_host": "imap.aurora.test",
        "username": MAILBOX,
        "password": "app-password",
        "smtp_host": "smtp.aurora.test",
        "from_address": MAILBOX,
    }
    return EmailConfig.model_validate({**values, **overrides})


def payload(name: str, **options: Any) -> dict[str, Any]:
    return parse_message((FIXTURES / name).read_bytes(), folder="INBOX", uid=7, internal_date=RECEIVED, **options)


def normalized(name: str) -> Any:
    [message] = EmailConnector(config()).normalize(RawItem(external_id="x", payload=payload(name)))
    return message


# --- normalize on the fixtures ------------------------------------------------------------------------


def test_an_italian_question_in_latin_1_quoted_printable() -> None:
    message = normalized("thread-1-question.eml")

    assert (message.external_id, message.kind, message.title, message.language) == (
        "4512.1772439242.giulia@example.it",
        MessageKind.EMAIL,
        "Problema con l'ordine #4512: il caffè non è arrivato",
        "it",
    )
    assert message.text == (
        "Buongiorno,\n\nho ordinato due confezioni di caffè in grani il 24 febbraio (ordine #4512),\n"
        'ma non è ancora arrivato niente. Il tracciamento dice "in consegna" da una\n'
        "settimana. Potete verificare? Sarebbe un regalo per mio padre, che compie gli\n"
        "anni sabato prossimo.\n\nGrazie mille,\nGiulia Rossi"
    )
    assert message.created_at == datetime(2026, 3, 2, 8, 14, 2, tzinfo=UTC)
    assert message.author == NormalizedIdentity(
        platform="email",
        external_id="giulia.rossi@example.it",
        handle="giulia.rossi@example.it",
        display_name="Giulia Rossi",
        email="giulia.rossi@example.it",
    )
    assert (message.thread_external_id, message.parent_external_id) == ("", "")
    assert "full_text" not in message.metadata
    assert {k: message.metadata[k] for k in ("channel", "to", "cc", "automated", "outgoing", "bounce")} == {
        "channel": "INBOX",
        "to": [MAILBOX],
        "cc": [],
        "automated": False,
        "outgoing": False,
        "bounce": False,
    }


def test_the_team_s_answer_loses_its_signature_and_quote_and_is_marked_outgoing() -> None:
    message = normalized("thread-2-answer.eml")

    assert message.text == (
        "Ciao Giulia,\n\nci dispiace molto! Abbiamo controllato: il pacco è fermo al centro di\n"
        "smistamento di Bologna. Ti spediamo oggi stesso un nuovo pacco con corriere\n"
        "espresso, arriverà entro venerdì."
    )
    assert message.metadata["full_text"].endswith(
        "ha scritto:\n> Buongiorno,\n>\n> ho ordinato due confezioni di caffè in grani il 24 febbraio"
        " (ordine #4512),\n> ma non è ancora arrivato niente."
    )
    # References names only the parent: the thread is left to ingest (the parent's thread, or the parent).
    assert (message.parent_external_id, message.thread_external_id) == ("4512.1772439242.giulia@example.it", "")
    assert message.metadata["outgoing"] is True
    assert message.author.display_name == "Marta at Aurora Coffee"


def test_an_outlook_follow_up_keeps_only_what_is_new_and_points_at_the_root() -> None:
    message = normalized("thread-3-followup.eml")

    assert message.text == "Perfetto, grazie! Il pacco nuovo è arrivato stamattina.\n\nGiulia"
    assert message.metadata["full_text"].startswith(message.text + "\n\n-----Messaggio originale-----\nDa: Marta")
    assert (message.thread_external_id, message.parent_external_id) == (
        "4512.1772439242.giulia@example.it",
        "CAF8kZ2v+3JxQ0bWmT5e=Marta@mail.aurora.test",
    )
    assert message.title == "R: Re: Problema con l'ordine #4512: il caffè non è arrivato"
    assert message.language == "it"
    assert message.created_at == datetime(2026, 3, 6, 8, 40, 3, tzinfo=UTC)


def test_russian_in_koi8_r_with_encoded_word_headers() -> None:
    message = normalized("koi8r-question.eml")

    assert message.title == "Вопрос о встрече сообщества в Москве"
    assert message.text == (
        "Здравствуйте!\n\nПодскажите, пожалуйста, будет ли весной встреча сообщества в Москве?\n"
        "Мы с друзьями хотели бы прийти и принести свою кофемолку.\n\nС уважением,\nИван Петров"
    )
    assert (message.author.external_id, message.author.display_name, message.author.email) == (
        "ivan.petrov@example.ru",
        "Иван Петров",
        "ivan.petrov@example.ru",
    )
    assert message.metadata["to"] == ["community@aurora.test"]
    assert message.created_at == datetime(2026, 3, 3, 9, 30, 40, tzinfo=UTC)


def test_an_html_only_newsletter_is_reduced_to_safe_text_and_marked_automated() -> None:
    message = normalized("html-only-newsletter.eml")

    assert message.text == (
        "Spring roast club is open\n\nHi there,\n\nOur community roast club starts on March 15. Members vote on"
        " the next single-origin & get 10% off.\n\n• Ethiopia Guji\n• Colombia Huila\n\n"
        "preheader text nobody sees\n\nUnsubscribe"
    )
    assert {k: message.metadata[k] for k in ("html_only", "automated", "auto_reply", "list_id")} == {
        "html_only": True,
        "automated": True,  # Precedence: bulk, List-Id
        "auto_reply": False,
        "list_id": "Roastery Partners <partners.roastery.example>",
    }


def test_attachments_are_described_never_kept() -> None:
    data = payload("attachments.eml")
    message = normalized("attachments.eml")

    assert data["attachments"] == [
        {"filename": "photo.png", "content_type": "image/png", "size": 70, "inline": True},
        {"filename": "Счет-4512.pdf", "content_type": "application/pdf", "size": 960, "inline": False},
        {"filename": "scontrini — marzo.zip", "content_type": "application/zip", "size": 22, "inline": False},
    ]
    assert "%PDF" not in str(data)
    assert message.text == "Hello,\n\nplease find attached the invoice and a photo of the damaged bag.\n\nThanks,\nOlga"
    assert message.metadata["cc"] == ["billing@aurora.test", "jose@example.es"]
    assert data["headers"]["cc"][1] == {"name": "José María", "address": "jose@example.es"}


def test_a_bounce_is_flagged_with_its_delivery_report_and_the_original_does_not_leak() -> None:
    message = normalized("bounce.eml")

    assert message.text.startswith("This is the mail system at host mail.aurora.test.")
    assert "This text must not leak" not in message.text
    assert {k: message.metadata[k] for k in ("bounce", "automated", "auto_submitted", "delivery_status")} == {
        "bounce": True,
        "automated": True,
        "auto_submitted": "auto-replied",
        "delivery_status": [
            {
                "recipient": "old.member@example.net",
                "action": "failed",
                "status": "5.1.1",
                "diagnostic": "smtp; 550 5.1.1 <old.member@example.net>: Recipient address rejected: User unknown"
                " in virtual mailbox table",
            }
        ],
    }
    assert message.metadata["attachments"] == [
        {
            "filename": "Your spring roast club invitation.eml",
            "content_type": "message/rfc822",
            "size": 360,
            "inline": False,
        }
    ]
    assert (message.author.external_id, message.author.is_bot) == ("mailer-daemon@mail.aurora.test", True)


def test_an_out_of_office_reply_is_flagged_so_nothing_answers_it_automatically() -> None:
    message = normalized("auto-reply.eml")

    assert {k: message.metadata[k] for k in ("auto_reply", "automated", "auto_submitted", "bounce")} == {
        "auto_reply": True,
        "automated": True,
        "auto_submitted": "auto-replied",
        "bounce": False,
    }
    assert message.author.is_bot is False  # a person on holiday is still a person
    assert message.parent_external_id == "CAF8kZ2v+3JxQ0bWmT5e=Marta@mail.aurora.test"


def test_a_mail_without_message_id_gets_a_stable_one_and_raw_8_bit_headers_are_read() -> None:
    first, second = payload("no-message-id-8bit.eml"), payload("no-message-id-8bit.eml")
    message = normalized("no-message-id-8bit.eml")

    assert first["message_id"] == second["message_id"] == message.external_id
    assert message.external_id.endswith("@no-message-id.communa.invalid")
    assert message.title == "Grüße aus München – Frage zum Abo"
    assert message.author.display_name == "Zoë Müller"
    assert message.text == "Hallo,\n\nkann ich mein Abo pausieren? Danke!\n\nZoë\nStray byte: \ufffd\ufffd end"


def test_the_stored_payload_is_json_safe_and_capped() -> None:
    huge = b"From: a@b.test\r\nSubject: big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "ж".encode() * 300_000
    data = parse_message(huge, folder="INBOX")

    assert len(data["text"].encode()) == MAX_BODY_BYTES
    assert data["text_truncated"] is True
    [message] = EmailConnector(config()).normalize(RawItem(external_id="x", payload=data))
    assert message.metadata["truncated"] is True


# --- dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Mon, 2 Mar 2026 09:14:02 +0100", datetime(2026, 3, 2, 8, 14, 2, tzinfo=UTC)),
        ("Mon, 2 Mar 2026 09:14:02 -0000", datetime(2026, 3, 2, 9, 14, 2, tzinfo=UTC)),  # unknown zone: UTC
        ("", RECEIVED),  # no Date: when the server received it
        ("yesterday-ish", RECEIVED),
        ("Thu, 1 Jan 1970 00:00:00 +0000", RECEIVED),  # not believable
        ("Fri, 1 Jan 2027 00:00:00 +0000", RECEIVED),  # a clock in the future
        ("Mon, 9 Mar 2026 18:00:00 +0000", datetime(2026, 3, 9, 18, 0, tzinfo=UTC)),  # within a day of skew
    ],
)
def test_the_date_header_unless_it_is_missing_or_not_believable(date: str, expected: datetime) -> None:
    raw = f"From: a@b.test\r\nDate: {date}\r\nMessage-ID: <d@b.test>\r\n\r\nhi\r\n".encode()
    data = parse_message(raw, folder="INBOX", internal_date=RECEIVED)

    [message] = EmailConnector(config()).normalize(RawItem(external_id="d@b.test", payload=data))

    assert message.created_at == expected


# --- decoding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "text"),
    [
        ("=?utf-8?B?0J/RgNC40LLQtdGC?= =?utf-8?B?INC80LjRgA==?=", "Привет мир"),  # adjacent words join
        ("=?koi8-r?B?8NLJ18XU?=", "Привет"),
        ("=?ISO-8859-1?Q?Caff=E8_gi=E0_pagato?=", "Caffè già pagato"),
        ("=?windows-1251?Q?=CA=EE=F4=E5?= time", "Кофе time"),
        ("=?x-no-such-charset?Q?caf=C3=A9?=", "café"),  # unknown charset: UTF-8 tried
        ("=?utf-8?B?broken base64?=", "=?utf-8?B?broken base64?="),  # left as it is
        ("=?utf-8?B?w6k?=", "é"),  # missing padding
        ("=?iso-8859-1?q?na=EFve?=", "naïve"),
        ("plain words", "plain words"),
    ],
)
def test_encoded_words_in_any_charset_never_crash(header: str, text: str) -> None:
    assert decode_encoded_words(header) == text


def test_bytes_in_any_charset_or_none_become_text() -> None:
    assert decode_bytes("кофе".encode("koi8-r"), "koi8-r") == "кофе"
    assert decode_bytes("caffè".encode("cp1252"), "iso-8859-1") == "caffè"
    assert decode_bytes("caffè €".encode("cp1252"), "us-ascii") == "caffè €"  # mislabelled: windows-1252
    assert decode_bytes("咖啡".encode("gb18030"), "gb2312") == "咖啡"
    assert decode_bytes(b"\xff\xfeok", None) == "ÿþok"  # not UTF-8: windows-1252
    assert decode_bytes("ok ✓".encode(), "no-such-charset") == "ok ✓"


def test_addresses_split_before_their_names_are_decoded() -> None:
    header = '=?utf-8?Q?Rossi=2C_Giulia?= <g@x.it>, "Bo" <BO@Example.org>, undisclosed-recipients:;'

    assert addresses(header) == [
        {"name": "Rossi, Giulia", "address": "g@x.it"},
        {"name": "Bo", "address": "BO@Example.org"},
    ]


def test_message_ids_in_references_keep_their_order_and_the_root_when_trimmed() -> None:
    assert message_ids(" <a@x>\r\n <b@y>  <a@x>") == ["a@x", "b@y"]
    assert message_ids("c@z") == ["c@z"]  # no angle brackets (broken clients)
    many = " ".join(f"<{n}@x>" for n in range(150))
    assert message_ids(many)[:2] == ["0@x", "51@x"]
    assert len(message_ids(many)) == 100


def test_format_flowed_paragraphs_are_joined() -> None:
    text = "Hello, this is a \r\nlong line.\r\n> quoted \r\n> more\r\n\r\n-- \r\nAnn"

    assert unflow(text, delsp=False) == "Hello, this is a long line.\n> quoted more\n\n-- \nAnn"
    assert unflow("Kaf \r\nfee", delsp=True) == "Kaffee"


def test_broken_mail_never_crashes_the_parser_or_normalize() -> None:
    """Random damage to every fixture (seeded, so a failure can be replayed): parsing never raises."""
    rng = random.Random(20260302)
    connector = EmailConnector(config())
    for path in sorted(FIXTURES.glob("*.eml")):
        original = bytearray(path.read_bytes())
        for _ in range(40):
            damaged = bytearray(original)
            for _ in range(rng.randint(1, 30)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            cut = damaged[: rng.randrange(len(damaged) + 1)]
            data = parse_message(bytes(cut), folder="INBOX", internal_date=RECEIVED)
            [message] = connector.normalize(RawItem(external_id=data["message_id"], payload=data))
            assert message.external_id == data["message_id"]


# --- quotes and signatures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Thanks!\n\nOn Mon, 2 Mar 2026 at 09:14, Ann <a@x.test> wrote:\n> Hi\n> there", "Thanks!"),
        ("Grazie!\n\nIl giorno lun 2 mar 2026 alle ore 09:14 Ann <a@x.test>\nha scritto:\n> Ciao", "Grazie!"),
        ("Спасибо!\n\n2 марта 2026 г., в 09:14, Анна <a@x.test> написал(а):\n\n> Привет", "Спасибо!"),
        ("Danke!\n\nAm 02.03.2026 um 09:14 schrieb Ann:\n> Hallo", "Danke!"),
        ("Sure.\n\n-- \nAnn\nCommunity lead", "Sure."),
        ("Sure.\n\n--\nAnn", "Sure."),
        ("Ok\n\n-----Original Message-----\nFrom: Bo\nSent: Monday\n\nHi", "Ok"),
        ("Ok\n\n________________________________\nFrom: Bo <b@x.test>\nSent: Monday", "Ok"),
        ("On Mon, Ann wrote:\n> Can I come?\n\nYes, see you there.", "Yes, see you there."),  # bottom-posted
        ("> Can I come?\nYes.\n> And my friend?\nSure.", "> Can I come?\nYes.\n> And my friend?\nSure."),  # inline
        ("> only a quote\n> nothing else", "> only a quote\n> nothing else"),  # never trimmed to nothing
        ("a list:\n--\nnot a signature\n" + "line\n" * 12, "a list:\n--\nnot a signature\n" + "line\n" * 11 + "line"),
    ],
)
def test_quoted_text_and_signatures_are_trimmed_only_where_reliable(text: str, kept: str) -> None:
    assert trim_text(text) == kept


def test_html_quote_and_signature_containers_are_dropped() -> None:
    gmail = (
        '<div dir="ltr">Yes!<div class="gmail_signature">Ann</div></div>'
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, Bo wrote:</div><blockquote>Can I?</blockquote></div>'
    )
    outlook = '<p>Ok</p><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Bo</div><div>Hi</div>'
    apple = '<div>Fine</div><blockquote type="cite"><div>Question?</div></blockquote>'

    assert [
        trim_html(markup).count(marker) for markup, marker in ((gmail, "Can I"), (outlook, "Bo"), (apple, "Question"))
    ] == [0, 0, 0]
    assert "Yes!" in trim_html(gmail)
    assert trim_html("<p>nothing to trim</p>") == "<p>nothing to trim</p>"


# --- replies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Hello", "Re: Hello"),
        ("Re: Hello", "Re: Hello"),
        ("RE: re: Hello", "Re: Hello"),
        ("R: Re: Problema", "Re: Problema"),
        ("AW: Frage", "Re: Frage"),
        ("Ответ: Вопрос", "Re: Вопрос"),
        ("Re[2]: Hello", "Re: Hello"),
        ("Reunion plans", "Re: Reunion plans"),
        ("", "Re:"),
    ],
)
def test_the_reply_subject_has_one_re(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_the_reply_message_id_comes_from_the_outbox_key() -> None:
    first = reply_message_id("outbox-1", "aurora.test")

    assert first == reply_message_id("outbox-1", "aurora.test") != reply_message_id("outbox-2", "aurora.test")
    assert first.startswith("communa-")
    assert first.endswith("@aurora.test")
    assert len(first) == len("communa-") + 40 + len("@aurora.test")


def test_references_keep_the_root_and_the_latest() -> None:
    assert references_for(["a@x", "b@x"], "c@x") == ["a@x", "b@x", "c@x"]
    assert references_for(["a@x", "c@x"], "c@x") == ["a@x", "c@x"]
    long_chain = [f"{n}@x" for n in range(30)]
    assert references_for(long_chain, "new@x") == ["0@x", *[f"{n}@x" for n in range(12, 30)], "new@x"]
    wide = [f"{'x' * 200}-{n}@x" for n in range(10)]
    kept = references_for(wide, "new@x")
    assert (kept[0], kept[-1], sum(len(r) + 3 for r in kept) <= 900) == (wide[0], "new@x", True)


def test_a_reply_is_plain_utf_8_text_threaded_under_the_answered_mail() -> None:
    message = build_reply(
        from_address=MAILBOX,
        from_name="Aurora Coffee",
        reply_to="team@aurora.test",
        to=("Иван Петров", "ivan@example.ru"),
        subject="Ответ: Вопрос о встрече",
        answered="q@example.ru",
        references=["root@example.ru"],
        message_id="communa-abc@aurora.test",
        text="Здравствуйте, Иван!\nДо встречи.",
        now=datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
    )

    assert {name: str(message[name]) for name in message} == {
        "Content-Type": 'text/plain; charset="utf-8"',
        "Content-Transfer-Encoding": "quoted-printable",
        "MIME-Version": "1.0",
        "From": f"Aurora Coffee <{MAILBOX}>",
        "To": "Иван Петров <ivan@example.ru>",
        "Reply-To": "team@aurora.test",
        "Subject": "Re: Вопрос о встрече",
        "Date": "Tue, 03 Mar 2026 10:00:00 +0000",
        "Message-ID": "<communa-abc@aurora.test>",
        "In-Reply-To": "<q@example.ru>",
        "References": "<root@example.ru> <q@example.ru>",
        "Auto-Submitted": "no",
    }
    assert message.get_content() == "Здравствуйте, Иван!\nДо встречи.\n"
    assert message.as_bytes().isascii()  # encoded words and quoted-printable: safe on any relay


# --- cursor and IMAP details -------------------------------------------------------------------------------


def test_the_cursor_resumes_only_in_the_same_folder_and_uidvalidity() -> None:
    cursor = {"folder": "INBOX", "uidvalidity": 77, "last_uid": 12}

    assert resume_after(cursor, folder="INBOX", uidvalidity=77) == 12
    assert resume_after(cursor, folder="INBOX", uidvalidity=78) is None
    assert resume_after(cursor, folder="Support", uidvalidity=77) is None
    assert resume_after({}, folder="INBOX", uidvalidity=77) is None
    assert resume_after({**cursor, "last_uid": 0}, folder="INBOX", uidvalidity=77) is None


def test_folder_names_in_modified_utf_7() -> None:
    assert encode_folder("INBOX") == "INBOX"
    assert encode_folder("Входящие") == "&BBIERQQ+BDQETwRJBDgENQ-"
    assert encode_folder("Soci & Amici/Caffè") == "Soci &- Amici/Caff&AOg-"
    assert decode_folder("&BBIERQQ+BDQETwRJBDgENQ-") == "Входящие"
    assert decode_folder("Soci &- Amici/Caff&AOg-") == "Soci & Amici/Caffè"
    assert decode_folder("broken &@@-") == "broken &@@-"


def test_uid_sets_are_short() -> None:
    assert uid_set([5, 1, 2, 3, 9, 10, 3]) == "1:3,5,9:10"
    assert uid_set([42]) == "42"


def test_fetch_answers_are_split_per_message_wherever_the_server_puts_the_uid() -> None:
    data = [
        (b'1 (UID 11 INTERNALDATE "02-Mar-2026 09:14:07 +0100" RFC822.SIZE 5 BODY[]<0> {5}', b"hello"),
        b")",
        (b"2 (BODY[]<0> {3}", b"bye"),
        b' UID 12 INTERNALDATE " 3-Mar-2026 10:00:00 +0000")',
    ]

    records = list(_fetch_records(data))

    assert [body for _meta, body in records] == [b"hello", b"bye"]
    assert [parse_internaldate(meta) for meta, _body in records] == [
        datetime(2026, 3, 2, 8, 14, 7, tzinfo=UTC),
        datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
    ]
    assert b"UID 12" in records[1][0]


# --- settings -------------------------------------------------------------------------------------------


def test_settings_defaults_and_smtp_credentials_falling_back_to_imap() -> None:
    settings = config()

    assert (settings.imap_port, settings.imap_security, settings.smtp_port, settings.smtp_security) == (
        993,
        "ssl",
        587,
        "starttls",
    )
    assert (settings.folder, settings.idle_seconds, settings.history_days) == ("INBOX", 25, 30)
    assert settings.smtp_login == (MAILBOX, "app-password")
    assert config(smtp_username="relay", smtp_password="other").smtp_login == ("relay", "other")
    assert EmailConfig.secret_field_names() == frozenset({"password", "smtp_password"})


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"imap_security": "none"}, "IMAP without encryption is only allowed for a server on this machine"),
        ({"smtp_security": "none"}, "SMTP without encryption is only allowed for a server on this machine"),
        ({"from_address": "Support <support@aurora.test>"}, "enter an email address"),
        ({"reply_to": "not an address"}, "enter an email address"),
        ({"imap_host": "https://imap.aurora.test"}, "enter a host name"),
        ({"smtp_host": "smtp.aurora.test:587"}, "enter a host name"),
        ({"folder": "INBOX\r\nA1 DELETE INBOX"}, "enter a folder name"),
        ({"idle_seconds": 61}, "less than or equal to 60"),
    ],
)
def test_settings_that_cannot_work_or_are_unsafe_are_refused(overrides: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        config(**overrides)


def test_no_encryption_is_accepted_on_this_machine_only() -> None:
    assert config(imap_host="127.0.0.1", imap_security="none", smtp_host="localhost", smtp_security="none")
    assert [is_loopback(h) for h in ("127.0.0.1", "127.5.0.1", "::1", "[::1]", "localhost", "10.0.0.1", "mail")] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]


# --- the source form ----------------------------------------------------------------------------------


def _email_form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Support mailbox",
        "poll_interval": "300",
        "config_imap_host": "imap.aurora.test",
        "config_imap_port": "993",
        "config_imap_security": "ssl",
        "config_username": MAILBOX,
        "config_password": "app-password",
        "config_folder": "Входящие",
        "config_smtp_host": "smtp.aurora.test",
        "config_smtp_port": "587",
        "config_smtp_security": "starttls",
        "config_from_address": MAILBOX,
        "config_idle_seconds": "25",
        "config_history_days": "30",
    }
    return {**data, **overrides}


def test_a_manager_connects_a_mailbox_and_its_passwords_are_stored_encrypted(
    client: Client, manager: User, workspace: Workspace
) -> None:
    page = login(client, manager).get("/w/acme/sources/new/email/").content.decode()
    assert "None — only for a server on this machine (testing)" in page

    response = client.post("/w/acme/sources/new/email/", _email_form())

    source = Source.objects.get()
    assert (response.status_code, source.kind, source.name) == (302, "email", "Support mailbox")
    assert source.config["folder"] == "Входящие"
    assert "password" not in source.config
    assert "app-password" not in source.secrets
    assert load_config(source).password.get_secret_value() == "app-password"  # type: ignore[attr-defined]


def test_a_mailbox_without_encryption_off_this_machine_is_refused_and_nothing_is_created(
    client: Client, manager: User, workspace: Workspace
) -> None:
    response = login(client, manager).post("/w/acme/sources/new/email/", _email_form(config_imap_security="none"))

    html = response.content.decode()
    assert response.status_code == 400
    assert "IMAP without encryption is only allowed for a server on this machine" in html
    assert "app-password" not in html
    assert Source.objects.count() == 0
