"""The IRC connector logging in to services: SASL PLAIN and NickServ IDENTIFY, against a real InspIRCd with
Anope linked to it (tests/servers/anope.py), where the bot's NickServ account is registered.

Whether the bot is logged in is asked the way anyone on the network would: WHOIS, whose 330 reply names the
account.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from communa.accounts.models import Workspace
from communa.connectors.irc import registry
from communa.connectors.irc.connector import IrcConfig, IrcConnector
from communa.connectors.models import Source
from communa.connectors.services import build_connector, create_source
from communa.core.http import PermanentError
from communa.ingest.services import ingest_events
from communa.stream.models import Message
from tests.servers.anope import ServicesNetwork
from tests.servers.inspircd import IrcUser, channel

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    registry.stop_all()


def bot_config(network: ServicesNetwork, name: str, **login: Any) -> IrcConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": network.irc.port,
        "tls": False,
        "nick": network.account,
        "channels": [name],
        "flood_messages": 50,
        "flood_seconds": 1,
    }
    return IrcConfig.model_validate({**values, **login})


def poll(source: Source) -> None:
    """One listener round: fetch from the saved cursor, ingest."""
    source.refresh_from_db()
    connector = build_connector(source)
    assert isinstance(connector, IrcConnector)
    connector.fetch_wait = 0.3
    result = connector.fetch(source.cursor)
    ingest_events(source=source, events=result.items, cursor=result.cursor, connector=connector)


def connect_bot(workspace: Workspace, network: ServicesNetwork, observer: IrcUser, **login: Any) -> Source:
    """Create the source and let the bot connect until it has joined the observer's channel."""
    name = channel()
    observer.join(name)
    source = create_source(
        workspace=workspace, kind="irc", name="IRC", config=bot_config(network, name, **login), actor=None
    )
    deadline = time.monotonic() + 15
    while not any(line.command == "JOIN" and line.nick == network.account for line in observer.seen):
        assert time.monotonic() < deadline, "the bot did not join within 15 s"
        poll(source)
        observer.read()
    return source


def poll_until_refused(source: Source, *, timeout: float = 10.0) -> None:
    """Poll like the listener until the connector raises (the refusal under test) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poll(source)


def logged_in_as(observer: IrcUser, nick: str, *, wait: float = 5.0) -> str:
    """The account WHOIS says `nick` is logged in as ("" if none); waits up to `wait` s for a login."""
    deadline = time.monotonic() + wait
    while True:
        observer.send("WHOIS", nick)
        account = ""
        while True:
            line = observer.wait_for(lambda line: line.command in {"330", "318"})
            if line.command == "330":
                account = line.param(2)
            else:
                break
        if account or time.monotonic() > deadline:
            return account
        time.sleep(0.2)


def test_sasl_with_the_right_password_logs_the_bot_in(services_network: ServicesNetwork, workspace: Workspace) -> None:
    observer = services_network.irc.user("olivia")
    connect_bot(
        workspace,
        services_network,
        observer,
        sasl_account=services_network.account,
        sasl_password=services_network.account_password,
    )
    # Logged in before registration completed: the very first WHOIS names the account.
    assert logged_in_as(observer, services_network.account, wait=0) == services_network.account


def test_sasl_with_a_wrong_password_disables_the_source(
    services_network: ServicesNetwork, workspace: Workspace
) -> None:
    name = channel()
    config = bot_config(services_network, name, sasl_account=services_network.account, sasl_password="not-the-password")
    source = create_source(workspace=workspace, kind="irc", name="IRC", config=config, actor=None)
    with pytest.raises(
        PermanentError, match=r"^SASL login failed \(904: SASL authentication failed\); check the SASL account"
    ):
        poll_until_refused(source)
    observer = services_network.irc.user("olivia")
    observer.send("WHOIS", services_network.account)
    assert observer.wait_for(lambda line: line.command in {"311", "401"}).command == "401"  # never got on
    assert Message.objects.count() == 0


def test_nickserv_identify_with_the_right_password_logs_the_bot_in(
    services_network: ServicesNetwork, workspace: Workspace
) -> None:
    observer = services_network.irc.user("olivia")
    connect_bot(workspace, services_network, observer, nickserv_password=services_network.account_password)
    assert logged_in_as(observer, services_network.account) == services_network.account


def test_nickserv_identify_with_a_wrong_password_disables_the_source(
    services_network: ServicesNetwork, workspace: Workspace
) -> None:
    observer = services_network.irc.user("olivia")
    name = channel()
    observer.join(name)
    config = bot_config(services_network, name, nickserv_password="not-the-password")
    source = create_source(workspace=workspace, kind="irc", name="IRC", config=config, actor=None)
    with pytest.raises(
        PermanentError,
        match=r"^NickServ refused the bot's password \(Password incorrect\.\): check the NickServ password$",
    ):
        poll_until_refused(source)
    # It had joined before NickServ answered; refused, it leaves instead of staying on, logged out.
    observer.wait_for(lambda line: line.command == "QUIT" and line.nick == services_network.account)
    assert logged_in_as(observer, services_network.account, wait=0) == ""
