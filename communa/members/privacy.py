"""Privacy (GDPR): everything held about a member, exported or erased; message retention per workspace.

Two explicit, greppable tables say which code exports and which erases what each app holds about a person,
as events/subscribers.py does for subscribers: import paths, run in order. An app that stores personal data
about members (the inbox's conversations, moderation's decisions) adds one line to each.

- An **exporter** takes a `Subject` and returns `(section, rows)`: rows are JSON-ready dicts.
- An **eraser** takes a `Subject` and returns how many rows it changed. Erasers blank personal fields and
  keep rows that carry counts (messages stay, with no text, attributed to the anonymised member row), so
  analytics keep their totals. They run in one transaction, in table order (messages before the identities
  that let us find them).

The audit entry of an erasure holds ids and counts only; the `member.erased` domain event holds the id.

Registering: apps above members in the layers (inbox, moderation) cannot be imported here, so they are named
by import path and resolved only when an export or erasure runs, as events/subscribers.py does. Their
functions live in their own `<app>/privacy.py` and may use this module's helpers (`scrub`, `scrub_json`,
`scrub_rows`, `erased_id`). A new app adds one line to each table (or calls `register(...)` from its
AppConfig.ready, for code outside this repository). An eraser that cannot be imported fails the erasure:
nothing is half-erased.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from functools import cache
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import task

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.audit.services import record as audit
from communa.core.bulk import chunked
from communa.events.services import emit
from communa.members.models import (
    Consent,
    CustomFieldValue,
    Identity,
    Member,
    MemberImport,
    MemberTag,
    MergeRecord,
    MergeSuggestion,
    Note,
    RetentionPolicy,
)
from communa.members.services import refresh_activity
from communa.stream.models import Message, Thread

logger = logging.getLogger(__name__)

EXPORTERS: list[str] = [
    "communa.members.privacy.export_member",
    "communa.members.privacy.export_identities",
    "communa.members.privacy.export_annotations",
    "communa.members.privacy.export_related_rows",  # engagement, facts (K=5's tables), when present
    "communa.members.privacy.export_merges",
    "communa.members.privacy.export_messages",
    "communa.inbox.privacy.export_inbox",  # conversations, notes in them, replies sent to them
    "communa.moderation.privacy.export_moderation",  # decisions, strikes, appeals
]

ERASERS: list[str] = [
    "communa.members.privacy.erase_signals",  # enrichment: embeddings and explanations quote the text
    "communa.members.privacy.erase_raw_events",  # ingest: the payloads as the platform sent them
    "communa.members.privacy.erase_messages",  # stream: text, title, url, metadata; thread titles they wrote
    "communa.members.privacy.erase_resolution",  # merge suggestions (reasons quote emails, handles), merges
    "communa.inbox.privacy.erase_inbox",  # conversations (subject, preview, DM channel), notes, replies, outbox
    "communa.moderation.privacy.erase_moderation",  # decisions' quoted text, actions, reviews, strikes, appeals
    "communa.members.privacy.erase_annotations",  # notes, tags, custom fields, consent, organisation, imports
    "communa.members.privacy.erase_audit_labels",  # audit entries name their target: the label goes
    "communa.members.privacy.erase_identities",
    "communa.members.privacy.erase_member_rows",  # last: the rows stay, anonymised, for the counts
]

MIN_TERM = 3  # shorter strings are not searched for (they would match everything)


@dataclasses.dataclass
class Subject:
    """A member and what lets us find their data: the members merged into them, identities, messages, and
    the strings that identify them (names, handles, emails, platform ids)."""

    workspace: Workspace
    member: Member
    member_ids: list[int]
    identity_ids: list[int]
    message_ids: list[int]
    terms: set[str]


def subject_for(*, workspace: Workspace, member: Member) -> Subject:
    member_ids = [member.pk]
    frontier = [member.pk]
    while frontier:  # members merged into this one, and into those, ...
        frontier = list(
            Member.objects.filter(workspace=workspace, merged_into_id__in=frontier).values_list("id", flat=True)
        )
        member_ids.extend(m for m in frontier if m not in member_ids)
    identities = list(Identity.objects.filter(workspace=workspace, member_id__in=member_ids))
    identity_ids = [i.pk for i in identities]
    message_ids = sorted(
        Message.objects.filter(workspace=workspace)
        .filter(Q(member_id__in=member_ids) | Q(identity_id__in=identity_ids))
        .values_list("id", flat=True)
    )
    terms: set[str] = set()
    for identity in identities:
        terms.update((identity.external_id, identity.handle, identity.display_name, identity.email, identity.url))
    terms.update(Member.objects.filter(pk__in=member_ids).values_list("display_name", flat=True))
    terms = {t.strip() for t in terms if t and len(t.strip()) >= MIN_TERM}
    return Subject(workspace, member, member_ids, identity_ids, message_ids, terms)


def register(*, eraser: str = "", exporter: str = "", before: str = "communa.members.privacy.erase_identities") -> None:
    """Add an eraser and/or exporter by import path (resolved when it runs). Erasers go before `before`, so
    that they still find the identities; adding the same path twice adds it once."""
    if eraser and eraser not in ERASERS:
        ERASERS.insert(ERASERS.index(before) if before in ERASERS else len(ERASERS) - 1, eraser)
    if exporter and exporter not in EXPORTERS:
        EXPORTERS.append(exporter)


def _contains_any(value: str, terms: Iterable[str]) -> bool:
    folded = value.casefold()
    return any(term.casefold() in folded for term in terms)


contains_any = _contains_any


def scrub(value: str, terms: Iterable[str]) -> str:
    """`value` with every term replaced (case-insensitively), longest first."""
    import re

    for term in sorted(terms, key=len, reverse=True):
        value = re.sub(re.escape(term), "[erased]", value, flags=re.IGNORECASE)
    return value


_scrub = scrub


def scrub_json(value: Any, terms: Iterable[str]) -> Any:
    """A JSON value with every string (keys too) scrubbed of the terms."""
    terms = list(terms)
    if isinstance(value, str):
        return scrub(value, terms) if _contains_any(value, terms) else value
    if isinstance(value, list):
        return [scrub_json(v, terms) for v in value]
    if isinstance(value, dict):
        return {scrub_json(k, terms): scrub_json(v, terms) for k, v in value.items()}
    return value


def scrub_rows(rows: Any, fields: Iterable[str], terms: Iterable[str]) -> int:
    """Scrub the terms out of these text and JSON fields of each row of the queryset; returns rows changed."""
    fields, terms = list(fields), list(terms)
    changed = 0
    model = rows.model
    for row in rows.only("pk", *fields).iterator(chunk_size=500):
        update = {}
        for field in fields:
            value = getattr(row, field)
            cleaned = scrub_json(value, terms)
            if cleaned != value:
                update[field] = cleaned
        if update:
            model._default_manager.filter(pk=row.pk).update(**update)
            changed += 1
    return changed


def _optional_model(app_label: str, name: str) -> type[Model] | None:
    """A model of an app above members in the layers, reached by name (members import nothing of it)."""
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


@cache
def _function(path: str) -> Callable[[Subject], Any]:
    func: Callable[[Subject], Any] = import_string(path)
    return func


# --- export -------------------------------------------------------------------------------------------------


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def export_member(subject: Subject) -> tuple[str, list[dict[str, Any]]]:
    m = Member.objects.get(pk=subject.member.pk)
    return "member", [
        {
            "id": m.pk,
            "display_name": m.display_name,
            "is_staff": m.is_staff,
            "is_bot": m.is_bot,
            "first_seen_at": _iso(m.first_seen_at),
            "last_seen_at": _iso(m.last_seen_at),
            "message_count": m.message_count,
            "created_at": _iso(m.created_at),
            "merged_member_ids": [pk for pk in subject.member_ids if pk != m.pk],
        }
    ]


def export_identities(subject: Subject) -> tuple[str, list[dict[str, Any]]]:
    rows = Identity.objects.filter(pk__in=subject.identity_ids).order_by("platform", "id")
    fields = ("platform", "external_id", "handle", "display_name", "email", "url", "is_bot")
    return "identities", [
        {
            **{f: getattr(i, f) for f in fields},
            "first_seen_at": _iso(i.first_seen_at),
            "last_seen_at": _iso(i.last_seen_at),
        }
        for i in rows
    ]


def export_annotations(subject: Subject) -> list[tuple[str, list[dict[str, Any]]]]:
    ids = subject.member_ids
    tags = MemberTag.objects.filter(member_id__in=ids).select_related("tag").order_by("tag__name")
    notes = Note.objects.filter(member_id__in=ids).select_related("author").order_by("created_at", "id")
    values = CustomFieldValue.objects.filter(member_id__in=ids).select_related("field").order_by("field__position")
    consents = Consent.objects.filter(member_id__in=ids).order_by("topic", "given_at", "id")
    return [
        ("tags", [{"tag": t.tag.name, "added_at": _iso(t.added_at)} for t in tags]),
        (
            "notes",
            [
                {
                    "text": n.text,
                    "author": n.author.get_username() if n.author else "",
                    "created_at": _iso(n.created_at),
                    "edited_at": _iso(n.edited_at),
                }
                for n in notes
            ],
        ),
        ("custom_fields", [{"field": v.field.label, "key": v.field.key, "value": v.text} for v in values]),
        (
            "consents",
            [
                {
                    "topic": c.topic,
                    "granted": c.granted,
                    "given_at": _iso(c.given_at),
                    "source": c.source,
                    "note": c.note,
                }
                for c in consents
            ],
        ),
    ]


def export_related_rows(subject: Subject) -> list[tuple[str, list[dict[str, Any]]]]:
    """One-row-per-member tables of other parts of the members app (engagement, facts), field by field."""
    sections = []
    for relation, section in (("engagement", "engagement"), ("facts", "facts")):
        try:
            related = Member._meta.get_field(relation).related_model
        except FieldDoesNotExist:  # the table is not installed
            continue
        if related is None or isinstance(related, str):
            continue
        row = related._default_manager.filter(member_id=subject.member.pk).first()
        if row is None:
            continue
        data = {
            f.name: _iso(getattr(row, f.attname))
            for f in related._meta.concrete_fields
            if f.name not in {"workspace", "member"} and f.get_internal_type() != "BinaryField"
        }
        sections.append((section, [data]))
    return sections


def export_merges(subject: Subject) -> tuple[str, list[dict[str, Any]]]:
    rows = MergeRecord.objects.filter(into_id__in=subject.member_ids).order_by("merged_at", "id")
    return "merges", [
        {
            "into": r.into_id,
            "merged": r.merged_id,
            "reason": r.reason,
            "merged_at": _iso(r.merged_at),
            "undone_at": _iso(r.undone_at),
        }
        for r in rows
    ]


def export_messages(subject: Subject) -> tuple[str, list[dict[str, Any]]]:
    def rows() -> Iterator[dict[str, Any]]:
        for chunk in chunked(subject.message_ids):
            for m in (
                Message.objects.filter(pk__in=chunk).select_related("source", "identity").order_by("created_at", "id")
            ):
                yield {
                    "id": m.pk,
                    "source": m.source.name,
                    "platform": m.identity.platform if m.identity else "",
                    "kind": m.kind,
                    "created_at": _iso(m.created_at),
                    "title": m.title,
                    "text": m.text,
                    "url": m.url,
                    "language": m.language,
                    "deleted_at": _iso(m.deleted_at),
                }

    return "messages", list(rows())


def export_data(*, workspace: Workspace, member: Member, actor: User | None) -> dict[str, Any]:
    """Everything Communa holds about the member, section by section (JSON-ready). Audited."""
    subject = subject_for(workspace=workspace, member=member)
    data: dict[str, Any] = {"generated_at": timezone.now().isoformat(), "workspace": workspace.name}
    for path in EXPORTERS:
        result = _function(path)(subject)
        for section, rows in result if isinstance(result, list) else [result]:
            data[section] = rows
    audit(
        workspace=workspace,
        actor=actor,
        action="members.data_exported",
        data={"member": member.pk, "messages": len(subject.message_ids), "identities": len(subject.identity_ids)},
    )
    return data


# --- erase --------------------------------------------------------------------------------------------------


def erase_signals(subject: Subject) -> int:
    signals = _optional_model("enrichment", "MessageSignals")
    if signals is None:
        return 0
    changed = 0
    for chunk in chunked(subject.message_ids):
        changed += signals._default_manager.filter(message_id__in=chunk).update(
            embedding=None, embedding_version="", explanation={}
        )
    return changed


def erase_raw_events(subject: Subject) -> int:
    raw_events = _optional_model("ingest", "RawEvent")
    if raw_events is None:
        return 0
    changed = 0
    by_source: dict[int, list[str]] = {}
    for chunk in chunked(subject.message_ids):
        for source_id, external_id in Message.objects.filter(pk__in=chunk).values_list("source_id", "external_id"):
            by_source.setdefault(source_id, []).append(external_id)
    for source_id, external_ids in by_source.items():
        for ids in chunked(external_ids):
            changed += raw_events._default_manager.filter(source_id=source_id, external_id__in=ids).update(
                payload={"erased": True}, error=""
            )
    return changed


def erased_id(value: str) -> str:
    """A stable stand-in for a platform id that named the member (links between rows stay consistent)."""
    return "erased-" + hashlib.sha256(value.encode()).hexdigest()[:32]


_erased_id = erased_id


def erase_messages(subject: Subject) -> int:
    """Blank the personal fields of their messages; the rows stay (counts, threads, replies of others)."""
    changed = 0
    for chunk in chunked(subject.message_ids):
        messages = Message.objects.filter(pk__in=chunk)
        changed += messages.update(text="", title="", url="", metadata={})
        # A platform id built from the author's handle ("irc-nick-123") would still name them.
        for message in messages.only("id", "external_id", "parent_external_id"):
            fields = {}
            if _contains_any(message.external_id, subject.terms):
                fields["external_id"] = _erased_id(message.external_id)
            if _contains_any(message.parent_external_id, subject.terms):
                fields["parent_external_id"] = _erased_id(message.parent_external_id)
            if fields:
                Message.objects.filter(pk=message.pk).update(**fields)
        Thread.objects.filter(root_id__in=chunk).update(title="")
    # Replies of others point at their messages by platform id: keep those links consistent.
    return changed


def erase_resolution(subject: Subject) -> int:
    ids = subject.member_ids
    suggestions, _rows = MergeSuggestion.objects.filter(Q(member_a_id__in=ids) | Q(member_b_id__in=ids)).delete()
    merges, _rows = MergeRecord.objects.filter(Q(into_id__in=ids) | Q(merged_id__in=ids)).delete()
    return suggestions + merges


def erase_annotations(subject: Subject) -> int:
    ids = subject.member_ids
    count = 0
    for model in (Note, MemberTag, CustomFieldValue, Consent):
        deleted, _rows = model._default_manager.filter(member_id__in=ids).delete()
        count += deleted
    facts = _optional_model("members", "MemberFacts")
    if facts is not None:
        count += facts._default_manager.filter(member_id__in=ids).update(organisation="", organisation_by_hand=False)
    # An import file still waiting (or failed) may hold their row: drop the file, keep the summary.
    for job in MemberImport.objects.filter(workspace=subject.workspace).exclude(content="").only("id", "content"):
        if _contains_any(job.content, subject.terms):
            MemberImport.objects.filter(pk=job.pk).update(content="", status=MemberImport.Status.FAILED)
            count += 1
    for job in MemberImport.objects.filter(workspace=subject.workspace).exclude(errors=[]).only("id", "errors"):
        errors = [[line, _scrub(str(message), subject.terms)] for line, message in job.errors]
        if errors != job.errors:
            MemberImport.objects.filter(pk=job.pk).update(errors=errors)
    return count


def erase_audit_labels(subject: Subject) -> int:
    entries = AuditEntry.objects.filter(
        workspace=subject.workspace, target_type="members.member", target_id__in=[str(i) for i in subject.member_ids]
    )
    return entries.update(target_label="")


def erase_identities(subject: Subject) -> int:
    Member.objects.filter(pk__in=subject.member_ids).update(origin_identity=None)
    deleted, _rows = Identity.objects.filter(pk__in=subject.identity_ids).delete()
    return deleted


def erase_member_rows(subject: Subject) -> int:
    now = timezone.now()
    return Member.objects.filter(pk__in=subject.member_ids).update(display_name="", erased_at=now)


class ErasureError(Exception):
    pass


def erase_member(*, workspace: Workspace, member: Member, actor: User | None) -> dict[str, int]:
    """Erase the member everywhere (see ERASERS). The member row stays, empty, so counts stay right; the
    audit entry and the `member.erased` event hold ids and counts only. Returns rows changed per eraser."""
    if member.workspace_id != workspace.pk:
        raise ErasureError("member of another workspace")
    if member.merged_into_id is not None:
        raise ErasureError("erase the member this one was merged into")
    counts: dict[str, int] = {}
    with transaction.atomic():
        Member.objects.select_for_update().filter(pk=member.pk).first()
        subject = subject_for(workspace=workspace, member=member)
        for path in ERASERS:
            counts[path.rsplit(".", 1)[-1]] = int(_function(path)(subject) or 0)
        audit(
            workspace=workspace,
            actor=actor,
            action="members.erased",
            data={
                "member": member.pk,
                "members": len(subject.member_ids),
                "identities": len(subject.identity_ids),
                "messages": len(subject.message_ids),
            },
        )
        emit(workspace_id=workspace.pk, name="member.erased", data={"member_id": member.pk})
    return counts


# --- retention ----------------------------------------------------------------------------------------------

RETENTION_BATCH = 2_000
RETENTION_MAX_PER_RUN = 200_000


def set_retention(
    *, workspace: Workspace, message_days: int | None, action: str, actor: User | None
) -> RetentionPolicy:
    if action not in RetentionPolicy.Action.values:
        raise ValueError(action)
    policy, _created = RetentionPolicy.objects.update_or_create(
        workspace=workspace, defaults={"message_days": message_days, "action": action, "updated_by": actor}
    )
    audit(
        workspace=workspace,
        actor=actor,
        action="members.retention_set",
        data={"message_days": message_days, "action": action},
    )
    return policy


def apply_retention(*, workspace: Workspace) -> int:  # noqa: C901
    """Delete or anonymise the workspace's messages older than its policy says; returns how many. Bounded
    per run (the next run goes on); safe to run twice (anonymised rows are not counted again)."""
    policy = RetentionPolicy.objects.filter(workspace=workspace).first()
    if policy is None or not policy.message_days:
        return 0
    cutoff = timezone.now() - timedelta(days=policy.message_days)
    old = Message.objects.filter(workspace=workspace, created_at__lt=cutoff)
    if policy.action == RetentionPolicy.Action.ANONYMISE:
        old = old.filter(Q(text__gt="") | Q(title__gt="") | Q(url__gt=""))  # not anonymised yet
    done = 0
    signals = _optional_model("enrichment", "MessageSignals")
    raw_events = _optional_model("ingest", "RawEvent")
    members: set[int] = set()
    while done < RETENTION_MAX_PER_RUN:
        batch = list(old.order_by("id").values_list("id", "source_id", "external_id")[:RETENTION_BATCH])
        if not batch:
            break
        ids = [row[0] for row in batch]
        with transaction.atomic():
            if raw_events is not None:
                for source_id in {row[1] for row in batch}:
                    external_ids = [row[2] for row in batch if row[1] == source_id]
                    raw_events._default_manager.filter(source_id=source_id, external_id__in=external_ids).delete()
            if policy.action == RetentionPolicy.Action.DELETE:
                members.update(
                    m for m in Message.objects.filter(pk__in=ids).values_list("member_id", flat=True) if m is not None
                )
                Message.objects.filter(pk__in=ids).delete()
            else:
                if signals is not None:
                    signals._default_manager.filter(message_id__in=ids).update(
                        embedding=None, embedding_version="", explanation={}
                    )
                Message.objects.filter(pk__in=ids).update(
                    text="", title="", url="", metadata={"retention": "anonymised"}
                )
        done += len(ids)
    if members:
        refresh_activity(member_ids=members)  # message counts of the members whose messages went
    RetentionPolicy.objects.filter(pk=policy.pk).update(last_run_at=timezone.now(), last_run_count=done)
    if done:
        audit(
            workspace=workspace,
            actor=None,
            action="members.retention_applied",
            data={"messages": done, "action": policy.action, "days": policy.message_days},
        )
    return done


@task(queue_name="default")
def apply_retention_task(workspace_id: int) -> int:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    return 0 if workspace is None else apply_retention(workspace=workspace)


def enqueue_due_retention() -> int:
    """Periodic job (events/periodic.py): one retention task per workspace with a policy."""
    ids = list(
        RetentionPolicy.objects.filter(message_days__isnull=False).values_list("workspace_id", flat=True).distinct()
    )
    for workspace_id in ids:
        apply_retention_task.enqueue(workspace_id)
    return len(ids)
