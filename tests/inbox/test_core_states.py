"""State changes with optimistic concurrency, assignment (by hand and by rule), notes, composing, who sees what."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404

from communa.accounts.models import User, Workspace
from communa.accounts.roles import Role
from communa.accounts.services import add_member
from communa.connectors.models import Source
from communa.inbox import selectors, services
from communa.inbox.models import Activity, AssignmentRule, Conversation, SlaPolicy
from communa.inbox.services import InboxError, StaleConversation
from communa.inbox.triage import triage_messages
from tests.conftest import T0, make_user
from tests.inbox.conftest import NOW, events, post, triage

pytestmark = pytest.mark.django_db


def ask(workspace: Workspace, source: Source, ext: str = "m1", author: str = "ana", minutes: int = 0) -> Conversation:
    m = post(source, ext, author, f"question {ext}?", minutes, question=True)
    triage(workspace, m)
    return Conversation.objects.get(workspace=workspace, first_message=m)


def test_resolve_records_the_event_with_business_time(workspace: Workspace, source: Source, manager: User) -> None:
    SlaPolicy.objects.create(
        workspace=workspace,
        name="Office",
        time_zone="Europe/Rome",
        business_hours={str(d): [["09:00", "17:00"]] for d in range(1, 6)},
    )
    c = ask(workspace, source)  # Monday 2026-03-02 09:00 UTC = 10:00 in Rome
    done = T0 + timedelta(days=1)  # Tuesday 10:00 Rome: 7 business hours on Monday + 1 on Tuesday
    services.change_state(conversation=c, actor=manager, state="resolved", expected_version=c.version, now=done)
    assert (c.state, c.resolved_at, c.resolved_by_id, c.version) == ("resolved", done, manager.pk, 3)
    assert events("conversation.resolved") == [
        {
            "conversation_id": c.pk,
            "source_id": source.pk,
            "at": "2026-03-03T09:00:00+00:00",
            "seconds": 86400,
            "business_seconds": 8 * 3600,
        }
    ]
    assert c.first_response_due == T0 + timedelta(hours=1)  # the default policy target: 60 business minutes
    services.change_state(conversation=c, actor=manager, state="open", now=done + timedelta(minutes=1))
    assert (c.state, c.resolved_at) == ("open", None)
    assert [e["at"] for e in events("conversation.reopened")] == ["2026-03-03T09:01:00+00:00"]
    assert list(Activity.objects.filter(conversation=c, kind="state").values_list("data", flat=True)) == [
        {"from": "open", "to": "resolved"},
        {"from": "resolved", "to": "open"},
    ]


def test_a_stale_version_is_refused_and_the_same_change_is_a_no_op(
    workspace: Workspace, source: Source, manager: User, owner: User
) -> None:
    c = ask(workspace, source)
    seen = c.version
    services.change_state(conversation=Conversation.objects.get(pk=c.pk), actor=owner, state="pending")
    # A page that showed the old version asks to resolve: refused, nothing changed.
    with pytest.raises(StaleConversation) as raised:
        services.change_state(conversation=c, actor=manager, state="resolved", expected_version=seen)
    assert raised.value.conversation.state == "pending"
    assert Conversation.objects.get(pk=c.pk).state == "pending"
    assert events("conversation.resolved") == []
    # Two people resolving: the second finds it done, no second event.
    fresh = Conversation.objects.get(pk=c.pk)
    services.change_state(conversation=fresh, actor=owner, state="resolved", expected_version=fresh.version)
    services.change_state(conversation=c, actor=manager, state="resolved", expected_version=fresh.version - 1)
    assert len(events("conversation.resolved")) == 1


def test_snoozing_needs_a_future_time(workspace: Workspace, source: Source, manager: User) -> None:
    c = ask(workspace, source)
    with pytest.raises(InboxError, match="Choose a time in the future"):
        services.change_state(conversation=c, actor=manager, state="snoozed", now=NOW)
    with pytest.raises(InboxError, match="Unknown state"):
        services.change_state(conversation=c, actor=manager, state="closed")
    services.change_state(
        conversation=c, actor=manager, state="snoozed", snoozed_until=NOW + timedelta(hours=2), now=NOW
    )
    assert (c.state, c.snoozed_until) == ("snoozed", NOW + timedelta(hours=2))


@pytest.mark.django_db(transaction=True)
def test_two_people_resolving_at_once_on_two_connections(workspace: Workspace, source: Source, owner: User) -> None:
    manager = make_user("marco")
    add_member(workspace=workspace, user=manager, role=Role.MANAGER)
    c = ask(workspace, source)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def resolve(user: User) -> None:
        try:
            mine = Conversation.objects.get(pk=c.pk)
            barrier.wait()
            services.change_state(conversation=mine, actor=user, state="resolved", expected_version=mine.version)
            outcomes.append("ok")
        except Exception as exc:  # reported below
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=resolve, args=(u,)) for u in (owner, manager)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    c.refresh_from_db()
    assert outcomes == ["ok", "ok"]
    assert (c.state, c.version) == ("resolved", 3)
    assert len(events("conversation.resolved")) == 1
    assert Activity.objects.filter(conversation=c, kind="state").count() == 1


def test_assign_to_a_person_and_a_team(workspace: Workspace, source: Source, manager: User, volunteer: User) -> None:
    c = ask(workspace, source)
    team = services.create_team(workspace=workspace, actor=manager, name="Support", users=[volunteer])
    services.assign(conversation=c, actor=manager, assignee=volunteer, team=team, now=NOW)
    assert (c.assignee_id, c.team_id, c.assigned_at) == (volunteer.pk, team.pk, NOW)
    assert events("conversation.assigned") == [
        {"conversation_id": c.pk, "source_id": source.pk, "assignee_id": volunteer.pk, "team_id": team.pk}
    ]
    services.assign(conversation=c, actor=manager, assignee=volunteer, team=team)  # the same: nothing
    assert len(events("conversation.assigned")) == 1


def test_assignment_refuses_people_and_teams_from_elsewhere(
    workspace: Workspace, other_workspace: Workspace, source: Source, manager: User, outsider: User
) -> None:
    c = ask(workspace, source)
    rival_team = services.create_team(workspace=other_workspace, actor=outsider, name="Rivals")
    with pytest.raises(InboxError, match="not in this workspace"):
        services.assign(conversation=c, actor=manager, assignee=outsider)
    with pytest.raises(InboxError, match="That team is not in this workspace"):
        services.assign(conversation=c, actor=manager, assignee=None, team=rival_team)
    with pytest.raises(PermissionError):
        services.assign(conversation=c, actor=outsider, assignee=outsider)
    c.refresh_from_db()
    assert (c.assignee_id, c.team_id) == (None, None)
    assert events("conversation.assigned") == []


def test_volunteers_see_and_work_only_what_is_theirs(
    workspace: Workspace, source: Source, manager: User, volunteer: User, analyst: User, outsider: User
) -> None:
    mine = ask(workspace, source, "m1")
    teams = ask(workspace, source, "m2", "ben")
    other = ask(workspace, source, "m3", "carla")
    team = services.create_team(workspace=workspace, actor=manager, name="Volunteers", users=[volunteer])
    services.assign(conversation=mine, actor=manager, assignee=volunteer)
    services.assign(conversation=teams, actor=manager, assignee=None, team=team)
    access = selectors.inbox_access(volunteer, "acme")
    assert access.scope == "assigned"
    listed = selectors.conversation_list(access=access, state="all", sort="oldest")
    assert [c.pk for c in listed] == [mine.pk, teams.pk]
    assert selectors.get_conversation(access=access, conversation_id=teams.pk) == teams
    with pytest.raises(Http404):
        selectors.get_conversation(access=access, conversation_id=other.pk)
    with pytest.raises(PermissionError):
        services.change_state(conversation=other, actor=volunteer, state="resolved")
    with pytest.raises(PermissionError):  # a volunteer takes, but does not hand out
        services.assign(conversation=teams, actor=volunteer, assignee=manager, team=team)
    services.assign(conversation=teams, actor=volunteer, assignee=volunteer, team=team)
    assert teams.assignee_id == volunteer.pk
    assert selectors.counts(access=access) == {
        "open": 2,
        "pending": 0,
        "snoozed": 0,
        "resolved": 0,
        "mine": 2,
        "unassigned": 0,
    }
    with pytest.raises(PermissionDenied):
        selectors.inbox_access(analyst, "acme")
    with pytest.raises(Http404):
        selectors.inbox_access(outsider, "acme")
    manager_access = selectors.inbox_access(manager, "acme")
    assert selectors.conversation_list(access=manager_access, state="all").count() == 3
    assert [c.pk for c in selectors.conversation_list(access=manager_access, assignee="unassigned")] == [other.pk]


def test_another_workspaces_conversation_is_a_404(
    workspace: Workspace, other_workspace: Workspace, source: Source, outsider: User
) -> None:
    c = ask(workspace, source)
    with pytest.raises(Http404):
        selectors.get_conversation(access=selectors.inbox_access(outsider, "rival"), conversation_id=c.pk)


def test_round_robin_goes_through_the_people_in_turn(workspace: Workspace, source: Source, manager: User) -> None:
    a, b = make_user("alba"), make_user("bruno")
    for u in (a, b):
        add_member(workspace=workspace, user=u, role=Role.MODERATOR)
    services.set_assignment_rule(
        workspace=workspace, actor=manager, source=source, strategy="round_robin", users=[b, a]
    )
    got = [ask(workspace, source, f"m{i}", f"member{i}", i).assignee_id for i in range(3)]
    assert got == [a.pk, b.pk, a.pk]
    assert AssignmentRule.objects.get().last_assigned_id == a.pk
    assert [e["assignee_id"] for e in events("conversation.assigned")] == [a.pk, b.pk, a.pk]


def test_load_balanced_picks_the_least_loaded(workspace: Workspace, source: Source, manager: User) -> None:
    a, b = make_user("alba"), make_user("bruno")
    for u in (a, b):
        add_member(workspace=workspace, user=u, role=Role.MODERATOR)
    first = ask(workspace, source, "m0", "x0")
    second = ask(workspace, source, "m1", "x1", 1)
    services.assign(conversation=first, actor=manager, assignee=a)
    services.assign(conversation=second, actor=manager, assignee=a)
    services.set_assignment_rule(
        workspace=workspace, actor=manager, source=source, strategy="load_balanced", users=[a, b]
    )
    assert ask(workspace, source, "m2", "x2", 2).assignee_id == b.pk  # a has 2 open, b none
    assert ask(workspace, source, "m3", "x3", 3).assignee_id == b.pk  # 2 against 1
    services.change_state(conversation=first, actor=manager, state="resolved")
    services.change_state(conversation=second, actor=manager, state="resolved")
    assert ask(workspace, source, "m4", "x4", 4).assignee_id == a.pk  # a has 0 open now, b 2


def test_a_person_who_left_the_workspace_is_not_assigned(workspace: Workspace, source: Source, manager: User) -> None:
    a = make_user("alba")
    add_member(workspace=workspace, user=a, role=Role.MODERATOR)
    services.set_assignment_rule(workspace=workspace, actor=manager, source=source, strategy="round_robin", users=[a])
    workspace.memberships.filter(user=a).delete()
    assert ask(workspace, source).assignee_id is None


def test_notes_keep_mentions_of_people_in_the_workspace(
    workspace: Workspace, source: Source, manager: User, volunteer: User, outsider: User
) -> None:
    c = ask(workspace, source)
    note = services.add_note(conversation=c, author=manager, text="@VERA can you check? cc @oscar and @nobody, @vera")
    assert list(note.mentions.values_list("username", flat=True)) == ["vera"]
    with pytest.raises(InboxError, match="A note needs text"):
        services.add_note(conversation=c, author=manager, text="   ")


def test_someone_else_is_replying(workspace: Workspace, source: Source, manager: User, owner: User) -> None:
    c = ask(workspace, source)
    services.mark_composing(conversation=c, user=owner, now=NOW)
    assert selectors.others_composing(conversation=c, user=manager, now=NOW + timedelta(seconds=10)) == [owner]
    assert selectors.others_composing(conversation=c, user=owner, now=NOW) == []
    assert selectors.others_composing(conversation=c, user=manager, now=NOW + timedelta(seconds=21)) == []
    services.mark_composing(conversation=c, user=owner, now=NOW + timedelta(seconds=30))
    services.stop_composing(conversation=c, user=owner)
    assert selectors.others_composing(conversation=c, user=manager, now=NOW + timedelta(seconds=31)) == []


def test_priority_override_and_back(workspace: Workspace, source: Source, manager: User) -> None:
    c = ask(workspace, source)
    services.override_priority(conversation=c, actor=manager, priority=90)
    assert (c.priority, c.priority_override, c.priority_computed) == (90, 90, 25)
    triage_messages(
        workspace_id=workspace.pk, message_ids=[post(source, "m9", "ana", "hi", 5, parent="m1").pk], now=NOW
    )
    c.refresh_from_db()
    assert c.priority == 90  # the computation runs again but the override stands
    services.override_priority(conversation=c, actor=manager, priority=None)
    assert (c.priority, c.priority_override) == (25, None)
    with pytest.raises(InboxError):
        services.override_priority(conversation=c, actor=manager, priority=101)


def test_conversations_follow_a_member_merge_and_its_undo(workspace: Workspace, source: Source) -> None:
    from communa.events.subscribers import SUBSCRIBERS
    from communa.stream.models import Message

    assert "communa.inbox.tasks.on_member_merged" in SUBSCRIBERS["member.merged"]
    assert "communa.inbox.tasks.on_member_merged" in SUBSCRIBERS["member.unmerged"]
    ana = ask(workspace, source, "m1", "ana")
    other = ask(workspace, source, "m2", "ana2", 1)
    into_id, merged_id = ana.member_id, other.member_id
    assert into_id is not None
    assert merged_id is not None
    Message.objects.filter(member_id=merged_id).update(member_id=into_id)
    assert (
        services.follow_member_merge(workspace_id=workspace.pk, into_id=into_id, merged_id=merged_id, undone=False) == 1
    )
    other.refresh_from_db()
    assert other.member_id == into_id
    Message.objects.filter(external_id="m2").update(member_id=merged_id)
    assert (
        services.follow_member_merge(workspace_id=workspace.pk, into_id=into_id, merged_id=merged_id, undone=True) == 1
    )
    other.refresh_from_db()
    ana.refresh_from_db()
    assert (ana.member_id, other.member_id) == (into_id, merged_id)
