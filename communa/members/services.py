"""Writes for members: resolution keys, merge suggestions, merges and their exact undo, activity counters.

A merge is one service (`merge_members`) used by the pages, the API and the automatic rules alike; each
merge keeps a MergeRecord whose snapshot (ids and the members' own fields, never message text) lets
`undo_merge` restore exactly the state before it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import operator
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, IntegerField, Max, Min, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from communa.accounts.models import User, Workspace
from communa.audit.services import record as audit
from communa.core.bulk import chunked
from communa.events.services import emit
from communa.members.models import Identity, Member, MergeRecord, MergeSuggestion, TrustedEmailPlatform
from communa.members.resolution import (
    SUGGEST_MIN_SCORE,
    WEIGHT_COMMON_HANDLE,
    WEIGHT_SIMILAR_NAME,
    Evidence,
    IdentityFacts,
    compare,
    handle_form,
    is_handle_variant,
    keys_for,
    loose_form,
)
from communa.stream.models import Message

# A key shared by more identities than this is too common to be evidence ("john smith"); skipping such
# blocks also bounds the work per key, which keeps generation linear in the number of identities.
MAX_BLOCK = 50
KEYS_PER_UPDATE = 5000
VARIANT_WINDOW = 2000  # numbered handle keys remembered while streaming in key order
KEY_FIELDS = ("email_key", "handle_key", "name_key")
FACT_FIELDS = ("id", "member_id", "platform", "handle", "display_name", "email", *KEY_FIELDS)
MEMBER_FIELDS = ("display_name", "is_bot", "first_seen_at", "last_seen_at", "message_count")


class MergeReason:
    """Why a merge happened, as stored on MergeRecord.reason."""

    SUGGESTION = "suggestion"
    MANUAL = "manual"
    VERIFIED_EMAIL = "verified_email"


class MergeError(Exception):
    """A merge or undo that cannot be done as asked; the message says why, for a person."""


@dataclasses.dataclass(slots=True)
class ResolutionResult:
    keyed: int = 0
    suggested: int = 0
    merged: int = 0


# --- keys -------------------------------------------------------------------------------------------


def refresh_keys(*, workspace_id: int, identity_ids: Sequence[int] | None = None) -> int:
    """Compute the blocking keys of identities that changed since they were keyed; return how many."""
    rows = Identity.objects.filter(workspace_id=workspace_id)
    if identity_ids is not None:
        rows = rows.filter(id__in=identity_ids)
    stale: list[Identity] = []
    changed = 0
    fields = ("id", "platform", "handle", "display_name", "email", "keyed_from")
    for row in rows.only(*fields).order_by("id").iterator(chunk_size=2000):
        keys = keys_for(platform=row.platform, handle=row.handle, display_name=row.display_name, email=row.email)
        if keys.source == row.keyed_from:
            continue
        row.email_key, row.handle_key, row.name_key, row.keyed_from = keys.email, keys.handle, keys.name, keys.source
        stale.append(row)
        if len(stale) >= KEYS_PER_UPDATE:
            changed += _save_keys(stale)
    return changed + _save_keys(stale)


def _save_keys(rows: list[Identity]) -> int:
    count = len(rows)
    if rows and connection.vendor == "postgresql":
        # One UPDATE … FROM unnest(arrays): five parameters whatever the number of rows (bulk_update's CASE per
        # column grows with the square of the batch on PostgreSQL, and a VALUES list of thousands of
        # placeholders costs more to build than to run).
        table = Identity._meta.db_table
        sql = (
            f"UPDATE {table} AS i SET email_key = v.e, handle_key = v.h, name_key = v.n, keyed_from = v.f"  # noqa: S608
            " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[]) AS v(id, e, h, n, f)"
            " WHERE i.id = v.id"
        )
        columns = [[r.pk for r in rows], *([getattr(r, f) for r in rows] for f in (*KEY_FIELDS, "keyed_from"))]
        with connection.cursor() as cursor:
            cursor.execute(sql, columns)
    elif rows:
        Identity.objects.bulk_update(rows, [*KEY_FIELDS, "keyed_from"], batch_size=500)
    rows.clear()
    return count


# --- candidates -------------------------------------------------------------------------------------


def _blocks_for(*, workspace_id: int, identity_ids: Sequence[int]) -> Iterator[Block]:
    """Identities sharing a key with one of `identity_ids` (incremental: after a batch was ingested)."""
    base = Identity.objects.filter(workspace_id=workspace_id, member__isnull=False)
    for field in KEY_FIELDS:
        keys: set[str] = set()
        for chunk in chunked(list(identity_ids)):
            keys.update(base.filter(id__in=chunk).exclude(**{field: ""}).values_list(field, flat=True))
        for key_chunk in chunked(sorted(keys), 200):
            if field == "handle_key":  # with the numbered handles one or two digits shorter or longer
                rows = base.filter(_handle_lookup(key_chunk)).order_by(field, "id").values_list(*FACT_FIELDS)
                yield from _handle_blocks(IdentityFacts(*row) for row in rows)
            else:
                rows = base.filter(**{f"{field}__in": key_chunk}).order_by(field, "id").values_list(*FACT_FIELDS)
                yield from _group((IdentityFacts(*row) for row in rows), field)


def _handle_lookup(keys: Sequence[str]) -> Q:
    """These handle keys, the numbered keys they may be variants of, and their own variants: a key range
    ("ana82" < "ana82…" < "ana82a": digits sort before letters in every collation) rather than 110 keys each."""
    shorter = [key[:-cut] for key in keys for cut in (1, 2) if is_handle_variant(key[:-cut], key)]
    lookup = Q(handle_key__in=[*keys, *shorter])
    for key in keys:
        if is_handle_variant(key, key + "0"):
            lookup |= Q(handle_key__gt=key, handle_key__lt=key + "a")
    return lookup


def _all_blocks(*, workspace_id: int) -> Iterator[Block]:
    """Every block of identities sharing a key, streamed in key order through the key's index."""
    base = Identity.objects.filter(workspace_id=workspace_id, member__isnull=False)
    for field in KEY_FIELDS:
        rows = base.exclude(**{field: ""}).order_by(field, "id").values_list(*FACT_FIELDS)
        stream = (IdentityFacts(*row) for row in rows.iterator(chunk_size=5000))
        yield from (_handle_blocks(stream) if field == "handle_key" else _group(stream, field))


