"""IRC services (Anope 2.0, from Debian) linked to a test InspIRCd: NickServ accounts and SASL.

InspIRCd offers SASL, and there is a NickServ, only when a services daemon is linked to it. The session's
plain server (tests/servers/inspircd.py) has none, so that the tests of a server *without* SASL stay true;
`services_network` is a second InspIRCd of its own, rendered from the same inspircd.conf plus
tests/servers/templates/inspircd-services.conf (the server link on a loopback port, U-line, SASL target),
with Anope connected to it (tests/servers/templates/anope.conf: NickServ REGISTER without e-mail,
IDENTIFY, SASL, a flat-file database in the session's temporary directory).

The bot's account is registered the way a person would do it: a client with the bot's nick sends
`REGISTER` to NickServ, then leaves. Anope is installed once per machine by scripts/servers/install-anope.sh.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from communa.connectors.irc.protocol import Line
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
from tests.servers.inspircd import InspircdServer, IrcUser, write_certificates

ANOPE_BINARY = Path("/usr/sbin/anope")
ANOPE_MODULES = Path("/usr/lib/anope")
ANOPE_LOCALES = Path("/usr/share/anope/locale")
SERVICES_NAME = "services.communa.test"
ACCOUNT = "communabot"  # the bot's NickServ account, registered under its own nick
LINK_TIMEOUT = 30.0


@dataclasses.dataclass
class ServicesNetwork:
    """An InspIRCd with Anope linked to it, and one registered account (`account` / `account_password`)."""

    irc: InspircdServer
    services: ServerProcess
    account: str
    account_password: str

    def stop(self) -> None:
        self.services.stop()
        self.irc.stop()


def install_anope() -> Path:
    """Install Anope once (under the lock); return the path of its binary."""
    with install_lock("anope") as directory:
        run_install_script("install-anope.sh", directory)
    if not ANOPE_BINARY.exists():
        raise ServerUnavailable(f"install-anope.sh succeeded but there is no {ANOPE_BINARY}")
    return ANOPE_BINARY


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_linked_inspircd(binary: str, data_dir: Path, *, link_password: str) -> tuple[InspircdServer, int]:
    """InspIRCd with a server link port for the services; return it and that port."""
    ca_file, cert_file, key_file = write_certificates(data_dir)
    secrets = {"server_password": random_secret(), "oper_password": random_secret()}
    ports = {"port": free_port(), "tls_port": free_port(), "password_port": free_port()}
    link_port = free_port()
    values = {**ports, **secrets, "cert_file": cert_file, "key_file": key_file, "data_dir": data_dir}
    render_template("inspircd.conf", data_dir / "inspircd.conf", values)
    link_values = {
        "data_dir": data_dir,
        "link_port": link_port,
        "link_password": link_password,
        "services_name": SERVICES_NAME,
    }
    config = render_template("inspircd-services.conf", data_dir / "inspircd-services.conf", link_values)
    args = [binary, f"--config={config}", "--nofork", "--nopid"]
    if os.geteuid() == 0:
        args.append("--runasroot")  # it refuses root otherwise; it binds only the loopback ports above
    process = ServerProcess("InspIRCd (with services)", args, log_path=data_dir / "stdout.log", cwd=data_dir)
    process.start()
    try:
        process.wait_until(lambda: _accepts(ports["port"]) and _accepts(link_port), timeout=20)
    except RuntimeError:
        process.stop()
        raise
    server = InspircdServer(
        process=process,
        port=ports["port"],
        tls_port=ports["tls_port"],
        password_port=ports["password_port"],
        server_password=secrets["server_password"],
        oper_password=secrets["oper_password"],
        ca_file=ca_file,
        data_dir=data_dir,
    )
    return server, link_port


def start_anope(binary: Path, data_dir: Path, *, link_port: int, link_password: str) -> ServerProcess:
    """Anope connecting to the InspIRCd on `link_port`, its configuration and database in `data_dir`."""
    (data_dir / "services.motd").write_text("Communa test services\n")
    values = {
        "data_dir": data_dir,
        "link_port": link_port,
        "link_password": link_password,
        "services_name": SERVICES_NAME,
    }
    render_template("anope.conf", data_dir / "services.conf", values)
    args = [
        str(binary),
        "--nofork",
        f"--confdir={data_dir}",
        f"--dbdir={data_dir}",
        f"--logdir={data_dir}",
        f"--modulesdir={ANOPE_MODULES}",
        f"--localedir={ANOPE_LOCALES}",
    ]
    process = ServerProcess("Anope", args, log_path=data_dir / "anope-stdout.log", cwd=data_dir)
    process.start()
    return process


def _nickserv_notice(line: Line) -> bool:
    return line.command == "NOTICE" and line.nick == "NickServ"


def wait_for_nickserv(irc: InspircdServer, services: ServerProcess) -> None:
    """Until NickServ is on the network (Anope has linked and burst), asked with WHOIS by a passer-by."""
    probe = IrcUser(irc.port, f"probe{os.getpid()}")
    try:
        deadline = time.monotonic() + LINK_TIMEOUT
        while True:
            if services.exited():
                raise RuntimeError(f"Anope exited before linking:\n{services.log_tail()}")
            probe.send("WHOIS", "NickServ")
            answer = probe.wait_for(lambda line: line.command in {"311", "401"}, timeout=5)
            if answer.command == "311":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Anope did not link within {LINK_TIMEOUT} s:\n{services.log_tail()}")
            time.sleep(0.2)
    finally:
        probe.close()


def register_account(irc: InspircdServer, account: str, password: str) -> None:
    """Register `account` with NickServ as its owner would: connect with that nick, REGISTER, leave."""
    owner = IrcUser(irc.port, account)
    try:
        owner.send("PRIVMSG", "NickServ", f"REGISTER {password} {account}@communa.test")
        reply = owner.wait_for(_nickserv_notice)
        if "registered" not in reply.params[-1]:
            raise RuntimeError(f"NickServ refused to register {account}: {reply.params[-1]}")
    finally:
        owner.close()


def start_services_network(inspircd_binary: str, anope_binary: Path, data_dir: Path) -> ServicesNetwork:
    link_password = random_secret()
    irc, link_port = start_linked_inspircd(inspircd_binary, data_dir, link_password=link_password)
    services = start_anope(anope_binary, data_dir, link_port=link_port, link_password=link_password)
    network = ServicesNetwork(irc=irc, services=services, account=ACCOUNT, account_password=random_secret())
    try:
        wait_for_nickserv(irc, services)
        register_account(irc, network.account, network.account_password)
    except BaseException:
        network.stop()
        raise
    return network


@pytest.fixture(scope="session")
def anope_binary() -> Path:
    try:
        return install_anope()
    except ServerUnavailable as exc:
        unavailable("Anope", str(exc))


@pytest.fixture(scope="session")
def services_network_session(
    inspircd_binary: str, anope_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServicesNetwork]:
    network = start_services_network(inspircd_binary, anope_binary, tmp_path_factory.mktemp("anope"))
    try:
        yield network
    finally:
        network.stop()


@pytest.fixture
def services_network(services_network_session: ServicesNetwork) -> Iterator[ServicesNetwork]:
    """The session's InspIRCd + Anope; the people a test connected are disconnected after it."""
    yield services_network_session
    services_network_session.irc.close_users()
