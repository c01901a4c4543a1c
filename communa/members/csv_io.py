"""CSV export of members (a list, a segment) and CSV import of members (upload → preview → task → summary).

Export streams: rows are written chunk by chunk as the response goes out, every text cell through the
formula-injection guard (core/spreadsheet.py). Its columns are the import's, so a file exported, edited in a
spreadsheet and imported again changes exactly what was edited.

Import is idempotent: a row is matched to an existing member by email, then by handle per platform; a
re-import of the same file changes nothing. Identities the file brings are created on the "import" platform
(the email) or on the platform of a handle column, through this module only.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from communa.accounts.models import User, Workspace
from communa.audit.services import record as audit
from communa.core.bulk import chunked
from communa.core.spreadsheet import FORMULA_PREFIXES, guard_cell
from communa.members import annotations as notes
from communa.members.models import CustomField, CustomFieldValue, Identity, Member, MemberImport, MemberTag
from communa.members.resolution import keys_for
from communa.members.segments import RELATED_COLUMNS, path_exists
from communa.members.services import refresh_keys

IMPORT_PLATFORM = "import"
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
MAX_COLUMNS = 100
MAX_CELL = 1_000
MAX_ERRORS_KEPT = 1_000
PREVIEW_ROWS = 10
BATCH = 200
EXPORT_CHUNK = 500
DELIMITERS = (",", ";", "\t")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{2,}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Header (lower case, spaces and dashes folded to "_") → target.
HEADER_ALIASES = {
    "name": "name",
    "display_name": "name",
    "full_name": "name",
    "nome": "name",
    "nombre": "name",
    "имя": "name",
    "email": "email",
    "e_mail": "email",
    "mail": "email",
    "email_address": "email",
    "organisation": "organisation",
    "organization": "organisation",
    "company": "organisation",
    "org": "organisation",
    "tags": "tags",
    "tag": "tags",
    "labels": "tags",
}


class ImportProblem(ValueError):
    """A file that cannot be imported at all; the message says why, for a person."""


# --- export -------------------------------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_columns(workspace: Workspace, platforms: Sequence[str]) -> tuple[list[str], list[CustomField]]:
    fields = list(CustomField.objects.filter(workspace=workspace).order_by("position", "id"))
    related = [name for name, path in RELATED_COLUMNS.items() if path_exists(path) and name != "main_language"]
    header = [
        "id",
        "name",
        "email",
        "organisation",
        "tags",
        *[f"handle:{p}" for p in platforms],
        *[f"field:{f.key}" for f in fields],
        *related,
        "first_seen_at",
        "last_seen_at",
        "messages",
        "staff",
        "bot",
    ]
    return header, fields


def export_rows(*, workspace: Workspace, members: QuerySet[Member]) -> Iterator[list[Any]]:
    """The header, then one row per member, fetched EXPORT_CHUNK members at a time (four queries a chunk)."""
    platforms = list(
        Identity.objects.filter(workspace=workspace).order_by("platform").values_list("platform", flat=True).distinct()
    )
    header, fields = export_columns(workspace, platforms)
    yield header
    related = [(name, path) for name, path in RELATED_COLUMNS.items() if f"{name}" in header]
    has_org = path_exists("facts__organisation")
    values = ["pk", *([("facts__organisation")] if has_org else []), *[path for _n, path in related]]
    ids = list(members.order_by("pk").values_list("pk", flat=True))
    for chunk in chunked(ids, EXPORT_CHUNK):
        rows = {r["pk"]: r for r in Member.objects.filter(pk__in=chunk).values(*values)}
        members_by_id = {m.pk: m for m in Member.objects.filter(pk__in=chunk)}
        identities: dict[int, list[Identity]] = {}
        for identity in Identity.objects.filter(member_id__in=chunk).order_by("platform", "id"):
            identities.setdefault(identity.member_id or 0, []).append(identity)
        tags: dict[int, list[str]] = {}
        for member_id, name in MemberTag.objects.filter(member_id__in=chunk).values_list("member_id", "tag__name"):
            tags.setdefault(member_id, []).append(name)
        field_values: dict[tuple[int, int], str] = {
            (v.member_id, v.field_id): v.text for v in CustomFieldValue.objects.filter(member_id__in=chunk)
        }
        for pk in chunk:
            member = members_by_id[pk]
            own = identities.get(pk, [])
            emails = [i.email for i in own if i.email]
            handles: dict[str, str] = {}
            for i in own:
                handles.setdefault(i.platform, i.handle or i.external_id)
            yield [
                pk,
                member.display_name,
                emails[0] if emails else "",
                rows[pk].get("facts__organisation") or "",
                "; ".join(sorted(tags.get(pk, []), key=str.casefold)),
                *[handles.get(p, "") for p in platforms],
                *[field_values.get((pk, f.pk), "") for f in fields],
                *[rows[pk].get(path) or "" for _n, path in related],
                member.first_seen_at.isoformat() if member.first_seen_at else "",
                member.last_seen_at.isoformat() if member.last_seen_at else "",
                member.message_count,
                "yes" if member.is_staff else "no",
                "yes" if member.is_bot else "no",
            ]


def stream_csv(rows: Iterable[list[Any]]) -> Iterator[str]:
    """CSV lines, every cell through the formula-injection guard. A UTF-8 BOM first, for Excel."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    for row in rows:
        yield writer.writerow([guard_cell(cell) for cell in row])


