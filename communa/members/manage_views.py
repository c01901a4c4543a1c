"""Member pages for segments, CSV export/import, tags, notes, custom fields, consent, privacy and bulk unmerge.

Thin, like views.py: access_workspace first (404 outsiders, 403 roles), objects fetched with the workspace in
the filter (a miss is a 404), one service call, redirect or render. Reading is VIEW_MEMBERS; every write,
CSV export and the privacy actions are MANAGE_MEMBERS (personal data leaving Communa, or gone for good).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from communa.accounts.access import access_workspace, can
from communa.accounts.models import User, Workspace
from communa.accounts.roles import Perm
from communa.core.pagination import InvalidCursor
from communa.members import annotations as notes
from communa.members import csv_io, privacy, segments, selectors, unmerge
from communa.members.models import CustomField, Member, MemberImport, Note, RetentionPolicy, Segment, Tag
from communa.members.segments import InvalidFilter, MemberFilter, filter_members, parse_filter, segment_filter
from communa.members.services import MergeError
from communa.stream.models import Message

PAGE_SIZE = 50
SORT_LABELS = {
    "last_seen": gettext_lazy("Last seen"),
    "first_seen": gettext_lazy("First seen"),
    "messages": gettext_lazy("Messages"),
}
# Query parameters of the list that are not filter conditions.
NOT_FILTERS = ("sort", "cursor", "segment")


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required guarantees it
    return request.user


def _member(ws: Workspace, member_id: int) -> Member:
    try:
        member = selectors.get_member(workspace=ws, member_id=member_id)
    except Member.DoesNotExist as exc:
        raise Http404 from exc
    if member.merged_into_id is not None or member.erased_at is not None:
        raise Http404
    return member


def _filter_params(request: HttpRequest) -> QueryDict:
    params = request.GET.copy()
    for key in NOT_FILTERS:
        params.pop(key, None)
    return params


def _segment(ws: Workspace, segment_id: Any) -> Segment | None:
    try:
        return Segment.objects.get(workspace=ws, pk=int(segment_id))
    except (Segment.DoesNotExist, TypeError, ValueError):
        return None


# --- the list --------------------------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HttpRequest, workspace: str) -> HttpResponse:
    """The member list: filters (the segment filter object), saved segments, sort, keyset pages, a count."""
    ws = access_workspace(request.user, workspace, Perm.VIEW_MEMBERS)
    segment = _segment(ws, request.GET.get("segment"))
    params = _filter_params(request)
    if segment is not None and not params:
        return redirect(_list_url(ws, segment_filter(segment), segment))  # the segment's filters, visible and editable
    errors: list[Any] = []
    try:
        flt = parse_filter(params)
    except InvalidFilter as exc:
        flt, errors = MemberFilter(), exc.errors
    sort = request.GET.get("sort", "last_seen")
    sort = sort if sort in SORT_LABELS else "last_seen"
    query = selectors.MemberQuery(sort=sort, flt=flt)
    try:
        page = selectors.member_page(workspace=ws, query=query, cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    except InvalidCursor:
        page = selectors.member_page(workspace=ws, query=query, cursor=None, limit=PAGE_SIZE)
    can_manage = can(request.user, ws, Perm.MANAGE_MEMBERS)
    all_params = request.GET.copy()
    all_params.pop("cursor", None)
    return render(
        request,
        "members/index.html",
        {
            "workspace": ws,
            "page": page,
            "flt": flt,
            "filter_errors": errors,
            "sort": sort,
            "sort_labels": SORT_LABELS,
            "seen_choices": (7, 30, 90, 365),
            "negative_choices": ((0.25, 25), (0.5, 50), (0.75, 75)),
            "count": filter_members(workspace=ws, flt=flt).count(),
            "filtered": not flt.is_empty(),
            "filter_query": flt.as_query().urlencode(),
            "params": all_params,
            "is_first_page": not request.GET.get("cursor"),
            "segment": segment,
            "segments": Segment.objects.filter(workspace=ws).order_by("name"),
            "platforms": selectors.platforms_in_use(ws),
            "tags": Tag.objects.filter(workspace=ws).order_by("name"),
            "fields": CustomField.objects.filter(workspace=ws).order_by("position", "id"),
            "can_manage": can_manage,
            "pending_count": selectors.pending_suggestions(workspace=ws).count() if can_manage else None,
        },
    )


def _list_url(ws: Workspace, flt: MemberFilter, segment: Segment | None = None) -> str:
    query = flt.as_query()
    if segment is not None:
        query["segment"] = str(segment.pk)
    url = reverse("members:index", args=[ws.slug])
    return f"{url}?{query.urlencode()}" if query else url


@login_required
@require_POST
def save_segment(request: HttpRequest, workspace: str) -> HttpResponse:
    """Save the list's current filters as a segment (new, or replacing the one named `segment`)."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    try:
        flt = parse_filter(QueryDict(request.POST.get("filter", "")))
    except InvalidFilter:
        messages.error(request, _("These filters cannot be saved: fix them first."))
        return redirect("members:index", ws.slug)
    existing = _segment(ws, request.POST.get("segment"))
    name = " ".join(request.POST.get("name", "").split())[:100]
    if existing is not None and not name:
        segments.update_segment(workspace=ws, segment=existing, flt=flt, actor=_user(request))
        messages.success(request, _("Segment updated."))
        return HttpResponseRedirect(_list_url(ws, flt, existing))
    try:
        segment = segments.create_segment(workspace=ws, name=name, flt=flt, actor=_user(request))
    except segments.SegmentError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(_list_url(ws, flt))
    messages.success(request, _("Segment saved. Everyone in the workspace can use it."))
    return HttpResponseRedirect(_list_url(ws, flt, segment))


