"""The outbox against a real Synapse that goes away: a reply waits, goes out once when the server is back,
and an unknown outcome settled by asking again (same transaction id) still leaves one message in the room.

The test starts a Synapse of its own, because it stops it: the shared `synapse` fixture stays up for others.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.connectors.base import ReplyTarget
from communa.connectors.matrix.connector import MatrixConfig
from communa.connectors.services import create_source
from communa.outbox import services
from communa.outbox.models import OutboxItem
from tests.servers.base import ServerProcess, ServerUnavailable, unavailable
from tests.servers.synapse import MatrixUser, _healthy, install_synapse, register, start_synapse

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.django_db]


class PrivateSynapse:
    def __init__(self, process: ServerProcess, base_url: str, secret: str) -> None:
        self.process, self.base_url, self.secret = process, base_url, secret

    def stop(self) -> None:
        self.process.stop()
        assert not _healthy(self.base_url)

    def start_again(self) -> None:
        self.process.start()  # same config file: same port, same database, same accounts
        self.process.wait_until(lambda: _healthy(self.base_url))


@pytest.fixture
def private_synapse(tmp_path: Path) -> Iterator[PrivateSynapse]:
    try:
        python = install_synapse()
    except ServerUnavailable as exc:
        unavailable("Synapse", str(exc))
    process, base_url, secret = start_synapse(python, tmp_path)
    try:
        yield PrivateSynapse(process, base_url, secret)
    finally:
        process.stop()


def bot_messages(member: MatrixUser, room: str, bot_user_id: str) -> list[str]:
    return [
        e["content"].get("body", "")
        for e in member.timeline(room)
        if e["type"] == "m.room.message" and e["sender"] == bot_user_id
    ]


def test_a_reply_waits_for_the_server_and_arrives_exactly_once(
    private_synapse: PrivateSynapse, workspace: Workspace
) -> None:
    server = private_synapse
    owner = MatrixUser(server.base_url, register(server.base_url, server.secret, "olivia", admin=True))
    member = MatrixUser(server.base_url, register(server.base_url, server.secret, "alice"))
    bot_account = register(server.base_url, server.secret, "communa-bot")
    bot = MatrixUser(server.base_url, bot_account)
    room = owner.create_room(invite=(member.user_id, bot.user_id))
    member.join(room)
    bot.join(room)
    question = member.say(room, "When is the next meetup?")
    config = MatrixConfig.model_validate(
        {
            "homeserver": server.base_url,
            "user_id": bot.user_id,
            "access_token": bot_account.access_token,
            "rooms": [room],
            "sync_timeout_seconds": 0,
        }
    )
    source = create_source(workspace=workspace, kind="matrix", name="Room", config=config, actor=None)
    item = services.enqueue_reply(
        workspace=workspace,
        source=source,
        target=ReplyTarget(channel=room, message_external_id=question),
        text="Next Thursday at 18:00!",
        idempotency_key="inbox-reply-1",
        origin="inbox.reply:1",
    )

    server.stop()
    assert services.deliver(item_id=item.pk) == "pending"
    item.refresh_from_db()
    assert item.error.startswith("could not reach ")
    assert item.not_before > timezone.now()

    server.start_again()
    OutboxItem.objects.filter(pk=item.pk).update(not_before=timezone.now())
    assert services.sweep()["started"] == 1
    assert services.deliver(item_id=item.pk) == "sent"
    item.refresh_from_db()
    assert item.result_external_id.startswith("$")
    assert bot_messages(member, room, bot.user_id) == ["Next Thursday at 18:00!"]

    # Pretend the answer to that send was lost (a timeout after the server wrote the event): the outbox asks
    # again with the same transaction id, and Synapse answers with the first event instead of a second one.
    first_event = item.result_external_id
    OutboxItem.objects.filter(pk=item.pk).update(state="unknown", not_before=timezone.now())
    assert services.sweep()["reconciling"] == 1
    assert services.deliver(item_id=item.pk) == "sent"
    item.refresh_from_db()
    assert item.result_external_id == first_event
    assert bot_messages(member, room, bot.user_id) == ["Next Thursday at 18:00!"]
    for user in (owner, member, bot):
        user.close()