@dataclasses.dataclass(frozen=True, slots=True)
class Block:
    """Identities sharing one key of one kind; for numbered handle variants (field "handle_variant"), the
    identities of the shorter key (the first `split`) and of the longer one, compared across only."""

    field: str
    identities: list[IdentityFacts]

    key: str = ""
    oversized: bool = False  # more than MAX_BLOCK identities: not compared, but known to be common
    split: int = 0
    ambiguous_variant: bool = False  # the two keys of a "handle_variant" block are two people on one platform

    @property
    def common_name(self) -> bool:
        """A name borne by more than two members: not evidence by itself."""
        return self.field == "name_key" and (self.oversized or len({i.member_id for i in self.identities}) > 2)

    @property
    def ambiguous(self) -> bool:
        """Two members hold this key on one platform: it is proven to stand for different people."""
        if self.oversized:
            return True
        seen: dict[str, int] = {}
        for identity in self.identities:
            if seen.setdefault(identity.platform, identity.member_id) != identity.member_id:
                return True
        return False

    def common_forms(self) -> set[str]:
        """Handle forms proven to name different people, so weak evidence on other platforms too: a form
        ("jan.koch") two members hold on one platform; and a loose form ("jan~koch", what a Bluesky "jan-koch"
        may stand for) when two members hold two of its spellings ("jan.koch", "jan_koch") anywhere. A form held
        once per platform, even by three members, is what one person on three platforms looks like."""
        if self.field != "handle_key" or len(self.identities) < 2:
            return set()
        holders: dict[tuple[str, str], int] = {}
        spellings: dict[str, dict[str, int]] = {}
        common: set[str] = set()
        for identity in self.identities:
            form = handle_form(identity.handle, identity.platform)
            if holders.setdefault((identity.platform, form), identity.member_id) != identity.member_id:
                common.update((form, loose_form(form)))
            if "~" not in form:
                spellings.setdefault(loose_form(form), {}).setdefault(form, identity.member_id)
        for loose, forms in spellings.items():
            if len(set(forms.values())) > 1:
                common.add(loose)
        return common

    def pairs(self) -> Iterator[tuple[IdentityFacts, IdentityFacts]]:
        if self.split:
            return itertools.product(self.identities[: self.split], self.identities[self.split :])
        return itertools.combinations(self.identities, 2)


