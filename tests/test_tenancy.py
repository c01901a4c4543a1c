"""Tenancy: a user of one workspace gets 404 for every object of another, on every page and API endpoint.

The page tests walk Django's URL resolver, so a page added later is covered without touching this file;
a new URL parameter that is not an object id this file knows makes the walk fail loudly instead of
skipping the page. The API tests walk the OpenAPI document the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from communa.accounts.models import Invitation, Membership, User, Workspace
from communa.accounts.roles import Role
from communa.accounts.services import create_api_token, create_invitation
from communa.connectors.models import Source
from communa.ingest.services import ingest_events
from communa.members.models import Identity, Member, MergeSuggestion
from communa.members.services import merge_members
from communa.stream.models import Message, Thread
from tests.conftest import login, raw

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Route:
    name: str  # namespaced, for reverse()
    kwargs: dict[str, str]  # parameter name -> converter class name ("IntConverter", ...)


def _converters(pattern: Any) -> dict[str, str]:
    converters = getattr(pattern, "converters", None)
    if converters is not None:
        return {name: type(conv).__name__ for name, conv in converters.items()}
    return dict.fromkeys(pattern.regex.groupindex, "RegexGroup")  # re_path(): no converter to go by


def _walk(patterns: list[Any], namespace: str = "", kwargs: dict[str, str] | None = None) -> Iterator[Route]:
    for entry in patterns:
        found = {**(kwargs or {}), **_converters(entry.pattern)}
        if isinstance(entry, URLResolver):
            prefix = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix, found)
        elif isinstance(entry, URLPattern):
            yield Route(name=namespace + (entry.name or f"<unnamed {entry.pattern}>"), kwargs=found)


def workspace_routes() -> list[Route]:
    routes = [route for route in _walk(get_resolver().url_patterns) if "workspace" in route.kwargs]
    unnamed = [route.name for route in routes if route.name.rpartition(":")[2].startswith("<unnamed")]
    assert not unnamed, f"name these workspace pages so the tenancy tests can reach them: {unnamed}"
    assert len(routes) >= 4  # the stream, the sources, the team; a broken walk must not pass by testing nothing
    return routes


@pytest.fixture
def acme_objects(
    workspace: Workspace, owner: User, manager: User, analyst: User, fake_source: Source
) -> dict[str, int]:
    """One object of each kind in acme, by the URL parameter names pages use for them."""
    ingest_events(source=fake_source, events=[raw("m1", "ana", "hi"), raw("m2", "ben", "hello", 1, parent="m1")])
    message = Message.objects.get(external_id="m2")
    invitation = create_invitation(workspace=workspace, role=Role.ANALYST, invited_by=owner)
    assert message.thread_id is not None
    assert message.member_id is not None
    ids = {
        "source_id": fake_source.pk,
        "message_id": message.pk,
        "thread_id": message.thread_id,
        "member_id": message.member_id,
        "identity_id": Identity.objects.get(workspace=workspace, external_id="ben").pk,
        "membership_id": Membership.objects.get(workspace=workspace, user=analyst).pk,
        "invitation_id": invitation.pk,
        "delivery_id": _delivery(workspace, fake_source),
        **_member_objects(workspace, owner),
        **_inbox_objects(workspace, fake_source, owner),
        **_analytics_objects(workspace, owner),
        **_moderation_objects(workspace, owner),
    }
    return ids | {"source": ids["source_id"], "message": ids["message_id"], "thread": ids["thread_id"]}


def _member_objects(workspace: Workspace, owner: User) -> dict[str, int]:
    """A merge suggestion (ana, ben) and a merge (a member without messages into ben) in acme."""
    ana, ben = (Member.objects.get(identities__external_id=a, workspace=workspace) for a in ("ana", "ben"))
    low, high = sorted((ana.pk, ben.pk))
    suggestion = MergeSuggestion.objects.create(workspace=workspace, member_a_id=low, member_b_id=high, score=0.7)
    empty = Member.objects.create(workspace=workspace, display_name="cy")
    merge = merge_members(workspace=workspace, into=ben, merged=empty, actor=owner)
    return {"suggestion_id": suggestion.pk, "merge_id": merge.pk, **_member_annotations(workspace, ben, owner)}


def _member_annotations(workspace: Workspace, member: Member, owner: User) -> dict[str, int]:
    """A CSV import, a saved segment, a tag and a note of acme's (members pages and API)."""
    from communa.members import annotations, csv_io, segments

    job = csv_io.upload(workspace=workspace, filename="m.csv", data=b"name,email\nDee,dee@example.org\n", actor=owner)
    segment = segments.create_segment(workspace=workspace, name="All", flt=segments.MemberFilter(), actor=owner)
    annotations.add_tags(workspace=workspace, member=member, names=["vip"], actor=owner)
    note = annotations.add_note(workspace=workspace, member=member, text="Met at FOSDEM", author=owner)
    tag_id = member.tag_links.get().tag_id
    return {"import_id": job.pk, "segment_id": segment.pk, "note_id": note.pk, "tag_id": tag_id}


