"""Writes for what a team adds to a member: tags, staff-internal notes, custom fields, organisation, consent.

Keyword-only services used by the profile page, the API and the CSV import. Each change a person makes is
audited with ids and names of tags/fields only: never a note's text or a field's value (they may be personal).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from communa.accounts.models import User, Workspace
from communa.audit.services import record as audit
from communa.members.models import Consent, CustomField, CustomFieldValue, Member, MemberTag, Note, Tag

MAX_TAG = 60
MAX_NOTE = 10_000
MAX_FIELD_TEXT = 1_000
MAX_CHOICES = 100


class AnnotationError(ValueError):
    """A value that cannot be stored as given; the message says why, for a person."""


# --- tags -------------------------------------------------------------------------------------------------


def clean_tag(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise AnnotationError(_("A tag needs a name."))
    if len(name) > MAX_TAG:
        raise AnnotationError(_("A tag has at most %(n)d characters.") % {"n": MAX_TAG})
    return name


def get_or_create_tags(*, workspace: Workspace, names: Iterable[str]) -> list[Tag]:
    """Tags by name, created when missing; names are matched case-insensitively to an existing tag."""
    wanted = {clean_tag(n) for n in names if n.strip()}
    existing = {t.name.casefold(): t for t in Tag.objects.filter(workspace=workspace)}
    result = []
    for name in sorted(wanted):
        tag = existing.get(name.casefold())
        if tag is None:
            tag, _created = Tag.objects.get_or_create(workspace=workspace, name=name)
            existing[name.casefold()] = tag
        result.append(tag)
    return result


def add_tags(*, workspace: Workspace, member: Member, names: Iterable[str], actor: User | None) -> list[str]:
    """Tag a member; returns the names newly added (tags it already had are left alone)."""
    tags = get_or_create_tags(workspace=workspace, names=names)
    have = set(MemberTag.objects.filter(member=member).values_list("tag_id", flat=True))
    new = [t for t in tags if t.pk not in have]
    MemberTag.objects.bulk_create(
        [MemberTag(workspace=workspace, member=member, tag=t, added_by=actor) for t in new], ignore_conflicts=True
    )
    if new and actor is not None:
        audit(
            workspace=workspace,
            actor=actor,
            action="members.tagged",
            target=member,
            data={"member": member.pk, "tags": [t.name for t in new]},
        )
    return [t.name for t in new]


def remove_tag(*, workspace: Workspace, member: Member, tag: Tag, actor: User | None) -> bool:
    deleted, _rows = MemberTag.objects.filter(workspace=workspace, member=member, tag=tag).delete()
    if deleted:
        audit(
            workspace=workspace,
            actor=actor,
            action="members.untagged",
            target=member,
            data={"member": member.pk, "tag": tag.name},
        )
    return bool(deleted)


# --- notes ------------------------------------------------------------------------------------------------


def _note_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise AnnotationError(_("A note cannot be empty."))
    if len(text) > MAX_NOTE:
        raise AnnotationError(_("A note has at most %(n)d characters.") % {"n": MAX_NOTE})
    return text


def add_note(*, workspace: Workspace, member: Member, text: str, author: User | None) -> Note:
    note = Note.objects.create(
        workspace=workspace, member=member, author=author, text=_note_text(text), created_at=timezone.now()
    )
    audit(workspace=workspace, actor=author, action="members.note_added", target=member, data={"note": note.pk})
    return note


def edit_note(*, workspace: Workspace, note: Note, text: str, actor: User) -> Note:
    note.text, note.edited_at = _note_text(text), timezone.now()
    note.save(update_fields=["text", "edited_at"])
    audit(
        workspace=workspace, actor=actor, action="members.note_edited", data={"note": note.pk, "member": note.member_id}
    )
    return note


def delete_note(*, workspace: Workspace, note: Note, actor: User) -> None:
    data = {"note": note.pk, "member": note.member_id}
    note.delete()
    audit(workspace=workspace, actor=actor, action="members.note_deleted", data=data)


# --- custom fields ----------------------------------------------------------------------------------------


def define_field(
    *, workspace: Workspace, label: str, kind: str, choices: Iterable[str] = (), key: str = "", actor: User | None
) -> CustomField:
    """A new field for every member of the workspace. The key (for filters, CSV and the API) comes from the
    label unless given."""
    label = " ".join(label.split())[:100]
    if not label:
        raise AnnotationError(_("A field needs a label."))
    if kind not in CustomField.Kind.values:
        raise AnnotationError(_("Unknown field type."))
    key = slugify(key or label).replace("-", "_")[:50]
    if not key:
        raise AnnotationError(_("This label has no letters or digits to make a key from: give a key."))
    options = [c.strip()[:100] for c in choices if c.strip()][:MAX_CHOICES]
    if kind == CustomField.Kind.CHOICE and not options:
        raise AnnotationError(_("A choice field needs at least one choice."))
    if CustomField.objects.filter(workspace=workspace, key=key).exists():
        raise AnnotationError(_("There is already a field with the key %(key)s.") % {"key": key})
    position = CustomField.objects.filter(workspace=workspace).count()
    field = CustomField.objects.create(
        workspace=workspace, key=key, label=label, kind=kind, choices=options, position=position
    )
    audit(workspace=workspace, actor=actor, action="members.field_defined", data={"key": key, "kind": kind})
    return field


def delete_field(*, workspace: Workspace, field: CustomField, actor: User | None) -> None:
    data = {"key": field.key}
    field.delete()  # its values go with it
    audit(workspace=workspace, actor=actor, action="members.field_deleted", data=data)


def parse_value(field: CustomField, raw: str) -> dict[str, Any]:
    """The columns of a CustomFieldValue for a value typed as text; AnnotationError says what is wrong."""
    raw = raw.strip()
    if field.kind == CustomField.Kind.NUMBER:
        try:
            number = float(raw.replace(",", ".").replace(" ", ""))
        except ValueError as exc:
            raise AnnotationError(_("%(label)s must be a number.") % {"label": field.label}) from exc
        if number != number or abs(number) > 1e15:  # NaN or absurd
            raise AnnotationError(_("%(label)s must be a number.") % {"label": field.label})
        return {"text": raw[:MAX_FIELD_TEXT], "number": number, "date": None}
    if field.kind == CustomField.Kind.DATE:
        try:
            day = date.fromisoformat(raw[:10])
        except ValueError as exc:
            raise AnnotationError(_("%(label)s must be a date written YYYY-MM-DD.") % {"label": field.label}) from exc
        return {"text": day.isoformat(), "number": None, "date": day}
    if field.kind == CustomField.Kind.CHOICE:
        by_fold = {c.casefold(): c for c in field.choices}
        if raw.casefold() not in by_fold:
            raise AnnotationError(
                _("%(label)s must be one of: %(choices)s.")
                % {"label": field.label, "choices": ", ".join(field.choices)}
            )
        return {"text": by_fold[raw.casefold()], "number": None, "date": None}
    if len(raw) > MAX_FIELD_TEXT:
        raise AnnotationError(
            _("%(label)s has at most %(n)d characters.") % {"label": field.label, "n": MAX_FIELD_TEXT}
        )
    return {"text": raw, "number": None, "date": None}


def set_field_value(*, workspace: Workspace, member: Member, field: CustomField, raw: str, actor: User | None) -> bool:
    """Set (or clear, with an empty value) a member's field; returns whether anything changed."""
    current = CustomFieldValue.objects.filter(member=member, field=field).first()
    if not raw.strip():
        if current is None:
            return False
        current.delete()
    else:
        columns = parse_value(field, raw)
        if current is not None and all(getattr(current, k) == v for k, v in columns.items()):
            return False
        CustomFieldValue.objects.update_or_create(
            member=member, field=field, defaults={"workspace": workspace, **columns}
        )
    if actor is not None:
        audit(
            workspace=workspace,
            actor=actor,
            action="members.field_set",
            target=member,
            data={"member": member.pk, "field": field.key},
        )
    return True