# --- import: reading and checking ---------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without BOM) or UTF-16 with a BOM; anything else is refused with a
    hint rather than guessed (a wrong guess silently garbles names)."""
    if len(data) > MAX_BYTES:
        raise ImportProblem(
            _("The file is larger than %(mb)d MB: split it into smaller files.") % {"mb": MAX_BYTES // 1048576}
        )
    if not data.strip():
        raise ImportProblem(_("The file is empty."))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ImportProblem(_("The file says it is UTF-16 but is not.")) from exc
    if b"\x00" in data[:4096]:
        raise ImportProblem(_("This is not a CSV text file (it contains binary data)."))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportProblem(
            _('The file is not UTF-8 (first bad byte on line %(line)d). In your spreadsheet, save it as "CSV UTF-8".')
            % {"line": line}
        ) from exc


def sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_table(text: str, delimiter: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and (line number, cells) for each non-empty row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header = next(reader)
    except StopIteration as exc:
        raise ImportProblem(_("The file is empty.")) from exc
    except csv.Error as exc:
        raise ImportProblem(_("The header line cannot be read as CSV: %(error)s") % {"error": exc}) from exc
    header = [_clean(h)[:200] for h in header]
    if len(header) > MAX_COLUMNS:
        raise ImportProblem(_("The file has %(n)d columns; at most %(max)d.") % {"n": len(header), "max": MAX_COLUMNS})

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = reader.line_num
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, [f"\x00{exc}"]  # reported as a row error
                continue
            line = start
            if any(c.strip() for c in cells):
                yield line, cells

    return header, rows()


def _unguard(value: str) -> str:
    """A cell our export guarded ("'=x", "'@handle") reads back as it was."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES) else value


def _clean(value: str) -> str:
    return _CONTROL.sub("", value).strip()


def _norm_header(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().casefold())


def detect_mapping(*, workspace: Workspace, header: Sequence[str]) -> dict[str, str]:
    """Column index (as text) → target, guessed from the header: name, email, organisation, tags,
    handle:<platform> ("handle:discord", or a header naming a platform in use), field:<key>, else ignore."""
    platforms = set(Identity.objects.filter(workspace=workspace).values_list("platform", flat=True).distinct())
    fields = {f.key: f for f in CustomField.objects.filter(workspace=workspace)}
    labels = {f.label.casefold(): f.key for f in fields.values()}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, raw in enumerate(header):
        name = _norm_header(raw)
        target = "ignore"
        if name in HEADER_ALIASES:
            target = HEADER_ALIASES[name]
        elif raw.strip().casefold().startswith("handle:") and len(raw.strip()) > 7:
            target = "handle:" + raw.strip()[7:].strip()
        elif raw.strip() in platforms:
            target = "handle:" + raw.strip()
        elif raw.strip().casefold().startswith("field:") and raw.strip()[6:].strip() in fields:
            target = "field:" + raw.strip()[6:].strip()
        elif name in fields:
            target = "field:" + name
        elif raw.strip().casefold() in labels:
            target = "field:" + labels[raw.strip().casefold()]
        if target != "ignore" and target in taken:
            target = "ignore"  # the first column wins
        taken.add(target)
        mapping[str(index)] = target
    return mapping