def _group(rows: Iterable[IdentityFacts], field: str) -> Iterator[Block]:
    for key, block in itertools.groupby(rows, key=operator.attrgetter(field)):
        members = list(itertools.islice(block, MAX_BLOCK + 1))
        if 1 < len(members) <= MAX_BLOCK:
            yield Block(field=field, identities=members, key=key)
        elif len(members) > MAX_BLOCK:
            yield Block(field=field, identities=[], key=key, oversized=True)
            for _ in block:  # drain the rest of the key's rows
                pass


def _handle_blocks(rows: Iterable[IdentityFacts]) -> Iterator[Block]:
    """Blocks of one handle key, and pairs of numbered handles one or two digits apart.

    In key order a numbered handle comes shortly before its variants ("ana8" < "ana812"): a window of the
    recent numbered keys finds them without another query."""
    recent: dict[str, list[IdentityFacts]] = {}
    for key, group in itertools.groupby(rows, key=operator.attrgetter("handle_key")):
        members = list(itertools.islice(group, MAX_BLOCK + 1))
        if 1 < len(members) <= MAX_BLOCK:
            yield Block(field="handle_key", identities=members, key=key)
        elif len(members) > MAX_BLOCK:
            yield Block(field="handle_key", identities=[], key=key, oversized=True)
            for _ in group:
                pass
            continue
        for cut in (1, 2):
            shorter = recent.get(key[:-cut])
            if shorter is not None and is_handle_variant(key[:-cut], key):
                yield Block(
                    field="handle_variant",
                    identities=shorter + members,
                    key=key,
                    split=len(shorter),
                    ambiguous_variant=_held_apart(shorter, members),
                )
        if key[-1:].isdigit():
            recent[key] = members
            if len(recent) > VARIANT_WINDOW:
                del recent[next(iter(recent))]


def _held_apart(left: list[IdentityFacts], right: list[IdentityFacts]) -> bool:
    """Two members hold the two handles on one platform."""
    holders = {(i.platform, i.member_id) for i in left}
    platforms = {platform for platform, _member in holders}
    return any(i.platform in platforms and (i.platform, i.member_id) not in holders for i in right)


def _evidence_by_pair(blocks: Iterable[Block], verified: set[str]) -> dict[tuple[int, int], Evidence]:
    """Compare the identities of each block pairwise; gather the evidence per pair of members.

    A pair may meet in an email block before its handle's or name's block shows that many members share that
    handle or name; once every block was seen, such reasons are weakened to what a common key is worth.
    """
    pairs: dict[tuple[int, int], Evidence] = {}
    common_forms: set[str] = set()
    common_names: set[str] = set()
    for block in blocks:
        forms = block.common_forms()
        common_forms |= forms
        if block.field == "handle_key" and block.oversized:  # every form of it (pairs met by email)
            common_forms.add(f"key:{block.key}")
        if block.field == "name_key" and block.ambiguous:
            common_names.add(block.key)
        common_name = block.common_name
        for a, b in block.pairs():
            if a.member_id == b.member_id:
                continue
            evidence = compare(
                a,
                b,
                verified_platforms=verified,
                common_name=common_name,
                common_forms=forms,
                common_variant=block.ambiguous_variant,
            )
            if evidence.reasons:
                pair = (a.member_id, b.member_id) if a.member_id < b.member_id else (b.member_id, a.member_id)
                known = pairs.get(pair)
                if known is None:
                    pairs[pair] = evidence
                else:
                    known.absorb(evidence)
    for evidence in pairs.values():
        _weaken_common(evidence, common_forms, common_names)
    return pairs


def _weaken_common(evidence: Evidence, common_forms: set[str], common_names: set[str]) -> None:
    handle, name = evidence.reasons.get("same_handle"), evidence.reasons.get("similar_name")
    name_key = name.get("key") if name is not None else ""
    if handle is not None and (
        handle.get("form") in common_forms
        or f"key:{handle.get('key')}" in common_forms
        or (handle.get("name_shaped") and name_key in common_names)
    ):
        evidence.weaken("same_handle", WEIGHT_COMMON_HANDLE)  # as common as the name it is made of
    if name is not None and name_key in common_names:  # two people with it on one platform
        evidence.weaken("similar_name", WEIGHT_SIMILAR_NAME)


