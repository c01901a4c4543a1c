"""Moderator corrections: who may correct, what is stored and audited, what the page shows, what training reads."""

from __future__ import annotations

import pytest
from django.test import Client

from communa.accounts.models import User
from communa.audit.models import AuditEntry
from communa.connectors.models import Source
from communa.enrichment.selectors import corrections
from communa.enrichment.services import InvalidCorrection, correct_signal, enrich_messages
from communa.enrichment.tables import MessageSignals, SignalLabel
from communa.ingest.services import ingest_events
from communa.stream.models import Message
from tests.conftest import login, raw
from tests.enrichment.conftest import TinyModels

pytestmark = pytest.mark.django_db


@pytest.fixture
def toxic_message(fake_source: Source, tiny_models: TinyModels) -> Message:
    [pk] = ingest_events(source=fake_source, events=[raw("a", text="you are an idiot, said the song")]).message_ids
    enrich_messages(message_ids=[pk])
    return Message.objects.get(pk=pk)


def url(message: Message, slug: str = "acme") -> str:
    return f"/w/{slug}/signals/{message.pk}/correct"


def test_a_volunteer_corrects_a_flag(client: Client, volunteer: User, toxic_message: Message) -> None:
    response = login(client, volunteer).post(url(toxic_message), {"task": "toxicity", "label": "not_toxic"},
                                             headers={"HX-Request": "true"})  # fmt: skip

    assert response.status_code == 200
    signals = MessageSignals.objects.get(pk=toxic_message.pk)
    assert (signals.is_toxic, signals.is_toxic_corrected, signals.toxicity_score) == (False, False, 0.9)
    label = SignalLabel.objects.get()
    assert (label.workspace_id, label.message_id, label.task, label.label, label.created_by) == (
        toxic_message.workspace_id, toxic_message.pk, "toxicity", "not_toxic", volunteer
    )  # fmt: skip
    entry = AuditEntry.objects.get(action="signal.corrected")
    assert (entry.actor, entry.target_id, entry.data) == (volunteer, str(toxic_message.pk),
                                                          {"task": "toxicity", "label": "not_toxic"})  # fmt: skip
    html = response.content.decode()
    assert f'id="signals-{toxic_message.pk}"' in html
    assert "signal-toxic" not in html  # the Toxic badge is gone


def test_a_form_post_without_htmx_goes_back_to_the_stream(
    client: Client, manager: User, toxic_message: Message
) -> None:
    response = login(client, manager).post(url(toxic_message), {"task": "sentiment", "label": "positive"})
    assert response.status_code == 302
    assert response["Location"] == f"/w/acme/stream/#message-{toxic_message.pk}"
    assert MessageSignals.objects.get(pk=toxic_message.pk).sentiment == "positive"


def test_an_analyst_may_not_correct(client: Client, analyst: User, toxic_message: Message) -> None:
    response = login(client, analyst).post(url(toxic_message), {"task": "toxicity", "label": "not_toxic"})
    assert response.status_code == 403
    assert SignalLabel.objects.count() == 0
    assert MessageSignals.objects.get(pk=toxic_message.pk).is_toxic is True
    assert not AuditEntry.objects.filter(action="signal.corrected").exists()


def test_an_outsider_learns_nothing(client: Client, outsider: User, toxic_message: Message) -> None:
    assert (
        login(client, outsider).post(url(toxic_message), {"task": "toxicity", "label": "not_toxic"}).status_code == 404
    )
    # …not through their own workspace either: the message is not theirs.
    assert client.post(url(toxic_message, "rival"), {"task": "toxicity", "label": "not_toxic"}).status_code == 404
    assert SignalLabel.objects.count() == 0
    assert MessageSignals.objects.get(pk=toxic_message.pk).is_toxic is True


def test_signed_out_and_get_are_refused(client: Client, toxic_message: Message, volunteer: User) -> None:
    assert client.post(url(toxic_message), {"task": "toxicity", "label": "not_toxic"}).status_code == 302
    assert login(client, volunteer).get(url(toxic_message)).status_code == 405
    assert SignalLabel.objects.count() == 0


@pytest.mark.parametrize(("task", "label"), [("toxicity", "positive"), ("language", "it"), ("spam", ""), ("", "")])
def test_nonsense_labels_are_refused(
    client: Client, volunteer: User, toxic_message: Message, task: str, label: str
) -> None:
    assert login(client, volunteer).post(url(toxic_message), {"task": task, "label": label}).status_code == 400
    assert SignalLabel.objects.count() == 0


def test_correcting_a_message_not_analysed_yet(fake_source: Source, owner: User, tiny_models: TinyModels) -> None:
    [pk] = ingest_events(
        source=fake_source, events=[raw("a", text="I cannot find the meetup room, anyone there")]
    ).message_ids
    message = Message.objects.get(pk=pk)
    correct_signal(workspace=message.source.workspace, message=message, task="question", label="question", actor=owner)
    signals = MessageSignals.objects.get(pk=pk)
    assert (signals.is_question, signals.is_question_corrected, signals.computed_at) == (True, True, None)

    enrich_messages(message_ids=[pk])  # the analysis arrives later and keeps the person's answer

    signals.refresh_from_db()
    assert (signals.is_question, signals.question_score, signals.language) == (True, 0.1, "en")


def test_the_service_refuses_another_workspace_message(
    toxic_message: Message, other_workspace: object, owner: User
) -> None:
    with pytest.raises(InvalidCorrection):
        correct_signal(workspace=other_workspace, message=toxic_message, task="spam", label="spam", actor=owner)  # type: ignore[arg-type]
    assert SignalLabel.objects.count() == 0


def test_training_reads_the_newest_correction_per_message(
    fake_source: Source, owner: User, manager: User, tiny_models: TinyModels
) -> None:
    ids = ingest_events(source=fake_source, events=[raw("a", text="first"), raw("b", text="second", title="Topic"),
                                                    raw("c", text="third")]).message_ids  # fmt: skip
    a, b, c = Message.objects.filter(pk__in=ids).order_by("external_id")
    ws = a.source.workspace
    correct_signal(workspace=ws, message=a, task="sentiment", label="negative", actor=owner)
    correct_signal(workspace=ws, message=a, task="sentiment", label="positive", actor=manager)  # changed mind
    correct_signal(workspace=ws, message=b, task="sentiment", label="neutral", actor=owner)
    correct_signal(workspace=ws, message=c, task="spam", label="not_spam", actor=owner)
    Message.objects.filter(pk=c.pk).update(deleted_at=c.created_at)

    assert corrections(ws.pk, "sentiment") == [("first", "positive"), ("Topic\nsecond", "neutral")]
    assert corrections(ws.pk, "spam") == []  # deleted on the platform: not learnt from
    assert corrections(ws.pk + 1000, "sentiment") == []
