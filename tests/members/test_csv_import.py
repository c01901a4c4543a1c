"""CSV import: decode and limits, detection and mapping, preview with errors per line, the run (created,
updated, unchanged; idempotent on re-import), matching by email and handle, hostile cells; the pages."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.members import annotations, csv_io
from communa.members.models import Identity, Member, MemberImport, MemberTag
from tests.conftest import login
from tests.members.conftest import say

pytestmark = pytest.mark.django_db

FILE = (
    "Name;Email;Company;Tags;handle:discord;Plan\n"
    "Ana Lima;ana@example.org;Acme;beta, speaker;ana#1;pro\n"
    "=cmd|' /C calc'!A0;eve@example.org;;;;\n"
    "No Key;;;;;\n"
    "Ben;not-an-email;;;;\n"
    "Lucía;lucia@example.org;;beta;;gold\n"
)


def run(workspace: Workspace, text: str, owner: User | None = None) -> MemberImport:
    job = csv_io.upload(workspace=workspace, filename="m.csv", data=text.encode(), actor=owner)
    job = csv_io.start(job=job, mapping=job.mapping, actor=owner)
    result = csv_io.run_import(import_id=job.pk)
    assert result is not None
    return result


def test_decode_refuses_what_it_cannot_read() -> None:
    with pytest.raises(csv_io.ImportProblem, match="not UTF-8 .first bad byte on line 2"):  # noqa: RUF043
        csv_io.decode("name,email\nJosé,j@x.org\n".encode("latin-1"))
    with pytest.raises(csv_io.ImportProblem, match="larger than 10 MB"):
        csv_io.decode(b"a" * (csv_io.MAX_BYTES + 1))
    with pytest.raises(csv_io.ImportProblem, match="empty"):
        csv_io.decode(b"  \n")
    assert csv_io.decode("\ufeffname\nJosé\n".encode()) == "name\nJosé\n"
    assert csv_io.decode("name\nJosé\n".encode("utf-16")) == "name\nJosé\n"


def test_preview_detects_columns_and_reports_errors_by_line(workspace: Workspace, owner: User) -> None:
    annotations.define_field(workspace=workspace, label="Plan", kind="choice", choices=["free", "pro"], actor=None)
    job = csv_io.upload(workspace=workspace, filename="m.csv", data=FILE.encode(), actor=owner)
    assert job.delimiter == ";"
    assert job.mapping == {
        "0": "name", "1": "email", "2": "organisation", "3": "tags", "4": "handle:discord", "5": "field:plan"
    }  # fmt: skip
    preview = csv_io.preview(job)
    assert (preview.total, preview.valid, preview.error_count) == (5, 2, 3)
    assert preview.errors == [
        (4, "No email and no handle: this member could not be recognised again."),
        (5, "not-an-email is not an email address."),
        (6, "Plan must be one of: free, pro."),
    ]
    assert preview.rows[1] == (3, ["=cmd|' /C calc'!A0", "eve@example.org", "", "", "", ""])


def test_missing_key_column_is_refused(workspace: Workspace, owner: User) -> None:
    job = csv_io.upload(workspace=workspace, filename="m.csv", data=b"name,city\nAna,Rome\n", actor=owner)
    with pytest.raises(csv_io.ImportProblem, match="Map a column to Email or to a handle"):
        csv_io.start(job=job, mapping=job.mapping, actor=owner)
    assert MemberImport.objects.get(pk=job.pk).status == "uploaded"


def test_import_creates_then_reimport_changes_nothing(workspace: Workspace, owner: User) -> None:
    annotations.define_field(workspace=workspace, label="Plan", kind="choice", choices=["free", "pro"], actor=None)
    job = run(workspace, FILE, owner)
    assert (job.status, job.created_count, job.updated_count, job.unchanged_count, job.error_count) == (
        "done",
        2,
        0,
        0,
        3,
    )
    assert job.content == ""  # the file is not kept once imported
    ana = Member.objects.get(display_name="Ana Lima")
    assert sorted(MemberTag.objects.filter(member=ana).values_list("tag__name", flat=True)) == ["beta", "speaker"]
    assert sorted(Identity.objects.filter(member=ana).values_list("platform", "external_id")) == [
        ("discord", "ana#1"), ("import", "ana@example.org")
    ]  # fmt: skip
    assert annotations.organisation_of(Member.objects.get(pk=ana.pk)) == "Acme"
    hostile = Member.objects.get(identities__email="eve@example.org")
    assert hostile.display_name == "=cmd|' /C calc'!A0"  # stored as text; guarded on export
    again = run(workspace, FILE, owner)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 2)
    assert Member.objects.filter(workspace=workspace).count() == 2


def test_rows_link_to_existing_members_by_email_and_handle(workspace: Workspace, owner: User) -> None:
    mail = say(workspace, "email", "ana@example.org", email="ana@example.org", name="Ana")
    irc = say(workspace, "irc:libera.chat", "benny", handle="benny", name="benny")
    text = "name,email,handle:irc:libera.chat,tags\nAna L,ANA@example.org,,vip\nBen,,benny,vip\nBoth,ana@example.org,benny,\n"  # noqa: E501
    job = run(workspace, text, owner)
    assert (job.created_count, job.updated_count, job.error_count) == (0, 2, 1)
    assert job.errors[0][0] == 4 and "2 different members" in job.errors[0][1]  # noqa: PT018
    assert Member.objects.get(pk=mail.member_id).display_name == "Ana L"
    assert MemberTag.objects.filter(member_id=irc.member_id, tag__name="vip").exists()
    assert Identity.objects.filter(workspace=workspace).count() == 2  # nothing new: both were known


def test_pages_upload_preview_start_and_status(client: Client, manager: User, workspace: Workspace) -> None:
    c = login(client, manager)
    bad = c.post("/w/acme/members/import/", {"file": SimpleUploadedFile("x.csv", "é".encode("latin-1"))})
    assert bad.status_code == 400 and "not UTF-8" in bad.content.decode()  # noqa: PT018
    response = c.post("/w/acme/members/import/", {"file": SimpleUploadedFile("m.csv", FILE.encode())})
    job = MemberImport.objects.get(workspace=workspace)
    assert response["Location"] == f"/w/acme/members/import/{job.pk}/"
    html = c.get(f"/w/acme/members/import/{job.pk}/").content.decode()
    assert "line 4" in html and "=cmd|&#x27; /C calc&#x27;!A0" in html  # noqa: PT018
    mapping = {f"col-{i}": t for i, t in job.mapping.items()}
    started = c.post(f"/w/acme/members/import/{job.pk}/", mapping)
    assert started["Location"] == f"/w/acme/members/import/{job.pk}/status/"
    assert MemberImport.objects.get(pk=job.pk).status == "queued"
    csv_io.run_import(import_id=job.pk)
    partial = c.get(f"/w/acme/members/import/{job.pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="import-result"' in partial and "hx-get" not in partial  # noqa: PT018


def test_roles_and_tenancy(client: Client, analyst: User, outsider: User, workspace: Workspace) -> None:
    job = csv_io.upload(workspace=workspace, filename="m.csv", data=FILE.encode(), actor=None)
    assert login(client, analyst).get("/w/acme/members/import/").status_code == 403
    c = login(client, outsider)
    assert c.get(f"/w/rival/members/import/{job.pk}/").status_code == 404
    assert c.post(f"/w/rival/members/import/{job.pk}/", {}).status_code == 404
    assert MemberImport.objects.get(pk=job.pk).status == "uploaded"
