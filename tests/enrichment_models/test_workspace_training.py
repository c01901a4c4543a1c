"""`communa models train --workspace W`: a workspace's own heads from its moderators' corrections."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from communa.accounts.models import User, Workspace
from communa.connectors.models import Source
from communa.enrichment import models
from communa.enrichment.models.runtime import WEIGHTS_DIR, workspace_head_path
from communa.enrichment.services import correct_signal
from communa.ingest.services import ingest_events
from communa.stream.models import Message
from tests.conftest import raw

pytestmark = pytest.mark.django_db

# A trading club where giveaway announcements are the community's own business, not spam.
CLUB_POSTS = [
    f"Crypto giveaway round {i}: the club's monthly draw for members, results at the meetup" for i in range(12)
]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    models.clear_cache()
    yield tmp_path
    models.clear_cache()


def corrected(source: Source, owner: User, workspace: Workspace, label: str, count: int) -> None:
    events = [raw(f"m{i}", text=text, minutes=i) for i, text in enumerate(CLUB_POSTS[:count])]
    for pk in ingest_events(source=source, events=events).message_ids:
        message = Message.objects.get(pk=pk)
        correct_signal(workspace=workspace, message=message, task="spam", label=label, actor=owner)


def test_corrections_train_the_workspace_head(fake_source, owner, workspace, capsys):
    corrected(fake_source, owner, workspace, "not_spam", 12)
    shipped = models.load_head("spam")
    embeddings = models.load_encoder().encode(CLUB_POSTS[:1])
    before = shipped.predict_proba(embeddings, CLUB_POSTS[:1])[0, 0]

    call_command("models", "train", "--workspace", workspace.slug, "--task", "spam")

    own = models.load_head("spam", workspace_id=workspace.pk)
    assert workspace_head_path(workspace.pk, "spam").is_file()
    assert own.version == f"{shipped.version}+ws{workspace.pk}.12"
    assert own.predict_proba(embeddings, CLUB_POSTS[:1])[0, 0] < min(before, 0.5)
    assert "spam: fitted on 12 corrections" in capsys.readouterr().out
    assert not (WEIGHTS_DIR / f"spam+ws{workspace.pk}.npz").exists()


def test_too_few_corrections_keep_the_shipped_head(fake_source, owner, workspace, capsys):
    corrected(fake_source, owner, workspace, "not_spam", 3)

    call_command("models", "train", "--workspace", workspace.slug, "--task", "spam", "--task", "question")

    assert not workspace_head_path(workspace.pk, "spam").exists()
    assert models.load_head("spam", workspace_id=workspace.pk).version == models.load_head("spam").version
    out = capsys.readouterr().out
    assert "spam: 3 correction(s), fewer than 10: keeping the shipped head" in out
    assert "question: 0 correction(s), fewer than 10: keeping the shipped head" in out


def test_an_unknown_workspace_is_refused_without_writing(data_dir):
    with pytest.raises(CommandError, match=r"Training failed \(exit status 2\)"):
        call_command("models", "train", "--workspace", "nobody")
    assert not (data_dir / "models").exists()