def _decided_pairs(*, workspace_id: int) -> set[tuple[int, int]]:
    """Pairs a person already decided on, mapped to the members their members were merged into since, so a
    rejected pair is never suggested again, even after one side absorbed other members."""
    decided = list(
        MergeSuggestion.objects.filter(workspace_id=workspace_id)
        .exclude(status=MergeSuggestion.Status.PENDING)
        .values_list("member_a_id", "member_b_id")
    )
    roots = _roots(workspace_id=workspace_id, member_ids={m for pair in decided for m in pair})
    result = set()
    for a, b in decided:
        ra, rb = roots.get(a, a), roots.get(b, b)
        result.add((min(ra, rb), max(ra, rb)))
        result.add((min(a, b), max(a, b)))
    return result


def _roots(*, workspace_id: int, member_ids: set[int]) -> dict[int, int]:
    """member id → the member it was (transitively) merged into, for members that were merged."""
    parent: dict[int, int] = {}
    frontier = set(member_ids)
    while frontier:  # one query per level of merges, usually one or two
        rows = Member.objects.filter(workspace_id=workspace_id, id__in=frontier, merged_into__isnull=False)
        found = dict(rows.values_list("id", "merged_into_id"))
        parent.update({k: v for k, v in found.items() if v is not None})
        frontier = {v for v in found.values() if v is not None} - parent.keys()
    roots = {}
    for member_id in parent:
        root, hops = member_id, 0
        while root in parent and hops < 1000:
            root, hops = parent[root], hops + 1
        roots[member_id] = root
    return roots


# --- suggestions ------------------------------------------------------------------------------------


def generate_suggestions(*, workspace: Workspace, identity_ids: Sequence[int] | None = None) -> ResolutionResult:
    """Find members who may be one person; merge the certain pairs, suggest the likely ones.

    With `identity_ids`, only candidates of those identities are considered (after a batch was ingested);
    without, the whole workspace. Safe to run twice: existing suggestions are updated, decided ones kept.
    """
    result = ResolutionResult(keyed=refresh_keys(workspace_id=workspace.pk, identity_ids=identity_ids))
    verified = set(TrustedEmailPlatform.objects.filter(workspace=workspace).values_list("platform", flat=True))
    blocks = (
        _all_blocks(workspace_id=workspace.pk)
        if identity_ids is None
        else _blocks_for(workspace_id=workspace.pk, identity_ids=identity_ids)
    )
    pairs = _evidence_by_pair(blocks, verified)
    decided = _decided_pairs(workspace_id=workspace.pk)
    pairs = {pair: ev for pair, ev in pairs.items() if pair not in decided}
    certain = {pair: ev for pair, ev in pairs.items() if ev.certain}
    result.merged = _merge_certain(workspace=workspace, pairs=certain)
    if result.merged:
        # The merged members now carry each other's names and handles: compare them again, so one run finds
        # what the next would (the pairs found before the merges name members that no longer stand alone).
        merged_ids = {member for pair in certain for member in pair}
        again = Identity.objects.filter(workspace=workspace, member_id__in=_live_members(workspace, merged_ids))
        fresh = _evidence_by_pair(
            _blocks_for(workspace_id=workspace.pk, identity_ids=list(again.values_list("pk", flat=True))), verified
        )
        decided = _decided_pairs(workspace_id=workspace.pk)
        untouched = {pair: ev for pair, ev in pairs.items() if not merged_ids & set(pair)}
        pairs = untouched | {pair: ev for pair, ev in fresh.items() if pair not in decided and not ev.certain}
    likely = {p: ev for p, ev in pairs.items() if p not in certain and ev.score >= SUGGEST_MIN_SCORE}
    result.suggested = _store_suggestions(workspace=workspace, pairs=likely)
    return result


def _live_members(workspace: Workspace, member_ids: set[int]) -> set[int]:
    """The members that `member_ids` are now (themselves, or the member each was merged into)."""
    roots = _roots(workspace_id=workspace.pk, member_ids=member_ids)
    return {roots.get(member, member) for member in member_ids}


