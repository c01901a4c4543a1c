"""A real IRC server (InspIRCd 3, from Debian) for the tests, and the people who talk on it.

Why InspIRCd rather than ngIRCd: it speaks the IRCv3 the connector uses (server-time, msgid, echo-message,
account-tag, extended-join, WHOX), has a mute extban, and adds no penalty delay per JOIN or MODE, so tests
stay fast. It is installed once per machine by scripts/servers/install-inspircd.sh (apt-get, as root), under
the file lock of tests/servers/base.py.

`inspircd` is a session-scoped fixture: each pytest-xdist worker starts its own server (about 1 s, ~7 MB) on
free loopback ports, rendered from tests/servers/templates/inspircd.conf:

- `port`: plain text; `tls_port`: TLS with a certificate for 127.0.0.1/localhost signed by a throwaway CA
  (`ca_file`, so a test can trust it); `password_port`: asks for `server_password`;
- an IRC operator `admin` / `oper_password`; channel creators get +o; no fake lag; no DNS or ident lookups.

Channels live as long as someone is in them, so each test uses its own channel names (`channel()`), and
`IrcUser` connections are closed at the end of each test. `start_inspircd` starts a separate server for
a test that stops and restarts it (reconnection).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import ipaddress
import itertools
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from communa.connectors.irc.protocol import Line, format_line, parse_line
from tests.servers.base import (
    ServerProcess,
    ServerUnavailable,
    free_port,
    install_lock,
    random_secret,
    render_template,
    run_install_script,
    unavailable,
)

START_ATTEMPTS = 3
_channels = itertools.count(1)


def channel(name: str = "community") -> str:
    """A channel name no other test of this process uses."""
    return f"#{name}-{os.getpid()}-{next(_channels)}"


class IrcUser:
    """A person on the test server, speaking raw IRC over a socket (the platform's side of a test)."""

    def __init__(self, port: int, nick: str, *, caps: tuple[str, ...] = ()) -> None:
        self.nick = nick
        self.seen: list[Line] = []
        self._pending = b""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.settimeout(0.2)
        if caps:
            self.send("CAP", "REQ", " ".join(caps))
        self.send("NICK", nick)
        self.send("USER", nick[:10], "0", "*", f"{nick} (test)")
        if caps:
            self.send("CAP", "END")
        self.wait_for(lambda line: line.command == "001")

    def send(self, command: str, *params: str) -> None:
        self.send_raw(format_line(command, *params).encode() + b"\r\n")

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> list[Line]:
        """The lines that arrived since the last read (PINGs are answered)."""
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return []
        if not data:
            raise ConnectionError(f"{self.nick}: the server closed the connection")
        *complete, self._pending = (self._pending + data).split(b"\n")
        lines = [parse_line(raw.rstrip(b"\r").decode("utf-8", "replace")) for raw in complete if raw.strip()]
        for line in lines:
            if line.command == "PING":
                self.send("PONG", line.params[-1])
        self.seen.extend(lines)
        return lines

    def wait_for(self, predicate: Callable[[Line], bool], *, timeout: float = 10.0) -> Line:
        """The first line, already seen or still to come, that satisfies `predicate`; it is consumed."""
        deadline = time.monotonic() + timeout
        while True:
            for index, line in enumerate(self.seen):
                if predicate(line):
                    del self.seen[index]
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.nick}: no such line within {timeout} s")
            self.read()

    def join(self, name: str) -> None:
        self.send("JOIN", name)
        self.wait_for(lambda line: line.command == "JOIN" and line.nick == self.nick and line.param(0) == name)

    def say(self, name: str, text: str) -> None:
        self.send("PRIVMSG", name, text)

    def mode(self, name: str, *args: str) -> None:
        self.send("MODE", name, *args)
        self.wait_for(lambda line: line.command == "MODE" and line.param(0) == name)

    def sees_message(self, name: str, text: str, *, timeout: float = 10.0) -> Line:
        return self.wait_for(
            lambda line: line.command == "PRIVMSG" and line.param(0) == name and line.params[-1] == text,
            timeout=timeout,
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("QUIT", "bye")
        self.sock.close()


@dataclasses.dataclass
class InspircdServer:
    process: ServerProcess
    port: int
    tls_port: int
    password_port: int
    server_password: str
    oper_password: str
    ca_file: Path
    data_dir: Path
    users: list[IrcUser] = dataclasses.field(default_factory=list)

    def user(self, nick: str, **options: tuple[str, ...]) -> IrcUser:
        """A person connected now; disconnected by `close_users` (after each test)."""
        person = IrcUser(self.port, nick, **options)
        self.users.append(person)
        return person

    def close_users(self) -> None:
        for person in self.users:
            person.close()
        self.users.clear()

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        """Start again on the same ports (after `stop`): what an IRC network's restart looks like."""
        self.process.start()
        self.process.wait_until(lambda: _accepts(self.port))


def install_inspircd() -> str:
    """Install InspIRCd once (under the lock); return the path of its binary."""
    with install_lock("inspircd") as directory:
        run_install_script("install-inspircd.sh", directory)
    binary = shutil.which("inspircd") or "/usr/sbin/inspircd"
    if not Path(binary).exists():
        raise ServerUnavailable("install-inspircd.sh succeeded but there is no inspircd binary")
    return binary


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost: (ca, cert, key) files."""
    now = datetime.datetime.now(tz=datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Communa test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file


def start_inspircd(binary: str, data_dir: Path) -> InspircdServer:
    """Start InspIRCd on free ports in `data_dir`; retried on other ports if one was taken meanwhile."""
    ca_file, cert_file, key_file = write_certificates(data_dir)
    secrets = {"server_password": random_secret(), "oper_password": random_secret()}
    for attempt in range(1, START_ATTEMPTS + 1):
        ports = {"port": free_port(), "tls_port": free_port(), "password_port": free_port()}
        values = {**ports, **secrets, "cert_file": cert_file, "key_file": key_file, "data_dir": data_dir}
        config = render_template("inspircd.conf", data_dir / "inspircd.conf", values)
        args = [binary, f"--config={config}", "--nofork", "--nopid"]
        if os.geteuid() == 0:
            args.append("--runasroot")  # it refuses root otherwise; it binds only the loopback ports above
        process = ServerProcess("InspIRCd", args, log_path=data_dir / "stdout.log", cwd=data_dir)
        process.start()
        try:
            process.wait_until(lambda port=ports["port"]: _accepts(port), timeout=20)  # type: ignore[misc]
        except RuntimeError:
            process.stop()
            if attempt == START_ATTEMPTS:
                raise
            continue
        return InspircdServer(process=process, ca_file=ca_file, data_dir=data_dir, **ports, **secrets)
    raise AssertionError("unreachable")


def _binary() -> str:
    try:
        return install_inspircd()
    except ServerUnavailable as exc:
        unavailable("InspIRCd", str(exc))


@pytest.fixture(scope="session")
def inspircd_binary() -> str:
    return _binary()


@pytest.fixture(scope="session")
def inspircd_session(inspircd_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InspircdServer]:
    server = start_inspircd(inspircd_binary, tmp_path_factory.mktemp("inspircd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def inspircd(inspircd_session: InspircdServer) -> Iterator[InspircdServer]:
    """The session's running InspIRCd; the people a test connected are disconnected after it."""
    yield inspircd_session
    inspircd_session.close_users()
