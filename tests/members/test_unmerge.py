"""Bulk unmerge of a snowball member: undo the chain of merges that brought the chosen identities, merge
back what was not chosen, split own identities into a new member; exact restoration; preview writes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.members.models import Identity, Member, MergeRecord
from communa.members.services import MergeError, merge_members, refresh_activity
from communa.members.unmerge import plan_unmerge, unmerge
from communa.stream.models import Message
from tests.conftest import login
from tests.members.conftest import say

pytestmark = pytest.mark.django_db


def member_of(identity: Identity) -> Member:
    return Member.objects.get(pk=Identity.objects.get(pk=identity.pk).member_id)


@pytest.fixture
def snowball(workspace: Workspace, owner: User) -> dict[str, Identity]:
    """A absorbed B (which had absorbed D), then C: one member with four identities, one wrong (D)."""
    ids = {k: say(workspace, f"p{k}", k, name=f"Person {k}", minutes=i) for i, k in enumerate("abcd")}
    refresh_activity(member_ids=Member.objects.values_list("id", flat=True))
    m = {k: member_of(v) for k, v in ids.items()}
    merge_members(workspace=workspace, into=m["b"], merged=m["d"], actor=owner)
    merge_members(workspace=workspace, into=m["a"], merged=m["b"], actor=owner)
    merge_members(workspace=workspace, into=m["a"], merged=m["c"], actor=owner)
    assert Identity.objects.filter(member=m["a"]).count() == 4
    return ids


def test_split_a_nested_identity_restores_it_exactly(
    workspace: Workspace, owner: User, snowball: dict[str, Identity]
) -> None:
    a, d = member_of(snowball["a"]), snowball["d"]
    plan = plan_unmerge(workspace=workspace, member=a, identity_ids=[d.pk])
    assert [r.merged.display_name for r in plan.undo] == ["Person b", "Person d"]
    assert [m.display_name for m in plan.remerge] == ["Person b"] and [m.display_name for m in plan.stay_out] == [  # noqa: PT018
        "Person d"
    ]
    assert MergeRecord.objects.filter(undone_at=None).count() == 3  # the preview wrote nothing
    holders = unmerge(workspace=workspace, member=a, identity_ids=[d.pk], actor=owner)
    assert [m.display_name for m in holders] == ["Person d"]
    d_member = member_of(d)
    assert d_member.merged_into_id is None and d_member.message_count == 1  # noqa: PT018
    assert Message.objects.get(identity=d).member_id == d_member.pk
    assert sorted(Identity.objects.filter(member=a).values_list("external_id", flat=True)) == ["a", "b", "c"]


def test_split_own_identity_makes_a_new_member(
    workspace: Workspace, owner: User, snowball: dict[str, Identity]
) -> None:
    a = member_of(snowball["a"])
    holders = unmerge(workspace=workspace, member=a, identity_ids=[snowball["a"].pk], actor=owner)
    assert len(holders) == 1 and holders[0].pk != a.pk  # noqa: PT018
    assert holders[0].message_count == 1
    assert sorted(Identity.objects.filter(member=a).values_list("external_id", flat=True)) == ["b", "c", "d"]
    with pytest.raises(MergeError):
        plan_unmerge(
            workspace=workspace,
            member=a,
            identity_ids=list(Identity.objects.filter(member=a).values_list("pk", flat=True)),
        )


def test_page_previews_then_splits(client: Client, manager: User, analyst: User, snowball: dict[str, Identity]) -> None:
    a, c_identity = member_of(snowball["a"]), snowball["c"]
    assert (
        login(client, analyst).post(f"/w/acme/members/{a.pk}/unmerge/", {"identity": c_identity.pk}).status_code == 403
    )
    c = login(client, manager)
    preview = c.post(f"/w/acme/members/{a.pk}/unmerge/", {"identity": c_identity.pk}).content.decode()
    assert "Undo the merge of Person c" in preview and member_of(c_identity).pk == a.pk  # noqa: PT018
    done = c.post(f"/w/acme/members/{a.pk}/unmerge/", {"identity": c_identity.pk, "confirm": "yes"})
    assert done.status_code == 302
    assert member_of(c_identity).display_name == "Person c"