def targets_for(workspace: Workspace, mapping: dict[str, str]) -> list[tuple[str, str]]:
    """The choices of a mapping select: fixed targets, handle per platform (in use or in the mapping), fields."""
    platforms = set(Identity.objects.filter(workspace=workspace).values_list("platform", flat=True).distinct())
    platforms |= {t[7:] for t in mapping.values() if t.startswith("handle:")}
    choices = [
        ("ignore", _("Ignore this column")),
        ("name", _("Name")),
        ("email", _("Email")),
        ("organisation", _("Organisation")),
        ("tags", _("Tags (separated by ; or ,)")),
    ]
    choices += [(f"handle:{p}", _("Handle on %(platform)s") % {"platform": p}) for p in sorted(platforms)]
    choices += [
        (f"field:{f.key}", _("Field: %(label)s") % {"label": f.label})
        for f in CustomField.objects.filter(workspace=workspace).order_by("position", "id")
    ]
    return choices


@dataclasses.dataclass
class ParsedRow:
    line: int
    name: str = ""
    email: str = ""
    organisation: str = ""
    tags: list[str] = dataclasses.field(default_factory=list)
    handles: dict[str, str] = dataclasses.field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


def check_mapping(mapping: dict[str, str]) -> list[str]:
    """File-level problems of a mapping (no way to recognise a member again)."""
    targets = set(mapping.values())
    if "email" not in targets and not any(t.startswith("handle:") for t in targets):
        return [_("Map a column to Email or to a handle: without one, members cannot be recognised again.")]
    return []


def parse_row(  # noqa: C901 - one branch per target
    line: int, cells: list[str], mapping: dict[str, str], fields: dict[str, CustomField]
) -> tuple[ParsedRow | None, list[str]]:
    """The row as values to store, or None with the reasons it cannot be imported."""
    if cells and cells[0].startswith("\x00"):
        return None, [_("This line cannot be read as CSV: %(error)s") % {"error": cells[0][1:]}]
    row = ParsedRow(line=line)
    errors: list[str] = []
    for index, target in mapping.items():
        i = int(index)
        if target == "ignore" or i >= len(cells):
            continue
        value = _unguard(_clean(cells[i]))
        if not value:
            continue
        if len(value) > MAX_CELL:
            errors.append(_("Column %(n)d is longer than %(max)d characters.") % {"n": i + 1, "max": MAX_CELL})
            continue
        if target == "name":
            row.name = value[:200]
        elif target == "email":
            if not _EMAIL.match(value):
                errors.append(_("%(value)s is not an email address.") % {"value": value[:80]})
            else:
                row.email = value.lower()
        elif target == "organisation":
            row.organisation = value[:200]
        elif target == "tags":
            try:
                row.tags = [notes.clean_tag(t) for t in re.split(r"[;,]", value) if t.strip()]
            except notes.AnnotationError as exc:
                errors.append(str(exc))
        elif target.startswith("handle:"):
            row.handles[target[7:]] = value[:255]
        elif target.startswith("field:"):
            field = fields.get(target[6:])
            if field is None:
                continue
            try:
                row.fields[field.key] = notes.parse_value(field, value)
            except notes.AnnotationError as exc:
                errors.append(str(exc))
    if not errors and not row.email and not row.handles:
        errors.append(_("No email and no handle: this member could not be recognised again."))
    return (None if errors else row), errors


@dataclasses.dataclass
class Preview:
    header: list[str]
    rows: list[tuple[int, list[str]]]
    total: int
    valid: int
    errors: list[tuple[int, str]]
    error_count: int
    problems: list[str]


def preview(job: MemberImport) -> Preview:
    """The first rows, and every row checked (errors by line number): what the import would do."""
    header, rows = read_table(job.content, job.delimiter)
    fields = {f.key: f for f in CustomField.objects.filter(workspace_id=job.workspace_id)}
    first: list[tuple[int, list[str]]] = []
    errors: list[tuple[int, str]] = []
    total = valid = error_count = 0
    for line, cells in rows:
        total += 1
        if len(first) < PREVIEW_ROWS:
            first.append((line, [c[:200] for c in cells]))
        parsed, problems = parse_row(line, cells, job.mapping, fields)
        if parsed is not None:
            valid += 1
        else:
            error_count += 1
            errors.extend((line, p) for p in problems[: max(0, 100 - len(errors))])
    problems = check_mapping(job.mapping)
    if total > MAX_ROWS:
        problems.append(_("The file has %(n)d rows; at most %(max)d per import.") % {"n": total, "max": MAX_ROWS})
    if total == 0:
        problems.append(_("The file has a header but no rows."))
    return Preview(header, first, total, valid, errors, error_count, problems)


