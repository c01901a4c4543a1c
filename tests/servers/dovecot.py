"""A real mail system for the tests: Dovecot (IMAP + LMTP) with SMTP servers in front, all on 127.0.0.1.

`mail_server` is a session-scoped fixture: each pytest-xdist worker starts its own Dovecot (about 0.2 s,
~10 MB) from tests/servers/templates/dovecot.conf, in a temporary directory, on free loopback ports. Dovecot
comes from Debian's packages (scripts/servers/install-dovecot.sh, once per machine, under a file lock).

Unprivileged: every Dovecot process runs as the user running the tests, or as `nobody` when that is root
(Dovecot refuses to keep mail as root, and a test server has no business with root's powers). That is why
the directory is made with `tempfile` rather than pytest's tmp_path: pytest's base directory is private to
the user running the tests, and `nobody` could not enter it. It is removed at the end of the session.

SMTP: two aiosmtpd servers in this process (a thread each), delivering into Dovecot over LMTP before they
answer 250, so a test can read what it sent as soon as `send` returns:
- `mx`: the mailbox's incoming server, as the world sees it (no login), accepting mail for @example.test;
- `submission`: where the connector sends from (login required, STARTTLS offered), plus `submissions` with
  implicit TLS. Mail to any other domain is refused with 550: nothing can leave this machine.
aiosmtpd rather than Postfix: it needs no root and no system-wide state (Postfix's master insists on root and
its own queue, and two xdist workers would need two fully separate instances), starts in milliseconds inside
the test process with nothing left running afterwards, delivers synchronously (no queue to poll in tests),
and records every envelope, so a test can check a blind copy that no header shows.

TLS: a throwaway certificate authority made for the session (`ca_file`) signs the certificate of 127.0.0.1
that Dovecot and the SMTP servers present. Tests that use TLS point OpenSSL at it (`SSL_CERT_FILE`), so the
connector's ordinary certificate checks run unchanged.

The deviations from tests/servers/base.py: ServerProcess has no way to start a process as another user, so
the command is prefixed with util-linux's `setpriv` under root; and there is no base helper for in-process
servers, so the SMTP servers are managed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import email
import email.policy
import grp
import imaplib
import ipaddress
import itertools
import logging
import os
import pwd
import shutil
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers.base import (
    ServerProcess,
    ServerUnavailable,
    free_port,
    install_lock,
    render_template,
    run_install_script,
    unavailable,
)

DOMAIN = "example.test"
HOST = "127.0.0.1"
# Every account's password; not ASCII, so that every test logs in the way a Russian or Italian user might.
PASSWORD = "pässwörd-Кофе"
START_ATTEMPTS = 3  # a free port can be taken between the probe and the bind: try others


@dataclasses.dataclass(frozen=True)
class Mailbox:
    """An account on the test server; its login is its address."""

    address: str
    password: str

    @property
    def username(self) -> str:
        return self.address


@dataclasses.dataclass(frozen=True)
class Received:
    """One mail an SMTP server accepted: the envelope (which shows blind copies) and the bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)


# --- TLS ----------------------------------------------------------------------------------------------


def make_certificates(directory: Path) -> Path:
    """A CA (ca.pem) and a certificate for 127.0.0.1/localhost it signed (server.pem, server.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Communa test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory / "ca.pem"


def server_tls_context(directory: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    return context


# --- SMTP in front of Dovecot ----------------------------------------------------------------------------


class LmtpDelivery:
    """The aiosmtpd handler: local recipients only, each delivered into Dovecot over LMTP before 250."""

    def __init__(self, lmtp_port: int) -> None:
        self.lmtp_port = lmtp_port
        self.received: list[Received] = []

    async def handle_RCPT(  # noqa: N802 — aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not address.lower().endswith(f"@{DOMAIN}"):
            return "550 5.7.1 Relay denied: this test server delivers nothing outside example.test"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        failures = await loop.run_in_executor(None, self._deliver, envelope.mail_from, envelope.rcpt_tos, content)
        if failures:
            return f"451 4.3.0 LMTP delivery failed: {failures}"
        self.received.append(Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), content))
        return "250 2.0.0 Delivered"

    def _deliver(self, mail_from: str | None, recipients: list[str], content: bytes) -> str:
        """One LMTP transaction per recipient: smtplib reads one answer after DATA, LMTP gives one each."""
        failures = []
        for recipient in recipients:
            try:
                with smtplib.LMTP(HOST, self.lmtp_port, timeout=10) as lmtp:
                    lmtp.sendmail(mail_from or "", [recipient], content)
            except smtplib.SMTPException as exc:
                failures.append(f"{recipient}: {exc}")
        return "; ".join(failures)


def _start_smtp(handler: LmtpDelivery, **options: Any) -> tuple[Controller, int]:
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        controller = Controller(handler, hostname=HOST, port=port, ready_timeout=10, **options)
        try:
            controller.start()
        except OSError:
            if attempt == START_ATTEMPTS:
                raise
            continue
        return controller, port
    raise AssertionError("unreachable")


# --- Dovecot --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class MailServer:
    directory: Path
    imap_port: int
    imaps_port: int
    lmtp_port: int
    mx_port: int
    submission_port: int
    submissions_port: int
    ca_file: Path
    mx: LmtpDelivery
    submission: LmtpDelivery
    host: str = HOST
    _names: Iterator[int] = dataclasses.field(default_factory=lambda: itertools.count(1))

    def mailbox(self, name: str) -> Mailbox:
        """A new, empty account of its own for a test (every address @example.test exists, see the config)."""
        return Mailbox(address=f"{name}-{next(self._names)}@{DOMAIN}", password=PASSWORD)

    def deliver(
        self, content: bytes | EmailMessage, *, to: list[str], mail_from: str = "someone@elsewhere.test"
    ) -> None:
        """Mail from the outside world, through the mailbox's incoming SMTP server."""
        data = content.as_bytes() if isinstance(content, EmailMessage) else content
        with smtplib.SMTP(HOST, self.mx_port, timeout=10) as smtp:
            smtp.sendmail(mail_from, to, data)

    @contextlib.contextmanager
    def imap(self, box: Mailbox) -> Iterator[imaplib.IMAP4]:
        """A plain IMAP session as `box`, for a test's own look at a mailbox."""
        conn = imaplib.IMAP4(HOST, self.imap_port, timeout=10)
        try:
            credentials = f"\0{box.username}\0{box.password}".encode()
            conn.authenticate("PLAIN", lambda _challenge: credentials)
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def messages(self, box: Mailbox, folder: str = "INBOX") -> list[EmailMessage]:
        """Every mail in `folder`, oldest first, parsed."""
        with self.imap(box) as conn:
            conn.select(folder, readonly=True)
            _status, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
        return [
            email.message_from_bytes(item[1], policy=email.policy.default) for item in data if isinstance(item, tuple)
        ]

    def recreate_folder(self, box: Mailbox, folder: str) -> None:
        """Delete and create `folder` again: the server gives it a new UIDVALIDITY."""
        with self.imap(box) as conn:
            for command in (conn.delete, conn.create):
                status, answer = command(folder)
                assert status == "OK", answer

    def uidvalidity(self, box: Mailbox, folder: str = "INBOX") -> int:
        with self.imap(box) as conn:
            conn.select(folder, readonly=True)
            return int(conn.response("UIDVALIDITY")[1][0])