def _store_suggestions(*, workspace: Workspace, pairs: dict[tuple[int, int], Evidence]) -> int:
    """Insert new suggestions, update the score and reasons of those already there (pending or decided)."""
    ordered = sorted(pairs.items())
    if connection.vendor == "postgresql":
        # One INSERT … SELECT FROM unnest(arrays) ON CONFLICT per 5,000 pairs: what bulk_create(update_conflicts)
        # does, without building a statement of 5,000 × 7 placeholders (a third of the run at 50,000 identities).
        table = MergeSuggestion._meta.db_table
        sql = (
            f"INSERT INTO {table} (workspace_id, member_a_id, member_b_id, score, reasons, status, created_at)"  # noqa: S608
            " SELECT %s, v.a, v.b, v.s, v.r::jsonb, %s, now()"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::float8[], %s::text[]) AS v(a, b, s, r)"
            " ON CONFLICT (member_a_id, member_b_id) DO UPDATE SET score = EXCLUDED.score, reasons = EXCLUDED.reasons"
        )
        for chunk in chunked(ordered, 5000):
            columns = [
                [a for (a, _b), _ev in chunk],
                [b for (_a, b), _ev in chunk],
                [ev.score for _pair, ev in chunk],
                [json.dumps(ev.as_list()) for _pair, ev in chunk],
            ]
            with connection.cursor() as cursor:
                cursor.execute(sql, [workspace.pk, MergeSuggestion.Status.PENDING, *columns])
        return len(ordered)
    rows = [
        MergeSuggestion(workspace=workspace, member_a_id=a, member_b_id=b, score=ev.score, reasons=ev.as_list())
        for (a, b), ev in ordered
    ]
    for batch in chunked(rows, 500):
        MergeSuggestion.objects.bulk_create(
            batch, update_conflicts=True, unique_fields=["member_a", "member_b"], update_fields=["score", "reasons"]
        )
    return len(rows)


def _merge_certain(*, workspace: Workspace, pairs: dict[tuple[int, int], Evidence]) -> int:
    """Merge pairs with the same verified email, newer member into older; chains collapse into one member."""
    merged = 0
    moved: dict[int, int] = {}

    def root(member_id: int) -> int:
        while member_id in moved:
            member_id = moved[member_id]
        return member_id

    for a, b in sorted(pairs):
        into_id, other_id = sorted((root(a), root(b)))
        if into_id == other_id:
            continue
        into, other = Member.objects.get(pk=into_id), Member.objects.get(pk=other_id)
        merge_members(workspace=workspace, into=into, merged=other, actor=None, reason=MergeReason.VERIFIED_EMAIL)
        moved[other_id] = into_id
        merged += 1
    return merged


def decide_suggestion(
    *, workspace: Workspace, suggestion: MergeSuggestion, accept: bool, actor: User
) -> MergeRecord | None:
    """A person accepts (the younger member is merged into the older one) or rejects a pending suggestion."""
    with transaction.atomic():
        locked = MergeSuggestion.objects.select_for_update().get(pk=suggestion.pk, workspace=workspace)
        if locked.status != MergeSuggestion.Status.PENDING:
            raise MergeError(_("This suggestion was already decided."))
        if not accept:
            _decide(locked, MergeSuggestion.Status.REJECTED, actor)
            audit(
                workspace=workspace,
                actor=actor,
                action="members.suggestion_rejected",
                target=locked,
                data={"member_a": locked.member_a_id, "member_b": locked.member_b_id, "score": locked.score},
            )
            return None
        into, other = Member.objects.get(pk=locked.member_a_id), Member.objects.get(pk=locked.member_b_id)
        return merge_members(workspace=workspace, into=into, merged=other, actor=actor, reason=MergeReason.SUGGESTION)


def _decide(suggestion: MergeSuggestion, status: str, actor: User | None) -> None:
    suggestion.status = status
    suggestion.decided_by = actor
    suggestion.decided_at = timezone.now()
    suggestion.save(update_fields=["status", "decided_by", "decided_at"])


# --- merge and undo ---------------------------------------------------------------------------------


def _pending_suggestion(workspace: Workspace, first: int, second: int) -> MergeSuggestion | None:
    a, b = sorted((first, second))
    return (
        MergeSuggestion.objects.select_for_update()
        .filter(workspace=workspace, member_a_id=a, member_b_id=b, status=MergeSuggestion.Status.PENDING)
        .first()
    )