def _delivery(workspace: Workspace, source: Source) -> int:
    from communa.connectors.base import ReplyTarget
    from communa.outbox.services import enqueue_reply

    target = ReplyTarget(channel="#c", message_external_id="m1")
    return enqueue_reply(workspace=workspace, source=source, target=target, text="hi", idempotency_key="t").pk


def _inbox_objects(workspace: Workspace, source: Source, owner: User) -> dict[str, int]:
    """A conversation with a reply (inbox pages and API), a shared view and a webhook endpoint of acme's."""
    from communa.inbox.models import Conversation, Reply, SharedView
    from communa.webhooks.services import create_endpoint

    message = Message.objects.get(external_id="m1")
    conversation = Conversation.objects.create(
        workspace=workspace, key="thread:acme", source=source, reason="question", member_id=message.member_id,
        first_message=message, last_member_message=message, opened_at=message.created_at,
        last_message_at=message.created_at,
    )  # fmt: skip
    reply = Reply.objects.create(
        workspace=workspace, conversation=conversation, author=owner, text="hi", state="failed"
    )
    endpoint = create_endpoint(workspace=workspace, name="Hook", url="https://example.org/h", events=[], actor=owner)
    view = SharedView.objects.create(workspace=workspace, name="Urgent", query="state=open", created_by=owner)
    return {"conversation_id": conversation.pk, "reply_id": reply.pk, "endpoint_id": endpoint.pk, "view_id": view.pk}


def _moderation_objects(workspace: Workspace, owner: User) -> dict[str, int]:
    """A rule set version and its backtest, a decision, a review item, a strike, an appeal, a conflict alert."""
    from communa.moderation import services
    from communa.moderation.actions import A, Step
    from communa.moderation.models import Backtest, ConflictAlert, ReviewItem, Strike

    message = Message.objects.get(external_id="m2")
    rule_set = services.save_rule_set(
        workspace=workspace, text="rules:\n  - id: x\n    when: {words: [zzz]}\n    actions: [queue]\n", modes={},
        actor=owner,
    )  # fmt: skip
    now = message.created_at
    backtest = Backtest.objects.create(workspace=workspace, rule_set=rule_set, days=1, since=now, until=now)
    decision = services.decide(
        workspace=workspace, message=message, member_id=message.member_id, steps=[Step(A.QUEUE), Step(A.STRIKE)],
        explanation={"summary": "test"}, moderator=None, rule="x",
    )  # fmt: skip
    assert decision is not None
    alert = ConflictAlert.objects.create(
        workspace=workspace, thread_id=message.thread_id, source_id=message.source_id, score=0.6
    )
    appeal = services.submit_appeal(decision=decision, statement="please")
    return {
        "version": rule_set.version, "backtest_id": backtest.pk, "decision_id": decision.pk,
        "item_id": ReviewItem.objects.get(decision=decision).pk, "strike_id": Strike.objects.get(decision=decision).pk,
        "appeal_id": appeal.pk, "alert_id": alert.pk,
    }  # fmt: skip


def _analytics_objects(workspace: Workspace, owner: User) -> dict[str, Any]:
    """A goal and its drift notice, a report with a share link, a report schedule; `key` a metric."""
    from datetime import date

    from django.utils import timezone

    from communa.analytics.models import Goal, Notice
    from communa.analytics.reporting.models import Report, ReportSchedule, ShareLink

    goal = Goal.objects.create(
        workspace=workspace, name="g", metric="messages", comparison="gte", target=1, start=date(2026, 1, 1),
        deadline=date(2027, 1, 1),
    )  # fmt: skip
    notice = Notice.objects.create(workspace=workspace, kind="goal.drifted", goal=goal, created_at=timezone.now())
    report = Report.objects.create(
        workspace=workspace, period="weekly", start=date(2026, 3, 2), end=date(2026, 3, 8), generated_at=timezone.now()
    )
    link = ShareLink.objects.create(workspace=workspace, report=report, nonce="n", expires_at=timezone.now())
    schedule = ReportSchedule.objects.create(workspace=workspace, name="s", recipients=["a@example.org"])
    return {
        "goal_id": goal.pk, "notice_id": notice.pk, "report_id": report.pk, "link_id": link.pk,
        "schedule_id": schedule.pk,
    }  # fmt: skip