def install_dovecot() -> float:
    """Install Debian's Dovecot once per machine (under the lock); return the seconds it took (~20 s cold)."""
    with install_lock("dovecot") as directory:
        return run_install_script("install-dovecot.sh", directory)


def _run_as() -> tuple[str, str, int, int]:
    """(user, group, uid, gid) Dovecot runs as: the current user, or nobody when that is root."""
    uid = os.geteuid()
    entry = pwd.getpwnam("nobody") if uid == 0 else pwd.getpwuid(uid)
    return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid


def _imap_greets(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def start_dovecot(directory: Path) -> tuple[ServerProcess, dict[str, int]]:
    """Render the config on free ports and start Dovecot in the foreground; retry on a lost port race."""
    user, group, uid, gid = _run_as()
    for attempt in range(1, START_ATTEMPTS + 1):
        ports = {"imap_port": free_port(), "imaps_port": free_port(), "lmtp_port": free_port()}
        values = {"dir": directory, "user": user, "group": group, "uid": uid, "password": PASSWORD, **ports}
        config = render_template("dovecot.conf", directory / "dovecot.conf", values)
        command = [shutil.which("dovecot") or "/usr/sbin/dovecot", "-F", "-c", str(config)]
        if os.geteuid() == 0:
            command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *command]
        process = ServerProcess("Dovecot", command, log_path=directory / "stdout.log", cwd=directory)
        process.start()
        try:
            process.wait_until(lambda port=ports["imap_port"]: _imap_greets(port), timeout=20)  # type: ignore[misc]
        except RuntimeError:
            process.stop()
            if attempt == START_ATTEMPTS:
                raise
            continue
        return process, ports
    raise AssertionError("unreachable")


def _prepare_directory() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="communa-dovecot-"))
    make_certificates(directory)
    _user, _group, uid, gid = _run_as()
    for path in [directory, *directory.iterdir()]:
        os.chown(path, uid, gid)
    return directory


@pytest.fixture(scope="session")
def mail_server() -> Iterator[MailServer]:
    """Dovecot and its SMTP servers, running for the session; everything stopped and removed at the end."""
    try:
        install_dovecot()
    except ServerUnavailable as exc:
        unavailable("Dovecot", str(exc))
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
    directory = _prepare_directory()
    process: ServerProcess | None = None
    controllers: list[Controller] = []
    try:
        process, ports = start_dovecot(directory)
        tls = server_tls_context(directory)
        mx, submission = LmtpDelivery(ports["lmtp_port"]), LmtpDelivery(ports["lmtp_port"])
        mx_controller, mx_port = _start_smtp(mx)
        controllers.append(mx_controller)
        auth = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False, "tls_context": tls}
        plain_controller, submission_port = _start_smtp(submission, **auth)
        controllers.append(plain_controller)
        tls_controller, submissions_port = _start_smtp(
            submission, ssl_context=tls, authenticator=authenticate, auth_required=True, auth_require_tls=False
        )
        controllers.append(tls_controller)
        server = MailServer(
            directory=directory,
            mx_port=mx_port,
            submission_port=submission_port,
            submissions_port=submissions_port,
            ca_file=directory / "ca.pem",
            mx=mx,
            submission=submission,
            **ports,
        )
        yield server
    finally:
        for controller in controllers:
            controller.stop()
        if process is not None:
            process.stop()
        shutil.rmtree(directory, ignore_errors=True)


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    """aiosmtpd authenticator with Dovecot's rule: any address @example.test, with the one password."""
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    login = auth_data.login.decode("utf-8", "replace")
    password = auth_data.password.decode("utf-8", "replace")
    return AuthResult(success=login.endswith(f"@{DOMAIN}") and password == PASSWORD, handled=False)