def _member_fields(member: Member) -> dict[str, Any]:
    return {
        "display_name": member.display_name,
        "is_bot": member.is_bot,
        "first_seen_at": member.first_seen_at.isoformat() if member.first_seen_at else None,
        "last_seen_at": member.last_seen_at.isoformat() if member.last_seen_at else None,
        "message_count": member.message_count,
    }


def _restore_fields(member: Member, fields: dict[str, Any]) -> None:
    member.display_name = fields["display_name"]
    member.is_bot = fields["is_bot"]
    member.first_seen_at = datetime.fromisoformat(fields["first_seen_at"]) if fields["first_seen_at"] else None
    member.last_seen_at = datetime.fromisoformat(fields["last_seen_at"]) if fields["last_seen_at"] else None
    member.message_count = fields["message_count"]


def _lock_members(workspace: Workspace, *ids: int) -> dict[int, Member]:
    members = {m.pk: m for m in Member.objects.select_for_update().filter(workspace=workspace, pk__in=ids)}
    if len(members) != len(set(ids)):
        raise MergeError(_("This member is not in this workspace."))
    return members


def merge_members(
    *,
    workspace: Workspace,
    into: Member,
    merged: Member,
    actor: User | None,
    reason: str = MergeReason.MANUAL,
) -> MergeRecord:
    """Merge `merged` into `into`: its identities and messages move over, and it stays as an empty tombstone
    pointing at `into`. A pending suggestion for the pair is marked accepted. Returns the record that
    `undo_merge` reverses."""
    if into.pk == merged.pk:
        raise MergeError(_("A member cannot be merged into itself."))
    with transaction.atomic():
        members = _lock_members(workspace, into.pk, merged.pk)
        into, merged = members[into.pk], members[merged.pk]
        if into.merged_into_id is not None or merged.merged_into_id is not None:
            raise MergeError(_("One of these members was already merged into another."))
        identity_ids = sorted(Identity.objects.filter(member=merged).values_list("id", flat=True))
        message_ids = sorted(Message.objects.filter(workspace=workspace, member=merged).values_list("id", flat=True))
        snapshot = {
            "identity_ids": identity_ids,
            "message_ids": message_ids,
            "into": _member_fields(into),
            "merged": _member_fields(merged),
        }
        Identity.objects.filter(id__in=identity_ids).update(member=into)
        for chunk in chunked(message_ids):
            Message.objects.filter(id__in=chunk).update(member=into)
        merged.merged_into = into
        merged.message_count = 0
        merged.save(update_fields=["merged_into", "message_count"])
        into.is_bot = into.is_bot or merged.is_bot
        into.save(update_fields=["is_bot"])
        refresh_activity(member_ids=[into.pk])
        suggestion = _pending_suggestion(workspace, into.pk, merged.pk)
        if suggestion is not None:
            _decide(suggestion, MergeSuggestion.Status.ACCEPTED, actor)
        now = timezone.now()
        record = MergeRecord.objects.create(
            workspace=workspace,
            into=into,
            merged=merged,
            snapshot=snapshot,
            reason=reason,
            suggestion=suggestion,
            merged_by=actor,
            merged_at=now,
        )
        audit(
            workspace=workspace,
            actor=actor,
            action="members.merged",
            target=into,
            data={
                "merge_id": record.pk,
                "into": into.pk,
                "merged": merged.pk,
                "reason": reason,
                "identities": len(identity_ids),
                "messages": len(message_ids),
            },
        )
        emit(workspace_id=workspace.pk, name="member.merged", data={"into_id": into.pk, "merged_id": merged.pk})
    return record