# --- import: services ---------------------------------------------------------------------------------------


def upload(*, workspace: Workspace, filename: str, data: bytes, actor: User | None) -> MemberImport:
    """Store an uploaded file for preview; ImportProblem when it cannot be read at all."""
    text = decode(data)
    delimiter = sniff_delimiter(text)
    header, _rows = read_table(text, delimiter)
    if not any(header):
        raise ImportProblem(_("The first line must name the columns (name, email, tags, …)."))
    job = MemberImport.objects.create(
        workspace=workspace,
        filename=filename[:255],
        content=text,
        delimiter=delimiter,
        columns=header,
        mapping=detect_mapping(workspace=workspace, header=header),
        created_by=actor,
    )
    return job


def start(*, job: MemberImport, mapping: dict[str, str], actor: User | None) -> MemberImport:
    """Confirm the mapping and queue the import; ImportProblem when the file or mapping cannot be imported."""
    with transaction.atomic():
        job = MemberImport.objects.select_for_update().get(pk=job.pk)
        if job.status != MemberImport.Status.UPLOADED:
            raise ImportProblem(_("This import was started already."))
        allowed = {value for value, _label in targets_for(job.workspace, job.mapping)}
        job.mapping = {
            str(i): (mapping.get(str(i), "ignore") if mapping.get(str(i), "ignore") in allowed else "ignore")
            for i in range(len(job.columns))
        }
        result = preview(job)
        if result.problems:
            raise ImportProblem(" ".join(result.problems))
        job.status, job.total_rows = MemberImport.Status.QUEUED, result.total
        job.save(update_fields=["mapping", "status", "total_rows"])
        audit(
            workspace=job.workspace,
            actor=actor,
            action="members.import_started",
            data={"import": job.pk, "rows": result.total},
        )
        transaction.on_commit(lambda: run_import_task.enqueue(job.pk))
    return job


def run_import(*, import_id: int) -> MemberImport | None:
    """Apply the rows (from where a previous run stopped), BATCH rows per transaction, counting progress."""
    job = MemberImport.objects.select_related("workspace").filter(pk=import_id).first()
    if job is None or job.status not in {MemberImport.Status.QUEUED, MemberImport.Status.RUNNING}:
        return job
    if job.started_at is None:
        job.started_at = timezone.now()
    job.status = MemberImport.Status.RUNNING
    job.save(update_fields=["status", "started_at"])
    workspace = job.workspace
    refresh_keys(workspace_id=workspace.pk)  # identities not keyed yet are matched by email too
    fields = {f.key: f for f in CustomField.objects.filter(workspace=workspace)}
    _header, rows = read_table(job.content, job.delimiter)
    done = 0
    batch: list[tuple[int, list[str]]] = []

    def flush() -> None:
        with transaction.atomic():
            counts = _apply_batch(job, batch, fields)
            job.processed_rows += len(batch)
            job.created_count += counts["created"]
            job.updated_count += counts["updated"]
            job.unchanged_count += counts["unchanged"]
            job.error_count += len(counts["errors"])
            job.errors = (job.errors + counts["errors"])[:MAX_ERRORS_KEPT]
            job.save(
                update_fields=[
                    "processed_rows",
                    "created_count",
                    "updated_count",
                    "unchanged_count",
                    "error_count",
                    "errors",
                ]
            )
        batch.clear()

    try:
        for line, cells in rows:
            done += 1
            if done <= job.processed_rows:
                continue  # applied by a previous run
            batch.append((line, cells))
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
    except Exception as exc:
        MemberImport.objects.filter(pk=job.pk).update(
            status=MemberImport.Status.FAILED, failure=f"{type(exc).__name__}"[:500], finished_at=timezone.now()
        )
        raise
    job.status, job.finished_at, job.content = MemberImport.Status.DONE, timezone.now(), ""
    job.save(update_fields=["status", "finished_at", "content"])
    audit(
        workspace=workspace,
        actor=None,
        action="members.import_done",
        data={
            "import": job.pk,
            "created": job.created_count,
            "updated": job.updated_count,
            "unchanged": job.unchanged_count,
            "errors": job.error_count,
        },
    )
    return job


@task(queue_name="default")
def run_import_task(import_id: int) -> int:
    """Run an import; safe to run twice (it goes on from the last committed batch)."""
    job = run_import(import_id=import_id)
    return 0 if job is None else job.processed_rows


