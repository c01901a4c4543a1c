"""Members API, second part: segments (CRUD, members in keyset pages), tags, notes, custom fields, GDPR export
and erase, CSV import status; roles (analyst reads, manager writes) and other workspaces' ids."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.members import annotations, csv_io
from communa.members.models import Identity, Member, MemberTag, Note, Segment
from communa.members.services import refresh_activity
from tests.members.conftest import say
from tests.members.test_api import bearer

pytestmark = pytest.mark.django_db


def call(client: Client, user: User, method: str, url: str, body: Any = None, slug: str = "acme", **params: Any) -> Any:
    query = "&".join([f"workspace={slug}", *[f"{k}={v}" for k, v in params.items()]])
    full = f"/api/v1{url}?{query}"
    if body is None:
        return getattr(client, method)(full, **bearer(user))
    return getattr(client, method)(full, data=json.dumps(body), content_type="application/json", **bearer(user))


@pytest.fixture
def people(workspace: Workspace) -> dict[str, Member]:
    say(workspace, "discord", "1", name="Ana Lima", email="ana@example.org", minutes=1, language="it")
    say(workspace, "discord", "2", name="Ben Okafor", minutes=5, language="en")
    say(workspace, "discourse:forum", "3", name="Chiara Neri", minutes=9, language="it")
    refresh_activity(member_ids=Member.objects.values_list("id", flat=True))
    by_id = {i.external_id: Member.objects.get(pk=i.member_id) for i in Identity.objects.all()}
    return {"ana": by_id["1"], "ben": by_id["2"], "chiara": by_id["3"]}


def test_segment_crud_and_members_in_keyset_pages(
    client: Client, manager: User, analyst: User, people: dict[str, Member]
) -> None:
    created = call(client, manager, "post", "/members/segments", {"name": " Italian ", "filter": {"language": ["IT"]}})
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["filter"], body["member_count"]) == ("Italian", {"language": ["it"]}, 2)
    segment_id = body["id"]
    assert AuditEntry.objects.filter(action="members.segment_saved", data={"segment": segment_id}).count() == 1

    listed = call(client, analyst, "get", "/members/segments").json()
    assert [(s["id"], s["name"]) for s in listed] == [(segment_id, "Italian")]

    first = call(client, analyst, "get", f"/members/segments/{segment_id}/members", limit=1).json()
    assert [m["id"] for m in first["items"]] == [people["chiara"].pk]
    second = call(
        client, analyst, "get", f"/members/segments/{segment_id}/members", limit=1, cursor=first["next_cursor"]
    ).json()
    assert ([m["id"] for m in second["items"]], second["next_cursor"]) == ([people["ana"].pk], None)
    assert call(client, analyst, "get", f"/members/segments/{segment_id}/members", cursor="x").status_code == 422

    changed = call(client, manager, "patch", f"/members/segments/{segment_id}", {"filter": {"platform": ["discord"]}})
    assert (changed.status_code, changed.json()["name"], changed.json()["member_count"]) == (200, "Italian", 2)
    detail = call(client, analyst, "get", f"/members/segments/{segment_id}").json()
    assert detail["filter"] == {"platform": ["discord"]}

    assert call(client, manager, "delete", f"/members/segments/{segment_id}").status_code == 204
    assert not Segment.objects.exists()
    assert call(client, analyst, "get", f"/members/segments/{segment_id}").status_code == 404


def test_segment_errors_and_roles(client: Client, manager: User, analyst: User, people: dict[str, Member]) -> None:
    bad = call(client, manager, "post", "/members/segments", {"name": "x", "filter": {"field": ["no colon"]}})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][:3] == ["body", "filter", "field"]
    call(client, manager, "post", "/members/segments", {"name": "Beta", "filter": {}})
    taken = call(client, manager, "post", "/members/segments", {"name": "beta ", "filter": {}})
    assert taken.status_code == 201  # names are unique as written: "beta" is not "Beta"
    dup = call(client, manager, "post", "/members/segments", {"name": "Beta", "filter": {}})
    assert (dup.status_code, dup.json()["detail"][0]["loc"]) == (422, ["body", "name"])
    count = Segment.objects.count()
    assert call(client, analyst, "post", "/members/segments", {"name": "Mine", "filter": {}}).status_code == 403
    segment = Segment.objects.get(name="Beta")
    assert call(client, analyst, "delete", f"/members/segments/{segment.pk}").status_code == 403
    assert Segment.objects.count() == count


def test_segments_of_another_workspace_are_404(
    client: Client, outsider: User, other_workspace: Workspace, manager: User, people: dict[str, Member]
) -> None:
    segment_id = call(client, manager, "post", "/members/segments", {"name": "All", "filter": {}}).json()["id"]
    for method, url in [
        ("get", f"/members/segments/{segment_id}"),
        ("get", f"/members/segments/{segment_id}/members"),
        ("delete", f"/members/segments/{segment_id}"),
    ]:
        assert call(client, outsider, method, url, slug="rival").status_code == 404
    assert call(client, outsider, "get", "/members/segments", slug="rival").json() == []
    assert Segment.objects.filter(pk=segment_id).exists()


def test_tags_and_notes(client: Client, manager: User, analyst: User, people: dict[str, Member]) -> None:
    ana = people["ana"]
    url = f"/members/{ana.pk}"
    tags = call(client, manager, "post", f"{url}/tags", {"tags": ["beta", "Speaker"]}).json()
    assert [t["name"] for t in tags] == ["Speaker", "beta"]
    again = call(client, manager, "post", f"{url}/tags", {"tags": ["BETA"]}).json()
    assert [t["name"] for t in again] == ["Speaker", "beta"]
    assert [t["name"] for t in call(client, analyst, "get", f"{url}/tags").json()] == ["Speaker", "beta"]
    beta_id = next(t["id"] for t in tags if t["name"] == "beta")
    assert call(client, analyst, "delete", f"{url}/tags/{beta_id}").status_code == 403
    assert call(client, manager, "delete", f"{url}/tags/{beta_id}").status_code == 204
    assert call(client, manager, "delete", f"{url}/tags/{beta_id}").status_code == 404  # not theirs any more
    assert list(MemberTag.objects.filter(member=ana).values_list("tag__name", flat=True)) == ["Speaker"]
    assert call(client, manager, "post", f"{url}/tags", {"tags": ["x" * 61]}).status_code == 422

    created = call(client, manager, "post", f"{url}/notes", {"text": "  Prefers email.  "})
    assert created.status_code == 201
    note = created.json()
    assert (note["text"], note["author"], note["edited_at"]) == ("Prefers email.", manager.get_username(), None)
    assert call(client, manager, "post", f"{url}/notes", {"text": "   "}).status_code == 422
    edited = call(client, manager, "patch", f"{url}/notes/{note['id']}", {"text": "Prefers Matrix."}).json()
    assert edited["text"] == "Prefers Matrix."
    assert edited["edited_at"] is not None
    assert [n["text"] for n in call(client, analyst, "get", f"{url}/notes").json()] == ["Prefers Matrix."]
    # A note is reached through its own member only.
    assert (
        call(client, manager, "patch", f"/members/{people['ben'].pk}/notes/{note['id']}", {"text": "x"}).status_code
        == 404
    )
    assert call(client, analyst, "delete", f"{url}/notes/{note['id']}").status_code == 403
    assert call(client, manager, "delete", f"{url}/notes/{note['id']}").status_code == 204
    assert not Note.objects.exists()
    audit = AuditEntry.objects.filter(action__startswith="members.note").values_list("data", flat=True)
    assert "Prefers" not in json.dumps(list(audit))  # never the note's text


def test_custom_fields_all_or_nothing(
    client: Client, workspace: Workspace, manager: User, analyst: User, people: dict[str, Member]
) -> None:
    annotations.define_field(workspace=workspace, label="Plan", kind="choice", choices=["free", "pro"], actor=None)
    annotations.define_field(workspace=workspace, label="Seats", kind="number", actor=None)
    url = f"/members/{people['ana'].pk}/fields"
    empty = call(client, analyst, "get", url).json()
    assert [(f["key"], f["kind"], f["value"]) for f in empty["fields"]] == [
        ("plan", "choice", ""),
        ("seats", "number", ""),
    ]
    bad = call(client, manager, "patch", url, {"values": {"plan": "PRO", "seats": "many"}})
    assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, ["body", "values", "seats"])
    assert call(client, manager, "patch", url, {"values": {"colour": "red"}}).status_code == 422
    assert call(client, analyst, "get", url).json() == empty  # nothing was set
    done = call(client, manager, "patch", url, {"values": {"plan": "PRO", "seats": "12"}, "organisation": "Acme"})
    assert done.status_code == 200
    assert [(f["key"], f["value"]) for f in done.json()["fields"]] == [("plan", "pro"), ("seats", "12")]
    assert done.json()["organisation"] == "Acme"
    assert call(client, analyst, "patch", url, {"values": {"plan": ""}}).status_code == 403
    cleared = call(client, manager, "patch", url, {"values": {"plan": ""}}).json()
    assert [(f["key"], f["value"]) for f in cleared["fields"]] == [("plan", ""), ("seats", "12")]


def test_export_and_erase_are_for_managers(
    client: Client, manager: User, analyst: User, people: dict[str, Member]
) -> None:
    ana = people["ana"]
    annotations.add_note(workspace=ana.workspace, member=ana, text="Called her on Monday", author=manager)
    assert call(client, analyst, "get", f"/members/{ana.pk}/data").status_code == 403
    data = call(client, manager, "get", f"/members/{ana.pk}/data").json()
    assert data["member"][0]["display_name"] == "Ana Lima"
    assert [i["email"] for i in data["identities"]] == ["ana@example.org"]
    assert [n["text"] for n in data["notes"]] == ["Called her on Monday"]
    assert [m["text"] for m in data["messages"]] == ["hello"]

    assert call(client, analyst, "post", f"/members/{ana.pk}/erase", {"confirm": ana.pk}).status_code == 403
    wrong = call(client, manager, "post", f"/members/{ana.pk}/erase", {"confirm": people["ben"].pk})
    assert (wrong.status_code, wrong.json()["detail"][0]["loc"]) == (422, ["body", "confirm"])
    assert Identity.objects.filter(member=ana).count() == 1
    erased = call(client, manager, "post", f"/members/{ana.pk}/erase", {"confirm": ana.pk})
    assert erased.status_code == 200
    assert erased.json()["member_id"] == ana.pk
    assert erased.json()["rows"]["erase_identities"] == 1
    assert not Identity.objects.filter(email="ana@example.org").exists()
    assert not Note.objects.exists()
    # An erased member is gone from the API.
    assert call(client, manager, "get", f"/members/{ana.pk}/data").status_code == 404
    assert call(client, manager, "get", f"/members/{ana.pk}/notes").status_code == 404


def test_import_status(client: Client, workspace: Workspace, owner: User, analyst: User) -> None:
    text = "name,email\nAna,ana@example.org\nNo key,\n"
    job = csv_io.upload(workspace=workspace, filename="m.csv", data=text.encode(), actor=owner)
    waiting = call(client, owner, "get", f"/members/imports/{job.pk}").json()
    assert (waiting["status"], waiting["progress"], waiting["filename"]) == ("uploaded", 0.0, "m.csv")
    csv_io.start(job=job, mapping=job.mapping, actor=owner)
    csv_io.run_import(import_id=job.pk)
    done = call(client, owner, "get", f"/members/imports/{job.pk}").json()
    assert (done["status"], done["total_rows"], done["processed_rows"], done["progress"]) == ("done", 2, 2, 1.0)
    assert (done["created"], done["updated"], done["unchanged"], done["skipped"]) == (1, 0, 0, 1)
    assert done["errors"] == [[3, "No email and no handle: this member could not be recognised again."]]
    assert call(client, analyst, "get", f"/members/imports/{job.pk}").status_code == 403
    assert call(client, owner, "get", f"/members/imports/{job.pk + 1000}").status_code == 404


def test_member_paths_take_numbers_only(client: Client, analyst: User, people: dict[str, Member]) -> None:
    assert call(client, analyst, "get", "/members/segments").status_code == 200  # not read as a member id
    assert call(client, analyst, "get", "/members/ana").status_code == 404
