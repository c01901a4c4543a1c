"""Merge and undo: identities and messages move, the snapshot restores exactly, audit entries hold no text."""

from __future__ import annotations

from typing import Any

import pytest

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.members.models import Identity, Member, MergeRecord, MergeSuggestion
from communa.members.services import (
    MergeError,
    decide_suggestion,
    generate_suggestions,
    merge_members,
    refresh_activity,
    undo_merge,
)
from communa.stream.models import Message
from tests.members.conftest import say


def db_state(workspace: Workspace) -> dict[str, Any]:
    """Everything a merge may touch, as plain values."""
    return {
        "members": list(Member.objects.filter(workspace=workspace).order_by("id").values()),
        "identities": list(Identity.objects.filter(workspace=workspace).order_by("id").values()),
        "messages": list(
            Message.objects.filter(workspace=workspace).order_by("id").values("id", "member_id", "identity_id")
        ),
        "suggestions": list(MergeSuggestion.objects.filter(workspace=workspace).order_by("id").values()),
    }


@pytest.fixture
def lucia(workspace: Workspace) -> tuple[Member, Member]:
    """Lucía on Matrix (two messages) and on IRC (one), plus an unrelated member."""
    mxid = "@lucia_r:example.org"
    say(workspace, "matrix:example.org", mxid, handle=mxid, name="Lucía Romero", text="hola", minutes=1, language="es")
    matrix = say(
        workspace, "matrix:example.org", mxid, handle=mxid, name="Lucía Romero", text="¿y?", minutes=5, language="es"
    )
    irc = say(
        workspace, "irc:libera.chat", "lucia_r", handle="lucia_r", name="lucia_r", text="hi", minutes=9, language="en"
    )
    say(workspace, "irc:libera.chat", "bob", handle="bob", name="bob", minutes=3)
    member_ids = list(Member.objects.filter(workspace=workspace).values_list("id", flat=True))
    refresh_activity(member_ids=member_ids)
    return Member.objects.get(pk=matrix.member_id), Member.objects.get(pk=irc.member_id)


def test_merge_moves_identities_and_messages(workspace: Workspace, owner: User, lucia: tuple[Member, Member]) -> None:
    into, other = lucia
    record = merge_members(workspace=workspace, into=into, merged=other, actor=owner)

    assert set(Identity.objects.filter(member=into).values_list("platform", flat=True)) == {
        "matrix:example.org",
        "irc:libera.chat",
    }
    assert Message.objects.filter(member=into).count() == 3
    assert Message.objects.filter(member=other).count() == 0
    into.refresh_from_db()
    other.refresh_from_db()
    assert (into.message_count, other.message_count, other.merged_into_id) == (3, 0, into.pk)
    assert into.last_seen_at == Message.objects.get(text="hi").created_at
    assert sorted(record.snapshot["message_ids"]) == list(
        Message.objects.filter(text="hi").values_list("id", flat=True)
    )
    entry = AuditEntry.objects.get(action="members.merged")
    assert (entry.actor, entry.workspace, entry.target_id) == (owner, workspace, str(into.pk))
    assert entry.data == {
        "merge_id": record.pk,
        "into": into.pk,
        "merged": other.pk,
        "reason": "manual",
        "identities": 1,
        "messages": 1,
    }


def test_undo_restores_exactly_the_state_before_the_merge(
    workspace: Workspace, owner: User, lucia: tuple[Member, Member]
) -> None:
    generate_suggestions(workspace=workspace)
    suggestion = MergeSuggestion.objects.get(workspace=workspace)
    before = db_state(workspace)

    record = decide_suggestion(workspace=workspace, suggestion=suggestion, accept=True, actor=owner)
    assert record is not None
    assert db_state(workspace) != before
    undo_merge(workspace=workspace, record=record, actor=owner)

    assert db_state(workspace) == before
    record.refresh_from_db()
    assert (record.undone_by, record.undone_at is not None) == (owner, True)
    undo = AuditEntry.objects.get(action="members.merge_undone")
    assert undo.data == {"merge_id": record.pk, "into": lucia[0].pk, "merged": lucia[1].pk, "identities": 1}
    texts = {m.text for m in Message.objects.all()}
    for entry in AuditEntry.objects.filter(action__startswith="members."):
        assert not any(text in str(entry.data) for text in texts)


def test_messages_arriving_after_a_merge_follow_their_identity_on_undo(
    workspace: Workspace, owner: User, lucia: tuple[Member, Member]
) -> None:
    into, other = lucia
    record = merge_members(workspace=workspace, into=into, merged=other, actor=owner)
    say(workspace, "irc:libera.chat", "lucia_r", handle="lucia_r", text="later", minutes=30)
    assert Message.objects.get(text="later").member_id == into.pk  # ingest follows the identity's member

    undo_merge(workspace=workspace, record=record, actor=owner)

    assert set(Message.objects.filter(member=other).values_list("text", flat=True)) == {"hi", "later"}
    other.refresh_from_db()
    assert (other.message_count, other.merged_into_id) == (2, None)


def test_undo_refuses_when_the_member_was_merged_again(
    workspace: Workspace, owner: User, lucia: tuple[Member, Member]
) -> None:
    into, other = lucia
    bob = Member.objects.get(workspace=workspace, display_name="bob")
    first = merge_members(workspace=workspace, into=into, merged=other, actor=owner)
    merge_members(workspace=workspace, into=bob, merged=into, actor=owner)
    state = db_state(workspace)

    with pytest.raises(MergeError):
        undo_merge(workspace=workspace, record=first, actor=owner)
    with pytest.raises(MergeError):
        merge_members(workspace=workspace, into=bob, merged=into, actor=owner)

    assert db_state(workspace) == state
    assert MergeRecord.objects.filter(undone_at__isnull=False).count() == 0


def test_merging_across_workspaces_is_refused(
    workspace: Workspace, other_workspace: Workspace, owner: User, lucia: tuple[Member, Member]
) -> None:
    stranger = say(other_workspace, "irc:libera.chat", "eve", handle="eve")
    state = db_state(workspace)
    with pytest.raises(MergeError):
        merge_members(workspace=workspace, into=lucia[0], merged=Member.objects.get(pk=stranger.member_id), actor=owner)
    assert db_state(workspace) == state
    assert Identity.objects.get(pk=stranger.pk).member_id == stranger.member_id


def test_a_decided_suggestion_cannot_be_decided_again(
    workspace: Workspace, owner: User, lucia: tuple[Member, Member]
) -> None:
    generate_suggestions(workspace=workspace)
    suggestion = MergeSuggestion.objects.get(workspace=workspace)
    decide_suggestion(workspace=workspace, suggestion=suggestion, accept=False, actor=owner)
    with pytest.raises(MergeError):
        decide_suggestion(workspace=workspace, suggestion=suggestion, accept=True, actor=owner)
    assert MergeRecord.objects.count() == 0
    assert AuditEntry.objects.filter(action="members.suggestion_rejected").count() == 1