def _root(member_id: int) -> int:
    for _hop in range(100):
        parent = Member.objects.filter(pk=member_id).values_list("merged_into_id", flat=True).first()
        if parent is None:
            return member_id
        member_id = parent
    return member_id


def _matches(workspace: Workspace, row: ParsedRow) -> tuple[set[int], list[Identity], list[str]]:
    """Members the row's email and handles point at; the identities matched; platforms with no identity."""
    matched: list[Identity] = []
    if row.email:
        matched += list(
            Identity.objects.filter(workspace=workspace, member__isnull=False).filter(
                Q(email_key=row.email) | Q(platform=IMPORT_PLATFORM, external_id=row.email)
            )
        )
    missing = []
    for platform, handle in row.handles.items():
        key = keys_for(platform=platform, handle=handle, display_name="", email="").handle
        candidates = Identity.objects.filter(workspace=workspace, platform=platform, member__isnull=False)
        found = [
            i
            for i in candidates.filter(Q(external_id=handle) | (Q(handle_key=key) if key else Q(handle=handle)))
            if handle.casefold() in {i.external_id.casefold(), i.handle.casefold(), i.handle.casefold().lstrip("@")}
        ]
        matched += found
        if not found:
            missing.append(platform)
    members = {_root(i.member_id) for i in matched if i.member_id is not None}
    return members, matched, missing


def _apply_batch(  # noqa: C901 - the steps of one row, in order
    job: MemberImport, batch: list[tuple[int, list[str]]], fields: dict[str, CustomField]
) -> dict[str, Any]:
    workspace = job.workspace
    counts: dict[str, Any] = {"created": 0, "updated": 0, "unchanged": 0, "errors": []}
    new_identities: list[int] = []
    for line, cells in batch:
        row, problems = parse_row(line, cells, job.mapping, fields)
        if row is None:
            counts["errors"].extend([line, p] for p in problems)
            continue
        members, matched, missing = _matches(workspace, row)
        if len(members) > 1:
            counts["errors"].append(
                [
                    line,
                    _("The email and handles belong to %(n)d different members (%(ids)s): merge them first.")
                    % {"n": len(members), "ids": ", ".join(f"#{m}" for m in sorted(members))},
                ]
            )
            continue
        changed = False
        created = not members
        if created:
            member = Member.objects.create(
                workspace=workspace,
                display_name=row.name or next(iter(row.handles.values()), "") or row.email.split("@")[0],
            )
        else:
            member = Member.objects.get(pk=next(iter(members)))
            if row.name and member.display_name != row.name:
                member.display_name = row.name
                member.save(update_fields=["display_name"])
                changed = True
        identities = []
        if row.email and not any(i.email_key == row.email or i.external_id == row.email for i in matched):
            identities.append(
                Identity(
                    workspace=workspace,
                    platform=IMPORT_PLATFORM,
                    external_id=row.email,
                    email=row.email,
                    display_name=row.name,
                    member=member,
                )
            )
        for platform in missing:
            handle = row.handles[platform]
            identities.append(
                Identity(
                    workspace=workspace,
                    platform=platform,
                    external_id=handle,
                    handle=handle,
                    display_name=row.name,
                    member=member,
                )
            )
        for identity in identities:
            obj, made = Identity.objects.get_or_create(
                workspace=workspace,
                platform=identity.platform,
                external_id=identity.external_id,
                defaults={
                    "handle": identity.handle,
                    "email": identity.email,
                    "display_name": identity.display_name,
                    "member": member,
                },
            )
            if made:
                new_identities.append(obj.pk)
                changed = True
                if member.origin_identity_id is None:
                    member.origin_identity = obj
                    member.save(update_fields=["origin_identity"])
        if row.tags and notes.add_tags(workspace=workspace, member=member, names=row.tags, actor=None):
            changed = True
        for key, columns in row.fields.items():
            if notes.set_field_value(
                workspace=workspace, member=member, field=fields[key], raw=columns["text"], actor=None
            ):
                changed = True
        if (
            row.organisation
            and notes.organisation_of(member) != row.organisation
            and notes.set_organisation(workspace=workspace, member=member, organisation=row.organisation, actor=None)
        ):
            changed = True
        counts["created" if created else "updated" if changed else "unchanged"] += 1
    if new_identities:
        refresh_keys(workspace_id=workspace.pk, identity_ids=new_identities)
    return counts