# URL parameters that are not object ids, with a value that is valid in any workspace.
PLAIN_VALUES = {"kind": "fake", "verdict": "approve", "page": "overview", "chart": "messages"}


def _route_kwargs(route: Route, slug: str, objects: dict[str, int]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"workspace": slug}
    for name in route.kwargs.keys() - {"workspace"}:
        known = {**objects, **PLAIN_VALUES}
        assert name in known, (
            f"{route.name} takes `{name}`: add an acme object for it to acme_objects(), or a value to"
            " PLAIN_VALUES, in tests/test_tenancy.py"
        )
        kwargs[name] = known[name]
    return kwargs


def assert_nothing_revealed(client: Client, method: str, route: Route, slug: str, objects: dict[str, int]) -> None:
    """404, or a 405 that the method alone decides: the same answer as for a workspace that does not exist."""
    url = reverse(route.name, kwargs=_route_kwargs(route, slug, objects))
    status = getattr(client, method)(url).status_code
    if status == 405:
        nowhere = reverse(route.name, kwargs=_route_kwargs(route, "no-such-workspace", objects))
        assert getattr(client, method)(nowhere).status_code == 405, f"{method.upper()} {url} ({route.name})"
        return
    assert status == 404, f"{method.upper()} {url} ({route.name}) gave {status}"


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table except sessions: a denied request must leave all of it as it was."""
    skip = {"sessions.session"}
    state = {}
    for model in apps.get_models():
        if model._meta.label_lower in skip or not model._meta.managed:
            continue
        rows = list(model._default_manager.order_by("pk").values())
        for row in rows:
            row.pop("last_used_at", None)  # the API notes each use of the outsider's own token
            row.pop("last_login", None)
        state[model._meta.label_lower] = rows
    return state


def test_the_walk_finds_the_pages_of_this_issue() -> None:
    names = {route.name for route in workspace_routes()}
    assert {"stream:index", "sources:index", "team:index", "team:change_role", "team:invite", "team:audit"} <= names


@pytest.mark.parametrize("method", ["get", "post"])
def test_outsider_gets_404_on_every_workspace_page(
    client: Client, outsider: User, acme_objects: dict[str, int], method: str
) -> None:
    """Oscar manages rival. Every page of acme, read or write, is a 404 for him and changes nothing."""
    login(client, outsider)
    before = snapshot()
    for route in workspace_routes():
        assert_nothing_revealed(client, method, route, "acme", acme_objects)
    assert snapshot() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_acme_ids_are_404_inside_the_outsiders_own_workspace(
    client: Client, outsider: User, acme_objects: dict[str, int], method: str
) -> None:
    """Oscar manages rival: putting acme's ids in rival's pages must not reach acme's objects."""
    login(client, outsider)
    before = snapshot()
    for route in workspace_routes():
        if not route.kwargs.keys() - {"workspace", *PLAIN_VALUES}:
            continue  # no object id: nothing of acme's to reach through rival's URL
        assert_nothing_revealed(client, method, route, "rival", acme_objects)
    assert snapshot() == before


def test_a_visitor_is_sent_to_sign_in_from_every_workspace_page(client: Client, acme_objects: dict[str, int]) -> None:
    for route in workspace_routes():
        url = reverse(route.name, kwargs=_route_kwargs(route, "acme", acme_objects))
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


# --- API ----------------------------------------------------------------------------------------

# A valid body for each write, so that the only reason for a refusal is the workspace.
API_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/sources"): {"kind": "fake", "name": "Mine now", "config": {}},
    ("patch", "/api/v1/sources/{source_id}"): {"name": "Mine now", "paused": True},
    ("post", "/api/v1/members/{member_id}/merge"): {"other": 1},
    ("post", "/api/v1/merges/{merge_id}/undo"): {},
    ("post", "/api/v1/members/segments"): {"name": "Mine now", "filter": {}},
    ("patch", "/api/v1/members/segments/{segment_id}"): {"name": "Mine now"},
    ("post", "/api/v1/members/{member_id}/tags"): {"tags": ["mine"]},
    ("post", "/api/v1/members/{member_id}/notes"): {"text": "mine"},
    ("patch", "/api/v1/members/{member_id}/notes/{note_id}"): {"text": "mine"},
    ("patch", "/api/v1/members/{member_id}/fields"): {"values": {}, "organisation": "Mine"},
    ("post", "/api/v1/members/{member_id}/erase"): {"confirm": 1},
    ("post", "/api/v1/conversations/{conversation_id}/assign"): {"assignee": None},
    ("post", "/api/v1/conversations/{conversation_id}/state"): {"state": "resolved"},
    ("post", "/api/v1/conversations/{conversation_id}/replies"): {"text": "mine"},
    ("post", "/api/v1/analytics/goals"): {
        "name": "Mine",
        "metric": "messages",
        "comparison": "gte",
        "target": 1,
        "deadline": "2030-01-01",
    },
    ("patch", "/api/v1/analytics/goals/{goal_id}"): {"target": 2},
    ("post", "/api/v1/moderation/rules/validate"): {"text": "rules: []"},
    ("post", "/api/v1/moderation/rules"): {"text": "rules:\n  - id: y\n    when: {words: [q]}\n    actions: [queue]\n"},
    ("post", "/api/v1/moderation/rules/{version}/enable"): {},
    ("post", "/api/v1/moderation/queue/{item_id}/resolve"): {"verdict": "approve"},
    ("post", "/api/v1/moderation/appeals/{appeal_id}/decide"): {"overturn": True},
}


