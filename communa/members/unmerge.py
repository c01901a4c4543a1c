"""Bulk unmerge of a wrong "snowball" member: split chosen identities off, restoring exactly what the merge
snapshots recorded.

A person chooses identities of the member. For each one brought in by a merge, the chain of merges that
brought it (A absorbed B, which had absorbed D) is undone with `services.undo_merge`, latest first — the
same exact undo as a single merge. Members of the chain that keep none of the chosen identities are merged
back afterwards, so nothing but the chosen identities leaves. Identities that were the member's own (no
merge brought them) are moved to a new member with their messages. `plan_unmerge` computes all of it
without writing, for the preview; `unmerge` does it in one transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from django.db import transaction
from django.utils.translation import gettext as _

from communa.accounts.models import User, Workspace
from communa.audit.services import record as audit
from communa.core.bulk import chunked
from communa.events.services import emit
from communa.members.models import Identity, Member, MergeRecord
from communa.members.services import MergeError, MergeReason, merge_members, refresh_activity, undo_merge
from communa.stream.models import Message


@dataclasses.dataclass
class UnmergePlan:
    member: Member
    identities: list[Identity]  # chosen
    undo: list[MergeRecord]  # in the order they will be undone (latest first)
    remerge: list[Member]  # members let out by an undo that keep identities not chosen: merged back
    stay_out: list[Member]  # members let out by an undo holding only chosen identities
    split: list[list[Identity]]  # chosen identities sharing a member with others: each group to a new member


def _chain(workspace: Workspace, member_id: int, identity_id: int) -> list[MergeRecord]:
    """The active merges that brought `identity_id` into `member_id`, outermost first."""
    chain: list[MergeRecord] = []
    current = member_id
    for _hop in range(100):
        records = MergeRecord.objects.filter(workspace=workspace, into_id=current, undone_at=None)
        record = next(
            (
                r
                for r in records.select_related("merged").order_by("-merged_at", "-id")
                if identity_id in r.snapshot["identity_ids"]
            ),
            None,
        )
        if record is None:
            return chain
        chain.append(record)
        current = record.merged_id
    return chain


def plan_unmerge(  # noqa: C901 - one pass per step, in order
    *, workspace: Workspace, member: Member, identity_ids: Sequence[int]
) -> UnmergePlan:
    """What splitting these identities off would do, without doing it (the preview)."""
    if member.merged_into_id is not None:
        raise MergeError(_("This member was merged into another: split that one."))
    wanted = set(identity_ids)
    everything = list(Identity.objects.filter(workspace=workspace, member=member).order_by("platform", "id"))
    chosen = [i for i in everything if i.pk in wanted]
    if not chosen or len(chosen) != len(wanted):
        raise MergeError(_("Choose identities of this member."))
    if len(chosen) == len(everything):
        raise MergeError(_("Leave at least one identity with this member."))
    undo: dict[int, MergeRecord] = {}
    for identity in chosen:
        for record in _chain(workspace, member.pk, identity.pk):
            undo.setdefault(record.pk, record)
    ordered = sorted(undo.values(), key=lambda r: (r.merged_at, r.pk), reverse=True)
    # Where each identity will be once the merges are undone: the innermost undone merge that moved it.
    holder = {i.pk: member.pk for i in everything}
    for record in ordered:  # outer merges first (they happened later)
        for identity_id in record.snapshot["identity_ids"]:
            if identity_id in holder and holder[identity_id] == record.into_id:
                holder[identity_id] = record.merged_id
    by_id = {i.pk: i for i in everything}
    remerge, stay_out, split = [], [], []
    for record in ordered:
        held = [by_id[i] for i, m in holder.items() if m == record.merged_id]
        mine = [i for i in held if i.pk in wanted]
        if len(mine) == len(held):
            stay_out.append(record.merged)
        else:
            remerge.append(record.merged)
            if mine:
                split.append(mine)
    own = [by_id[i] for i, m in holder.items() if m == member.pk and i in wanted]
    if own:
        split.append(own)
    return UnmergePlan(member, chosen, ordered, remerge, stay_out, split)


def unmerge(*, workspace: Workspace, member: Member, identity_ids: Sequence[int], actor: User | None) -> list[Member]:
    """Carry out `plan_unmerge` in one transaction; returns the members that now hold the chosen identities."""
    with transaction.atomic():
        member = Member.objects.select_for_update().get(workspace=workspace, pk=member.pk)
        plan = plan_unmerge(workspace=workspace, member=member, identity_ids=identity_ids)
        for record in plan.undo:
            undo_merge(workspace=workspace, record=record, actor=actor)
        new_members = []
        for group in plan.split:
            current = Identity.objects.filter(pk=group[0].pk).values_list("member_id", flat=True).first() or member.pk
            first = group[0]
            new_member = Member.objects.create(
                workspace=workspace, display_name=first.display_name or first.handle or first.external_id
            )
            ids = [i.pk for i in group]
            Identity.objects.filter(pk__in=ids).update(member=new_member)
            message_ids = list(
                Message.objects.filter(member_id=current, identity_id__in=ids).values_list("id", flat=True)
            )
            for chunk in chunked(message_ids):
                Message.objects.filter(pk__in=chunk).update(member=new_member)
            refresh_activity(member_ids=[current, new_member.pk])
            emit(
                workspace_id=workspace.pk, name="member.unmerged", data={"into_id": current, "merged_id": new_member.pk}
            )
            new_members.append(new_member.pk)
        for other in plan.remerge:
            other = Member.objects.get(pk=other.pk)
            merge_members(workspace=workspace, into=member, merged=other, actor=actor, reason=MergeReason.MANUAL)
        audit(
            workspace=workspace,
            actor=actor,
            action="members.unmerged",
            target=member,
            data={
                "member": member.pk,
                "identities": len(plan.identities),
                "merges_undone": [r.pk for r in plan.undo],
                "merged_back": [m.pk for m in plan.remerge],
                "new_members": new_members,
            },
        )
        holders = Identity.objects.filter(pk__in=[i.pk for i in plan.identities]).values_list("member_id", flat=True)
        return list(Member.objects.filter(pk__in=set(holders)).order_by("pk"))