# --- organisation (K=5's MemberFacts.organisation; see docs/members-k6-notes.md) --------------------------


def facts_model() -> type[Model] | None:
    """K=5's MemberFacts model, or None while it is not installed."""
    try:
        return apps.get_model("members", "MemberFacts")
    except LookupError:
        return None


def organisation_of(member: Member) -> str:
    facts = getattr(member, "facts", None) if facts_model() is not None else None
    return str(getattr(facts, "organisation", "") or "")


def set_organisation(*, workspace: Workspace, member: Member, organisation: str, actor: User | None) -> bool:
    """Set the member's organisation by hand (the email-domain estimate never overwrites it); an empty value
    hands it back to the estimate. Returns whether anything changed."""
    model = facts_model()
    if model is None:
        return False
    organisation = " ".join(organisation.split())[:200]
    with transaction.atomic():
        facts, _created = model._default_manager.get_or_create(
            member=member, defaults={"workspace": workspace, "computed_at": timezone.now()}
        )
        by_hand = bool(organisation)
        if facts.organisation == organisation and facts.organisation_by_hand == by_hand:  # type: ignore[attr-defined]
            return False
        facts.organisation = organisation  # type: ignore[attr-defined]
        facts.organisation_by_hand = by_hand  # type: ignore[attr-defined]
        facts.save(update_fields=["organisation", "organisation_by_hand"])
    if actor is not None:
        audit(
            workspace=workspace,
            actor=actor,
            action="members.organisation_set",
            target=member,
            data={"member": member.pk},
        )
    return True


# --- consent ----------------------------------------------------------------------------------------------


def record_consent(
    *,
    workspace: Workspace,
    member: Member,
    topic: str,
    granted: bool,
    given_at: datetime | None = None,
    source: str = "",
    note: str = "",
    actor: User | None,
) -> Consent:
    """Record what the member agreed to (or withdrew), when and where; history is kept."""
    topic = " ".join(topic.split())[:120]
    if not topic:
        raise AnnotationError(_("Say what the consent is for."))
    consent = Consent.objects.create(
        workspace=workspace,
        member=member,
        topic=topic,
        granted=granted,
        given_at=given_at or timezone.now(),
        source=source.strip()[:200],
        note=note.strip()[:2000],
        recorded_by=actor,
    )
    audit(
        workspace=workspace,
        actor=actor,
        action="members.consent_recorded",
        target=member,
        data={"member": member.pk, "consent": consent.pk, "granted": granted},
    )
    return consent


def current_consents(*, member: Member) -> list[Consent]:
    """The latest consent per topic, by topic."""
    latest: dict[str, Consent] = {}
    for consent in Consent.objects.filter(member=member).order_by("topic", "-given_at", "-id"):
        latest.setdefault(consent.topic, consent)
    return list(latest.values())