def api_operations(client: Client) -> list[tuple[str, str]]:
    schema = client.get("/api/v1/openapi.json").json()
    operations = [(method, path) for path, item in schema["paths"].items() for method in item]
    assert len(operations) >= 7
    return operations


def _api_call(client: Client, headers: dict[str, str], method: str, path: str, query: str, ids: dict[str, int]) -> Any:
    url = path.format(**ids) + query
    if method in {"get", "delete"}:
        return getattr(client, method)(url, **headers)
    body = API_BODIES[(method, path)]  # a new write endpoint needs a valid body here
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json", **headers)


@pytest.mark.parametrize("query", ["?workspace=acme", "?workspace=rival", ""])
def test_outsider_gets_404_from_every_api_endpoint(
    client: Client, outsider: User, acme_objects: dict[str, int], query: str
) -> None:
    """acme's slug is a 404; acme's ids under rival (named, or implied as oscar's only workspace) too."""
    _token, plaintext = create_api_token(user=outsider, name="probe")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    before = snapshot()
    checked = 0
    for method, path in api_operations(client):
        if path == "/api/v1/workspaces":
            continue  # not scoped to one workspace: see the next test
        if query != "?workspace=acme" and "{" not in path:
            continue  # rival's own lists are oscar's to read; acme's ids in filters are tested below
        response = _api_call(client, headers, method, path, query, acme_objects)
        assert response.status_code == 404, f"{method.upper()} {path}{query} gave {response.status_code}"
        assert response.json() == {"detail": "Not Found"}
        checked += 1
    assert checked >= 3
    assert snapshot() == before


def test_outsider_lists_only_his_workspace(client: Client, outsider: User, acme_objects: dict[str, int]) -> None:
    _token, plaintext = create_api_token(user=outsider, name="probe")
    response = client.get("/api/v1/workspaces", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert [(w["slug"], w["role"]) for w in response.json()] == [("rival", "manager")]


@pytest.mark.parametrize("param", ["source", "member", "thread"])
def test_acme_ids_in_filters_match_nothing_in_rival(
    client: Client, outsider: User, acme_objects: dict[str, int], param: str
) -> None:
    _token, plaintext = create_api_token(user=outsider, name="probe")
    response = client.get(
        "/api/v1/messages",
        {"workspace": "rival", param: acme_objects[param if param != "member" else "member_id"]},
        HTTP_AUTHORIZATION=f"Bearer {plaintext}",
    )
    assert (response.status_code, response.json()) == (200, {"items": [], "next_cursor": None})


def test_rival_data_stays_out_of_acme_results(
    client: Client, owner: User, other_workspace: Workspace, acme_objects: dict[str, int]
) -> None:
    """The other direction: acme's owner listing acme sees none of rival's sources or messages."""
    rival_source = Source.objects.create(workspace=other_workspace, kind="fake", name="Rival room")
    ingest_events(source=rival_source, events=[raw("r1", "zed", "rival news")])
    _token, plaintext = create_api_token(user=owner, name="probe")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}

    sources = client.get("/api/v1/sources", **headers).json()
    messages = client.get("/api/v1/messages", **headers).json()["items"]

    assert [s["name"] for s in sources] == ["Fake room"]
    assert [m["external_id"] for m in messages] == ["m2", "m1"]
    assert client.get(f"/api/v1/sources/{rival_source.pk}", **headers).status_code == 404
    rival_message = Message.objects.get(external_id="r1")
    assert client.get(f"/api/v1/messages/{rival_message.pk}", **headers).status_code == 404
    assert Thread.objects.filter(workspace=other_workspace).count() == 1
    assert Member.objects.filter(workspace=other_workspace).count() == 1
    assert Invitation.objects.filter(workspace=other_workspace).count() == 0
