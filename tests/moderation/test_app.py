"""Moderation services end to end on the fake connector: rules → decisions → outbox → platform, the queue,
strikes, appeals and reversals, timed mutes, backtests, reports, appeals by code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.http import Http404
from django.test import Client
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.connectors.base import ModerationAction, ModerationTarget
from communa.connectors.models import Source
from communa.enrichment.tables import MessageSignals, SignalLabel
from communa.moderation import selectors, services
from communa.moderation.actions import appeal_code, appeal_url
from communa.moderation.appeal_mail import appeals_in
from communa.moderation.live import evaluate_batch
from communa.moderation.models import Appeal, Backtest, Decision, DecisionAction, ReviewItem, RuleSet, Strike
from communa.moderation.rules import RuleError
from communa.moderation.services import ModerationError
from communa.outbox.models import OutboxItem
from tests.conftest import FakeConnector
from tests.moderation.conftest import RULES, deliver_all, enable, events, post, signals

pytestmark = pytest.mark.django_db
BAD = "rules:\n  - id: x\n    when: {wordz: [a]}\n    actions: [queue]\n"


def test_a_text_that_does_not_compile_is_never_saved(workspace: Workspace, manager: User) -> None:
    with pytest.raises(RuleError) as error:
        services.save_rule_set(workspace=workspace, text=BAD, modes={}, actor=manager)
    assert (error.value.line, error.value.column) == (3, 12)
    assert RuleSet.objects.count() == 0
    first = services.save_rule_set(workspace=workspace, text=RULES, modes={"spam-links": "log_only", "nope": "x"},
                                   actor=manager)  # fmt: skip
    second = services.save_rule_set(workspace=workspace, text=RULES, modes={}, actor=manager, comment="again")
    assert (first.version, second.version) == (1, 2)
    assert first.modes == {"spam-links": "log_only"}  # unknown rules and modes are dropped
    assert first.rule_names == ["no-insults", "spam-links"]
    assert list(AuditEntry.objects.filter(action="moderation.rules_saved").values_list("data__version", flat=True)) == [
        2,
        1,
    ]


def test_an_insult_is_removed_on_the_platform_warned_and_struck_once(
    workspace: Workspace, manager: User, fake_source: Source
) -> None:
    enable(workspace, manager)
    message = post(fake_source, "m1", "sei proprio un idiota")
    signals(message, toxicity=0.93)
    assert evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk]) == 1
    assert evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk]) == 0  # a replay decides nothing

    decision = Decision.objects.get()
    assert (decision.kind, decision.verdict, decision.rule, decision.live) == ("rule", "remove", "No insults", True)
    assert decision.explanation["excerpt"] == "sei proprio un idiota"
    assert "word «idiota»" in decision.explanation["text"]
    assert decision.reason == "Be kind to each other."
    assert sorted(decision.actions.values_list("action", "state")) == [
        ("remove", "pending"), ("strike", "done"), ("warn", "pending")
    ]  # fmt: skip
    strike = Strike.objects.get()
    assert (strike.member_id, strike.rule, strike.decision_id) == (message.member_id, "No insults", decision.pk)
    assert strike.expires_at > timezone.now() + timedelta(days=89)

    assert deliver_all() == ["sent", "sent"]
    removal = next(w for w in FakeConnector.writes if w["call"] == "moderate")
    assert removal["action"] == ModerationAction.REMOVE_MESSAGE
    assert removal["target"] == ModerationTarget(channel="", user_external_id="", message_external_id="m1")
    warning = next(w for w in FakeConnector.writes if w["call"] == "reply")
    assert warning["text"].startswith("Troll, your message breaks our guideline “No insults”.")
    assert appeal_url(decision) in warning["text"]
    assert sorted(decision.actions.values_list("action", "state")) == [
        ("remove", "done"), ("strike", "done"), ("warn", "done")
    ]  # fmt: skip
    [event] = events("moderation.action")
    assert {k: event[k] for k in ("decision_id", "action", "rule", "automatic", "member_id")} == {
        "decision_id": decision.pk, "action": "remove", "rule": "No insults", "automatic": True,
        "member_id": message.member_id,
    }  # fmt: skip
    assert event["seconds_to_action"] > 0
    actions = list(AuditEntry.objects.filter(workspace=workspace).order_by("id").values_list("action", flat=True))
    assert actions[-3:] == ["moderation.decision", "moderation.action_done", "moderation.action_done"]


def test_the_platforms_refusal_is_shown_on_the_action(workspace: Workspace, manager: User, fake_source: Source) -> None:
    from communa.core.http import PermanentError

    enable(workspace, manager, text=RULES.replace("      - warn\n", ""))
    message = post(fake_source, "m1", "idiot")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    FakeConnector.fail_next = [PermanentError("M_FORBIDDEN: not a moderator here")]
    assert deliver_all() == ["failed"]
    action = DecisionAction.objects.get(action="remove")
    assert (action.state, action.error) == ("failed", "M_FORBIDDEN: not a moderator here")


def test_log_only_rules_record_and_touch_nothing(workspace: Workspace, manager: User, fake_source: Source) -> None:
    enable(workspace, manager, modes={"no-insults": "log_only"})
    message = post(fake_source, "m1", "idiota")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    decision = Decision.objects.get()
    assert decision.live is False
    assert set(decision.actions.values_list("state", flat=True)) == {"logged"}
    assert OutboxItem.objects.count() == 0
    assert Strike.objects.count() == 0
    assert events("moderation.action") == []


def test_nothing_runs_until_a_version_is_enabled(workspace: Workspace, manager: User, fake_source: Source) -> None:
    services.save_rule_set(workspace=workspace, text=RULES, modes={}, actor=manager)
    message = post(fake_source, "m1", "idiota")
    assert evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk]) == 0
    assert Decision.objects.count() == 0


def test_queue_approve_feeds_back_a_correction(
    workspace: Workspace, manager: User, volunteer: User, fake_source: Source
) -> None:
    enable(workspace, manager)
    message = post(fake_source, "m1", "buy   cheap watches")
    signals(message, toxicity=0.1, spam=0.8)
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    item = ReviewItem.objects.get()
    assert (item.state, item.message_id, item.member_id) == ("open", message.pk, message.member_id)
    assert OutboxItem.objects.count() == 0  # queueing is not an action on the platform

    decision = services.resolve_item(workspace=workspace, item=item, verdict="approve", actor=volunteer)
    assert (decision.kind, decision.verdict, decision.moderator) == ("moderator", "approve", volunteer)
    item.refresh_from_db()
    assert (item.state, item.resolution, item.resolved_by, item.resolution_decision) == (
        "resolved", "approve", volunteer, decision
    )  # fmt: skip
    assert list(SignalLabel.objects.values_list("task", "label")) == [("spam", "not_spam")]
    assert MessageSignals.objects.get(pk=message.pk).is_spam is False
    with pytest.raises(ModerationError, match="already decided"):
        services.resolve_item(workspace=workspace, item=item, verdict="remove", actor=manager)


def test_volunteers_may_remove_but_not_ban(
    workspace: Workspace, manager: User, volunteer: User, fake_source: Source
) -> None:
    enable(workspace, manager)
    message = post(fake_source, "m1", "buy cheap now")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    item = ReviewItem.objects.get()
    with pytest.raises(ModerationError, match="Your role may not do this"):
        services.resolve_item(workspace=workspace, item=item, verdict="ban", actor=volunteer)
    item.refresh_from_db()
    assert item.state == "open"
    assert Decision.objects.filter(kind="moderator").count() == 0
    decision = services.resolve_item(workspace=workspace, item=item, verdict="remove_warn", actor=volunteer)
    assert sorted(decision.actions.values_list("action", flat=True)) == ["remove", "strike", "warn"]


def test_a_claim_keeps_others_off_until_it_goes_stale(
    workspace: Workspace, manager: User, volunteer: User, fake_source: Source
) -> None:
    enable(workspace, manager)
    message = post(fake_source, "m1", "buy cheap now")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    item = ReviewItem.objects.get()
    services.claim_item(workspace=workspace, item=item, actor=manager)
    with pytest.raises(ModerationError, match="marco is working on this item"):
        services.claim_item(workspace=workspace, item=item, actor=volunteer)
    with pytest.raises(ModerationError, match="marco is working on this item"):
        services.resolve_item(workspace=workspace, item=item, verdict="remove", actor=volunteer)
    ReviewItem.objects.filter(pk=item.pk).update(claimed_at=timezone.now() - timedelta(minutes=20))
    assert services.claim_item(workspace=workspace, item=item, actor=volunteer).claimed_by == volunteer
    services.assign_item(workspace=workspace, item=item, assignee=manager, actor=volunteer)
    assert list(selectors.open_items(workspace=workspace, mine_for=manager)) == [item]


def test_ban_everywhere_reaches_every_place_the_member_spoke(
    workspace: Workspace, manager: User, fake_source: Source, second_source: Source
) -> None:
    enable(workspace, manager)
    post(second_source, "x1", "hello from the other room")
    message = post(fake_source, "m1", "buy cheap stuff")
    assert Decision.objects.count() == 0
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    item = ReviewItem.objects.get()
    services.resolve_item(workspace=workspace, item=item, verdict="ban_everywhere", actor=manager)
    bans = OutboxItem.objects.filter(payload__action="ban").order_by("source_id")
    assert [b.source_id for b in bans] == sorted([fake_source.pk, second_source.pk])
    assert {b.payload["target"]["user_external_id"] for b in bans} == {"troll"}


def test_an_appeal_by_link_overturns_the_decision_on_the_platform(
    workspace: Workspace, owner: User, manager: User, fake_source: Source, client: Client
) -> None:
    enable(workspace, manager)
    message = post(fake_source, "m1", "buy cheap stuff")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    decision = services.resolve_item(workspace=workspace, item=ReviewItem.objects.get(), verdict="ban", actor=manager)
    deliver_all()
    assert Strike.objects.get().removed_at is None

    page = client.get(appeal_url(decision).removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200
    response = client.post(page.request["PATH_INFO"], {"statement": "It was a joke between friends", "contact": ""})
    assert response.status_code == 302
    appeal = Appeal.objects.get()
    assert (appeal.decision, appeal.member_id, appeal.channel, appeal.state) == (
        decision, message.member_id, "link", "open"
    )  # fmt: skip

    with pytest.raises(ModerationError, match="other than the original moderator"):
        services.decide_appeal(workspace=workspace, appeal=appeal, overturn=True, response="", actor=manager)
    services.decide_appeal(workspace=workspace, appeal=appeal, overturn=True, response="Sorry!", actor=owner)
    appeal.refresh_from_db()
    assert (appeal.state, appeal.decided_by, appeal.response) == ("overturned", owner, "Sorry!")
    decision.refresh_from_db()
    assert decision.reversed_by == owner
    assert Strike.objects.get().removed_by == owner
    deliver_all()
    unban = [w for w in FakeConnector.writes if w["call"] == "moderate" and w["action"] == ModerationAction.UNBAN]
    assert [w["target"].user_external_id for w in unban] == ["troll"]
    assert events("moderation.appeal_decided")[0]["overturned"] is True
    steps = list(AuditEntry.objects.filter(workspace=workspace).order_by("id").values_list("action", flat=True))
    for step in ("moderation.decision", "moderation.appeal_submitted", "moderation.strike_removed",
                 "moderation.decision_reversed", "moderation.appeal_decided"):  # fmt: skip
        assert step in steps
    assert client.get(page.request["PATH_INFO"]).context["decision"].reversed_at is not None
    assert client.get("/appeal/not-a-token/").status_code == 404


def test_an_appeal_by_email_reply_quotes_the_code(workspace: Workspace, manager: User, fake_source: Source) -> None:
    enable(workspace, manager)
    message = post(fake_source, "m1", "idiota")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    decision = Decision.objects.get()
    code = appeal_code(decision)
    forged = post(fake_source, "m2", f"appeal M-{decision.pk}-abcdef please")
    other = post(fake_source, "m3", f"appeal {code} for my friend", author="friend")
    reply = post(fake_source, "m4", f"Re: warning. Appeal {code}: I was quoting a film")
    assert appeals_in(workspace_id=workspace.pk, message_ids=[forged.pk, other.pk]) == []
    [appeal] = appeals_in(workspace_id=workspace.pk, message_ids=[reply.pk])
    assert (appeal.channel, appeal.statement) == ("message", reply.text)
    assert appeals_in(workspace_id=workspace.pk, message_ids=[reply.pk]) == [appeal]  # the same open appeal


def test_a_timed_mute_is_lifted_through_the_outbox(workspace: Workspace, manager: User, fake_source: Source) -> None:
    text = "rules:\n  - id: flood\n    when: {words: [spam]}\n    actions:\n      - mute: 10m\n"
    enable(workspace, manager, text=text)
    message = post(fake_source, "m1", "spam spam")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    mute = DecisionAction.objects.get(action="mute")
    assert mute.params == {"seconds": 600}
    deliver_all()
    assert services.lift_expired_mutes() == 0
    assert services.lift_expired_mutes(now=timezone.now() + timedelta(minutes=11)) == 1
    assert services.lift_expired_mutes(now=timezone.now() + timedelta(minutes=12)) == 0
    deliver_all()
    calls = [w["action"] for w in FakeConnector.writes if w["call"] == "moderate"]
    assert calls == [ModerationAction.MUTE, ModerationAction.UNMUTE]


def test_a_backtest_replays_history_in_order(workspace: Workspace, manager: User, fake_source: Source) -> None:
    now = timezone.now()
    for n in range(10):
        message = post(fake_source, f"h{n}", "idiota!" if n in (2, 7) else f"hello number {n}", author=f"a{n}")
        message.created_at = now - timedelta(days=1, minutes=n)
        message.save(update_fields=["created_at"])
    old = post(fake_source, "old", "idiota")
    old.created_at = now - timedelta(days=40)
    old.save(update_fields=["created_at"])
    rule_set = services.save_rule_set(workspace=workspace, text=RULES, modes={}, actor=manager)
    run = services.run_backtest(workspace=workspace, rule_set=rule_set, days=30, actor=manager)
    assert (run.messages, run.acted, run.too_broad) == (10, 2, True)
    assert run.by_rule["No insults"]["matches"] == 2
    assert run.by_rule["No insults"]["actions"] == {"remove": 2, "warn": 2}
    assert [e["text"] for e in run.examples] == ["idiota!", "idiota!"]
    assert run.percent == 20.0
    assert Decision.objects.count() == 0  # a dry run
    assert OutboxItem.objects.count() == 0
    assert Backtest.objects.get() == run


def test_reports_count_decisions_actions_and_overturned_appeals(
    workspace: Workspace, owner: User, manager: User, fake_source: Source
) -> None:
    enable(workspace, manager)
    m1 = post(fake_source, "m1", "idiota")
    m2 = post(fake_source, "m2", "buy cheap")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[m1.pk, m2.pk])
    decision = services.resolve_item(workspace=workspace, item=ReviewItem.objects.get(), verdict="remove",
                                     actor=manager)  # fmt: skip
    deliver_all()
    appeal = services.submit_appeal(decision=decision, statement="please")
    services.decide_appeal(workspace=workspace, appeal=appeal, overturn=True, response="", actor=owner)
    report = selectors.report(workspace=workspace, days=7)
    assert (report.total, report.automatic) == (3, 2)
    assert dict(report.by_rule) == {"No insults": 1, "spam-links": 1}
    assert dict(report.by_moderator) == {"marco": 1}
    assert dict(report.by_action)["remove"] == 2
    assert (report.appeals, report.appeals_overturned, report.appeals_open) == (1, 1, 0)
    assert dict(report.overturned_by_rule) == {"spam-links": 1}
    assert sum(a + b for _d, a, b in report.by_day) == 3


def test_another_workspace_sees_nothing(workspace: Workspace, other_workspace: Workspace, manager: User,
                                        fake_source: Source) -> None:  # fmt: skip
    enable(workspace, manager)
    message = post(fake_source, "m1", "buy cheap")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    assert list(selectors.open_items(workspace=other_workspace)) == []
    with pytest.raises(Http404):
        selectors.get_item(workspace=other_workspace, item_id=ReviewItem.objects.get().pk)
    assert evaluate_batch(workspace_id=other_workspace.pk, message_ids=[message.pk]) == 0


def test_word_rules_act_at_ingest_and_score_rules_after_enrichment(
    workspace: Workspace, manager: User, fake_source: Source
) -> None:
    text = RULES + '  - id: toxic\n    when: {score: {toxicity: ">= 0.8"}}\n    actions: [queue]\n'
    enable(workspace, manager, text=text)
    message = post(fake_source, "m1", "idiota")
    assert evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk], early=True) == 1
    assert list(Decision.objects.values_list("rule", flat=True)) == ["No insults"]
    signals(message, toxicity=0.95)
    assert evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk]) == 1  # the insult rule: once
    assert sorted(Decision.objects.values_list("rule", flat=True)) == ["No insults", "toxic"]
    assert OutboxItem.objects.filter(payload__action="remove_message").count() == 1


def test_tag_notify_and_escalate(workspace: Workspace, manager: User, fake_source: Source) -> None:
    from communa.members.models import MemberTag

    text = "rules:\n  - id: watch\n    when: {words: [refund]}\n    actions:\n      - tag: [refund-asker]\n"
    text += "      - notify\n      - escalate: {note: billing}\n"
    enable(workspace, manager, text=text)
    message = post(fake_source, "m1", "I want a refund now")
    evaluate_batch(workspace_id=workspace.pk, message_ids=[message.pk])
    assert list(MemberTag.objects.filter(member_id=message.member_id).values_list("tag__name", flat=True)) == [
        "refund-asker"
    ]
    assert events("moderation.notify")[0]["rule"] == "watch"
    assert events("moderation.escalated")[0]["message_id"] == message.pk
    assert Strike.objects.count() == 0