@login_required
@require_POST
def delete_segment(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    segment = _segment(ws, request.POST.get("segment"))
    if segment is None:
        raise Http404
    segments.delete_segment(workspace=ws, segment=segment, actor=_user(request))
    messages.success(request, _("Segment deleted."))
    return redirect("members:index", ws.slug)


@login_required
@require_GET
def export_csv(request: HttpRequest, workspace: str) -> StreamingHttpResponse:
    """The members matching the list's filters as CSV, streamed (any size, constant memory)."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    try:
        flt = parse_filter(_filter_params(request))
    except InvalidFilter as exc:
        raise Http404 from exc
    members = filter_members(workspace=ws, flt=flt)
    response = StreamingHttpResponse(
        csv_io.stream_csv(csv_io.export_rows(workspace=ws, members=members)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="members-{ws.slug}-{stamp}.csv"'
    return response


# --- CSV import ------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest, workspace: str) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a CSV file.")
        elif upload.size and upload.size > csv_io.MAX_BYTES:
            error = _("The file is larger than %(mb)d MB: split it into smaller files.") % {
                "mb": csv_io.MAX_BYTES // 1048576
            }
        else:
            try:
                job = csv_io.upload(
                    workspace=ws, filename=upload.name or "members.csv", data=upload.read(), actor=_user(request)
                )
            except csv_io.ImportProblem as exc:
                error = str(exc)
            else:
                return redirect("members:import_preview", ws.slug, job.pk)
    recent = MemberImport.objects.filter(workspace=ws).order_by("-created_at")[:10]
    return render(
        request,
        "members/import_upload.html",
        {"workspace": ws, "error": error, "recent": recent, "max_mb": csv_io.MAX_BYTES // 1048576},
        status=400 if error else 200,
    )


def _import(ws: Workspace, import_id: int) -> MemberImport:
    try:
        return MemberImport.objects.get(workspace=ws, pk=import_id)
    except MemberImport.DoesNotExist as exc:
        raise Http404 from exc


@login_required
@require_http_methods(["GET", "POST"])
def import_preview(request: HttpRequest, workspace: str, import_id: int) -> HttpResponse:
    """The detected columns and their mapping, the first rows, every row's errors; POST starts the import."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    job = _import(ws, import_id)
    if job.status != MemberImport.Status.UPLOADED:
        return redirect("members:import_status", ws.slug, job.pk)
    error = ""
    if request.method == "POST":
        mapping = {str(i): request.POST.get(f"col-{i}", "ignore") for i in range(len(job.columns))}
        if "apply" in request.POST:  # re-check with the new mapping, do not start
            job.mapping = mapping
            job.save(update_fields=["mapping"])
        else:
            try:
                csv_io.start(job=job, mapping=mapping, actor=_user(request))
            except csv_io.ImportProblem as exc:
                error = str(exc)
                job.mapping = mapping
            else:
                return redirect("members:import_status", ws.slug, job.pk)
    result = csv_io.preview(job)
    columns = [
        {"index": str(i), "header": header or _("(no name)"), "target": job.mapping.get(str(i), "ignore")}
        for i, header in enumerate(job.columns)
    ]
    return render(
        request,
        "members/import_preview.html",
        {
            "workspace": ws,
            "job": job,
            "preview": result,
            "columns": columns,
            "targets": csv_io.targets_for(ws, job.mapping),
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_GET
def import_status(request: HttpRequest, workspace: str, import_id: int) -> HttpResponse:
    """Progress while the task runs (the partial is polled by HTMX), then the summary."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    job = _import(ws, import_id)
    context = {"workspace": ws, "job": job, "running": job.status in {"queued", "running"}}
    if request.headers.get("HX-Request"):
        return render(request, "members/partials/import_progress.html", context)
    return render(request, "members/import_status.html", context)


# --- profile: tags, notes, fields, organisation, consent ---------------------------------------------------


def _back(ws: Workspace, member: Member, anchor: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("members:profile", args=[ws.slug, member.pk]) + f"#{anchor}")


@login_required
@require_POST
def tag_add(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    member = _member(ws, member_id)
    try:
        names = [n for n in request.POST.get("tags", "").split(",") if n.strip()]
        notes.add_tags(workspace=ws, member=member, names=names, actor=_user(request))
    except notes.AnnotationError as exc:
        messages.error(request, str(exc))
    return _back(ws, member, "member-tags")


@login_required
@require_POST
def tag_remove(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    member = _member(ws, member_id)
    tag = Tag.objects.filter(workspace=ws, name=request.POST.get("tag", "")).first()
    if tag is None:
        raise Http404
    notes.remove_tag(workspace=ws, member=member, tag=tag, actor=_user(request))
    return _back(ws, member, "member-tags")


@login_required
@require_POST
def note_add(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    member = _member(ws, member_id)
    try:
        notes.add_note(workspace=ws, member=member, text=request.POST.get("text", ""), author=_user(request))
    except notes.AnnotationError as exc:
        messages.error(request, str(exc))
    return _back(ws, member, "member-notes")


@login_required
@require_POST
def note_delete(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    member = _member(ws, member_id)
    try:
        note = Note.objects.get(workspace=ws, member=member, pk=int(request.POST.get("note", "")))
    except (Note.DoesNotExist, ValueError) as exc:
        raise Http404 from exc
    notes.delete_note(workspace=ws, note=note, actor=_user(request))
    return _back(ws, member, "member-notes")


@login_required
@require_POST
def fields_set(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    """Set the member's custom fields and organisation from the profile's form."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    member = _member(ws, member_id)
    actor = _user(request)
    for field in CustomField.objects.filter(workspace=ws):
        if f"field-{field.key}" not in request.POST:
            continue
        try:
            notes.set_field_value(
                workspace=ws, member=member, field=field, raw=request.POST[f"field-{field.key}"], actor=actor
            )
        except notes.AnnotationError as exc:
            messages.error(request, str(exc))
    if "organisation" in request.POST:
        notes.set_organisation(workspace=ws, member=member, organisation=request.POST["organisation"], actor=actor)
    return _back(ws, member, "member-fields")


@login_required
@require_POST
def consent_add(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    member = _member(ws, member_id)
    given_at = None
    if request.POST.get("given_at"):
        try:
            given_at = timezone.make_aware(datetime.fromisoformat(request.POST["given_at"]))
        except ValueError:
            messages.error(request, _("Give the date as YYYY-MM-DD."))
            return _back(ws, member, "member-consent")
    try:
        notes.record_consent(
            workspace=ws,
            member=member,
            topic=request.POST.get("topic", ""),
            granted=request.POST.get("granted") != "no",
            given_at=given_at,
            source=request.POST.get("source", ""),
            note=request.POST.get("note", ""),
            actor=_user(request),
        )
    except notes.AnnotationError as exc:
        messages.error(request, str(exc))
    return _back(ws, member, "member-consent")


def profile_extras(request: HttpRequest, ws: Workspace, member: Member) -> dict[str, Any]:
    """What the profile's tags/notes/fields/consent/privacy block shows (members/partials/profile_extras.html)."""
    values = {v.field_id: v.text for v in member.field_values.all()}
    return {
        "extras_tags": [link.tag for link in member.tag_links.select_related("tag").order_by("tag__name")],
        "extras_all_tags": Tag.objects.filter(workspace=ws).order_by("name"),
        "extras_notes": member.notes.select_related("author").order_by("-created_at", "-id"),
        "extras_fields": [
            (f, values.get(f.pk, "")) for f in CustomField.objects.filter(workspace=ws).order_by("position", "id")
        ],
        "extras_organisation": notes.organisation_of(member),
        "extras_consents": notes.current_consents(member=member),
        "extras_can_manage": can(request.user, ws, Perm.MANAGE_MEMBERS),
    }


# --- privacy -----------------------------------------------------------------------------------------------


# The readable (HTML) data export: section titles and column names for a person, values formatted.
SECTION_TITLES = {
    "member": gettext_lazy("Member"),
    "identities": gettext_lazy("Identities on each platform"),
    "tags": gettext_lazy("Tags"),
    "notes": gettext_lazy("Notes by the team"),
    "custom_fields": gettext_lazy("Custom fields"),
    "consents": gettext_lazy("Consent"),
    "engagement": gettext_lazy("Engagement"),
    "facts": gettext_lazy("Profile facts"),
    "merges": gettext_lazy("Merged profiles"),
    "messages": gettext_lazy("Messages"),
    "conversations": gettext_lazy("Conversations"),
    "conversation_notes": gettext_lazy("Notes in conversations"),
    "replies": gettext_lazy("Replies sent to them"),
    "moderation_decisions": gettext_lazy("Moderation decisions"),
    "appeals": gettext_lazy("Appeals"),
}
COLUMN_LABELS = {
    "id": gettext_lazy("Number"),
    "display_name": gettext_lazy("Name"),
    "platform": gettext_lazy("Platform"),
    "external_id": gettext_lazy("Platform id"),
    "handle": gettext_lazy("Handle"),
    "email": gettext_lazy("Email"),
    "url": gettext_lazy("Link"),
    "is_bot": gettext_lazy("Bot"),
    "is_staff": gettext_lazy("Team member"),
    "first_seen_at": gettext_lazy("First seen"),
    "last_seen_at": gettext_lazy("Last seen"),
    "message_count": gettext_lazy("Messages"),
    "created_at": gettext_lazy("Created"),
    "edited_at": gettext_lazy("Edited"),
    "added_at": gettext_lazy("Added"),
    "merged_member_ids": gettext_lazy("Profiles merged into this one"),
    "tag": gettext_lazy("Tag"),
    "text": gettext_lazy("Text"),
    "title": gettext_lazy("Title"),
    "author": gettext_lazy("Written by"),
    "field": gettext_lazy("Field"),
    "key": gettext_lazy("Key"),
    "value": gettext_lazy("Value"),
    "topic": gettext_lazy("For what"),
    "granted": gettext_lazy("Agreed"),
    "given_at": gettext_lazy("When"),
    "source": gettext_lazy("Where"),
    "note": gettext_lazy("Note"),
    "kind": gettext_lazy("Kind"),
    "language": gettext_lazy("Language"),
    "deleted_at": gettext_lazy("Deleted"),
    "into": gettext_lazy("Into"),
    "merged": gettext_lazy("Merged"),
    "reason": gettext_lazy("Reason"),
    "merged_at": gettext_lazy("Merged on"),
    "undone_at": gettext_lazy("Undone on"),
    "status": gettext_lazy("Status"),
    "action": gettext_lazy("Action"),
    "rule": gettext_lazy("Rule"),
}
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _readable_value(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return date_format(timezone.localtime(moment) if timezone.is_aware(moment) else moment, "DATETIME_FORMAT")
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _readable_sections(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each section of the export as a title and a table (or, for one row, a list of label: value)."""
    sections = []
    for key, rows in data.items():
        if not isinstance(rows, list):
            continue
        columns = list(rows[0].keys()) if rows else []
        labels = [str(COLUMN_LABELS.get(c, c.replace("_", " ").capitalize())) for c in columns]
        values = [[_readable_value(row.get(c)) for c in columns] for row in rows]
        single = len(rows) == 1 and len(columns) > 4
        sections.append(
            {
                "key": key,
                "title": SECTION_TITLES.get(key, key.replace("_", " ").capitalize()),
                "single": single,
                "columns": labels,
                "rows": values,
                "pairs": list(zip(labels, values[0], strict=True)) if single else [],
            }
        )
    return sections


@login_required
@require_GET
def data_export(request: HttpRequest, workspace: str, member_id: int, fmt: str) -> HttpResponse:
    """Everything held about the member, as JSON or a readable HTML page, downloaded."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    member = _member(ws, member_id)
    data = privacy.export_data(workspace=ws, member=member, actor=_user(request))
    if fmt == "json":
        response: HttpResponse = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 2})
    else:
        context = {
            "data": data,
            "generated_at": _readable_value(data.get("generated_at")),
            "sections": _readable_sections(data),
            "member": member,
        }
        response = HttpResponse(render_to_string("members/data_export.html", context, request))
    response["Content-Disposition"] = f'attachment; filename="member-{member.pk}-data.{fmt}"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def erase(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    """Confirm, then erase the member everywhere (privacy.ERASERS)."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    member = _member(ws, member_id)
    if request.method == "POST":
        if request.POST.get("confirm", "").strip() != str(member.pk):
            messages.error(request, _("Type the member's number to confirm."))
        else:
            privacy.erase_member(workspace=ws, member=member, actor=_user(request))
            messages.success(request, _("The member was erased. The audit log keeps that it happened, not who it was."))
            return redirect("members:index", ws.slug)
    subject = privacy.subject_for(workspace=ws, member=member)
    return render(
        request,
        "members/erase.html",
        {
            "workspace": ws,
            "member": member,
            "identities": len(subject.identity_ids),
            "messages_count": len(subject.message_ids),
            "merged": len(subject.member_ids) - 1,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest, workspace: str) -> HttpResponse:
    """Custom fields and the message retention policy of the workspace."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    actor = _user(request)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "field_add":
                notes.define_field(
                    workspace=ws,
                    label=request.POST.get("label", ""),
                    kind=request.POST.get("kind", "text"),
                    choices=request.POST.get("choices", "").split(","),
                    actor=actor,
                )
                messages.success(request, _("Field added."))
            elif action == "field_delete":
                field = CustomField.objects.filter(workspace=ws, key=request.POST.get("key", "")).first()
                if field is None:
                    raise Http404
                notes.delete_field(workspace=ws, field=field, actor=actor)
                messages.success(request, _("Field deleted, with its values."))
            elif action == "retention":
                raw_days = request.POST.get("message_days", "").strip()
                days = int(raw_days) if raw_days else None
                if days is not None and not 1 <= days <= 36500:
                    raise notes.AnnotationError(_("Keep messages between 1 and 36500 days, or leave it empty."))
                privacy.set_retention(
                    workspace=ws,
                    message_days=days,
                    action=request.POST.get("retention_action", "anonymise"),
                    actor=actor,
                )
                messages.success(request, _("Retention policy saved."))
        except notes.AnnotationError as exc:
            messages.error(request, str(exc))
        except ValueError:
            messages.error(request, _("Keep messages between 1 and 36500 days, or leave it empty."))
        return redirect("members:settings", ws.slug)
    return render(
        request,
        "members/settings.html",
        {
            "workspace": ws,
            "fields": CustomField.objects.filter(workspace=ws).order_by("position", "id"),
            "kinds": CustomField.Kind.choices,
            "policy": RetentionPolicy.objects.filter(workspace=ws).first(),
            "retention_actions": RetentionPolicy.Action.choices,
        },
    )


# --- bulk unmerge ------------------------------------------------------------------------------------------


def _identity_rows(ws: Workspace, member: Member) -> list[dict[str, Any]]:
    identities = selectors.member_profile(workspace=ws, member=member).identities
    counts = dict(
        Message.objects.filter(workspace=ws, identity__in=identities)
        .values("identity")
        .annotate(n=Count("id"))
        .values_list("identity", "n")
    )
    return [{"identity": i, "messages": counts.get(i.pk, 0)} for i in identities]


@login_required
@require_http_methods(["GET", "POST"])
def unmerge_page(request: HttpRequest, workspace: str, member_id: int) -> HttpResponse:
    """Choose identities to split off; the preview says which merges are undone and what moves; confirm."""
    ws = access_workspace(request.user, workspace, Perm.MANAGE_MEMBERS)
    member = _member(ws, member_id)
    chosen = [int(i) for i in request.POST.getlist("identity") if i.isdigit()]
    plan = None
    error = ""
    if request.method == "POST" and chosen:
        try:
            if request.POST.get("confirm") == "yes":
                holders = unmerge.unmerge(workspace=ws, member=member, identity_ids=chosen, actor=_user(request))
                messages.success(
                    request,
                    _("Split off into %(n)d member(s): %(names)s.")
                    % {"n": len(holders), "names": ", ".join(str(m) for m in holders)},
                )
                return redirect("members:profile", ws.slug, member.pk)
            plan = unmerge.plan_unmerge(workspace=ws, member=member, identity_ids=chosen)
        except MergeError as exc:
            error = str(exc)
    elif request.method == "POST":
        error = _("Choose the identities to split off.")
    return render(
        request,
        "members/unmerge.html",
        {
            "workspace": ws,
            "member": member,
            "identity_rows": _identity_rows(ws, member),
            "chosen": set(chosen),
            "plan": plan,
            "error": error,
            "chosen_json": json.dumps(chosen),
        },
        status=400 if error else 200,
    )