def undo_merge(*, workspace: Workspace, record: MergeRecord, actor: User | None) -> None:
    """Restore exactly the state before the merge: identities, messages, both members' fields, the
    suggestion it accepted. Messages that arrived since from the moved identities go back with them."""
    with transaction.atomic():
        record = MergeRecord.objects.select_for_update().get(pk=record.pk, workspace=workspace)
        if record.undone_at is not None:
            raise MergeError(_("This merge was already undone."))
        members = _lock_members(workspace, record.into_id, record.merged_id)
        into, merged = members[record.into_id], members[record.merged_id]
        if into.merged_into_id is not None:
            raise MergeError(_("This member was merged into another since: undo that merge first."))
        identity_ids: list[int] = record.snapshot["identity_ids"]
        message_ids: list[int] = record.snapshot["message_ids"]
        Identity.objects.filter(id__in=identity_ids, member=into).update(member=merged)
        for chunk in chunked(message_ids):
            Message.objects.filter(id__in=chunk, member=into).update(member=merged)
        arrived_since = Message.objects.filter(member=into, identity_id__in=identity_ids)
        moved_since = arrived_since.update(member=merged)
        _restore_fields(into, record.snapshot["into"])
        _restore_fields(merged, record.snapshot["merged"])
        merged.merged_into = None
        into.save(update_fields=list(MEMBER_FIELDS))
        merged.save(update_fields=[*MEMBER_FIELDS, "merged_into"])
        if moved_since:  # the world moved on since the merge: recount rather than restore stale counters
            refresh_activity(member_ids=[into.pk, merged.pk])
        if record.suggestion_id is not None:
            MergeSuggestion.objects.filter(pk=record.suggestion_id).update(
                status=MergeSuggestion.Status.PENDING, decided_by=None, decided_at=None
            )
        record.undone_at, record.undone_by = timezone.now(), actor
        record.save(update_fields=["undone_at", "undone_by"])
        audit(
            workspace=workspace,
            actor=actor,
            action="members.merge_undone",
            target=into,
            data={"merge_id": record.pk, "into": into.pk, "merged": merged.pk, "identities": len(identity_ids)},
        )
        emit(workspace_id=workspace.pk, name="member.unmerged", data={"into_id": into.pk, "merged_id": merged.pk})


# --- activity ---------------------------------------------------------------------------------------


def refresh_activity(*, member_ids: Iterable[int]) -> None:
    """Recompute first seen, last seen and message count from the members' identities and messages."""
    identities = Identity.objects.filter(member=OuterRef("pk")).order_by().values("member")
    messages = Message.objects.filter(member=OuterRef("pk"), deleted_at=None).order_by().values("member")
    for chunk in chunked(sorted(set(member_ids))):
        Member.objects.filter(pk__in=chunk).update(
            first_seen_at=Subquery(identities.annotate(v=Min("first_seen_at")).values("v")),
            last_seen_at=Subquery(identities.annotate(v=Max("last_seen_at")).values("v")),
            message_count=Coalesce(
                Subquery(messages.annotate(v=Count("id")).values("v"), output_field=IntegerField()), Value(0)
            ),
        )


def _batch_ids(workspace: Workspace, message_ids: Sequence[int]) -> tuple[set[int], set[int]]:
    """(identity ids, member ids) of a batch of messages."""
    identity_ids: set[int] = set()
    member_ids: set[int] = set()
    for chunk in chunked(list(message_ids)):
        rows = Message.objects.filter(workspace=workspace, id__in=chunk).values_list("identity_id", "member_id")
        for identity_id, member_id in rows:
            if identity_id is not None:
                identity_ids.add(identity_id)
            if member_id is not None:
                member_ids.add(member_id)
    return identity_ids, member_ids


def refresh_batch_activity(*, workspace: Workspace, message_ids: Sequence[int]) -> int:
    """Refresh first/last seen and message counts of a batch's members; return how many members."""
    _identity_ids, member_ids = _batch_ids(workspace, message_ids)
    refresh_activity(member_ids=member_ids)
    return len(member_ids)


def process_ingested(*, workspace: Workspace, message_ids: Sequence[int]) -> ResolutionResult:
    """After a batch was ingested: refresh its members' activity and resolve its identities."""
    identity_ids, member_ids = _batch_ids(workspace, message_ids)
    refresh_activity(member_ids=member_ids)
    if not identity_ids:
        return ResolutionResult()
    return generate_suggestions(workspace=workspace, identity_ids=sorted(identity_ids))


def trust_email_platform(*, workspace: Workspace, platform: str, actor: User | None) -> TrustedEmailPlatform:
    """Operator rule: emails from `platform` are verified, so same-email identities there merge by themselves."""
    rule, created = TrustedEmailPlatform.objects.get_or_create(
        workspace=workspace, platform=platform, defaults={"created_by": actor}
    )
    if created:
        audit(workspace=workspace, actor=actor, action="members.email_platform_trusted", data={"platform": platform})
    return rule
