"""Filtering messages by their signals: the query layer (MessageFilter) and the REST API."""

from __future__ import annotations

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.accounts.services import create_api_token
from communa.connectors.models import Source
from communa.enrichment.services import correct_signal, enrich_messages
from communa.ingest.services import ingest_events
from communa.stream.filters import MessageFilter, filter_messages
from communa.stream.models import Message
from tests.conftest import raw
from tests.enrichment.conftest import TinyModels

pytestmark = pytest.mark.django_db


@pytest.fixture
def analysed(fake_source: Source, tiny_models: TinyModels) -> dict[str, int]:
    ids = ingest_events(
        source=fake_source,
        events=[
            raw("love", text="I love this community, great people", minutes=1),
            raw("hate", text="I hate the new design, it is terrible", minutes=2),
            raw("rude", text="you are an idiot", minutes=3),
            raw("ask", text="How do I change my e-mail address", minutes=4),
            raw("shop", text="buy followers cheap at http://spam.example now", minutes=5),
            raw("fresh", text="not analysed yet", minutes=6),
        ],
    ).message_ids
    enrich_messages(message_ids=ids[:-1])
    return dict(Message.objects.values_list("external_id", "pk"))


def matching(workspace: Workspace, **flt: object) -> list[str]:
    qs = filter_messages(workspace=workspace, flt=MessageFilter.model_validate(flt)).order_by("created_at")
    return list(qs.values_list("external_id", flat=True))


def test_filter_by_sentiment(workspace: Workspace, analysed: dict[str, int]) -> None:
    assert matching(workspace, sentiment=["positive"]) == ["love"]
    assert matching(workspace, sentiment=["negative", "positive"]) == ["love", "hate"]
    assert matching(workspace, sentiment=["neutral"]) == ["rude", "ask", "shop"]


def test_filter_by_flags(workspace: Workspace, analysed: dict[str, int]) -> None:
    assert matching(workspace, toxic=True) == ["rude"]
    assert matching(workspace, spam=True) == ["shop"]
    assert matching(workspace, question=True) == ["ask"]
    # false keeps everything not flagged, including what is not analysed yet
    assert matching(workspace, toxic=False) == ["love", "hate", "ask", "shop", "fresh"]
    assert matching(workspace, toxic=False, spam=False, question=False) == ["love", "hate", "fresh"]


def test_filters_combine_with_the_others(workspace: Workspace, analysed: dict[str, int]) -> None:
    assert matching(workspace, sentiment=["negative"], q="design") == ["hate"]
    assert matching(workspace, sentiment=["negative"], q="idiot") == []


def test_a_correction_changes_what_the_filter_finds(
    workspace: Workspace, analysed: dict[str, int], owner: User
) -> None:
    rude = Message.objects.get(pk=analysed["rude"])
    correct_signal(workspace=workspace, message=rude, task="toxicity", label="not_toxic", actor=owner)
    assert matching(workspace, toxic=True) == []


def test_filters_stay_in_the_workspace(
    workspace: Workspace, other_workspace: Workspace, analysed: dict[str, int]
) -> None:
    assert matching(other_workspace, toxic=True) == []


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="sentiment"):
        MessageFilter.model_validate({"sentiment": ["angry"]})


def test_api_filters_and_returns_signals(client: Client, owner: User, analysed: dict[str, int]) -> None:
    _, token = create_api_token(user=owner, name="t")
    headers = {"Authorization": f"Bearer {token}"}

    response = client.get("/api/v1/messages", {"toxic": "true"}, headers=headers)

    assert response.status_code == 200
    [item] = response.json()["items"]
    assert item["external_id"] == "rude"
    signals = item["signals"]
    assert (signals["language"], signals["toxic"], signals["toxicity"], signals["sentiment"]) == ("en", True, 0.9,
                                                                                                 "neutral")  # fmt: skip
    assert signals["toxicity_categories"]["insult"] == 0.85
    assert signals["corrected"] == []
    assert signals["explanation"]["toxicity"][0] == {"code": "category", "category": "insult", "probability": 0.85}
    fresh = client.get("/api/v1/messages", {"q": "analysed"}, headers=headers).json()["items"]
    assert [m["signals"] for m in fresh] == [None]
    bad = client.get("/api/v1/messages", {"sentiment": "angry"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "sentiment", 0]
