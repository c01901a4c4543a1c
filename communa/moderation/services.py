"""Writes for moderation: rule set versions, decisions, the review queue, strikes, appeals, reversals.

Every change a person makes is audited; automatic decisions are audited with `actor=None` ("communa").
Platform actions go through moderation.actions (the outbox); this module decides, actions carries out.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from communa.accounts.models import User, Workspace
from communa.accounts.roles import Perm, role_has
from communa.audit.models import AuditEntry
from communa.audit.services import record
from communa.events.services import emit, emit_many
from communa.moderation.actions import A, Step, carry_out, carry_out_many, reverse_actions, would_stand
from communa.moderation.models import (
    Appeal,
    Backtest,
    BacktestMark,
    Decision,
    DecisionAction,
    ModerationSettings,
    ReviewItem,
    RuleMode,
    RuleSet,
    Strike,
)
from communa.stream.models import Message

logger = logging.getLogger(__name__)

EXAMPLES_PER_RULE = 10
MAX_EXAMPLES = 60
CLAIM_MINUTES = 15  # a claim keeps others off an item this long
MUTE_SECONDS = 24 * 3600  # the queue's one-key mute
# What each verdict in the queue does, and the permission it needs (volunteers: hide and warn, never ban).
VERDICTS: dict[str, tuple[Perm, list[Step]]] = {
    "approve": (Perm.MODERATE, []),
    "remove": (Perm.MODERATE, [Step(A.REMOVE), Step(A.STRIKE)]),
    "remove_warn": (Perm.MODERATE, [Step(A.REMOVE), Step(A.WARN), Step(A.STRIKE)]),
    "mute": (Perm.MODERATE_HARSH, [Step(A.REMOVE), Step(A.MUTE, seconds=MUTE_SECONDS), Step(A.STRIKE)]),
    "kick": (Perm.MODERATE_HARSH, [Step(A.REMOVE), Step(A.KICK), Step(A.STRIKE)]),
    "ban": (Perm.MODERATE_HARSH, [Step(A.REMOVE), Step(A.BAN), Step(A.STRIKE)]),
    "ban_everywhere": (Perm.MODERATE_HARSH, [Step(A.REMOVE), Step(A.BAN, everywhere=True), Step(A.STRIKE)]),
}
# Most severe first: a decision's verdict is its most severe step.
SEVERITY = [
    "ban_everywhere",
    "ban",
    "kick",
    "mute",
    "remove",
    "warn",
    "reply",
    "queue",
    "strike",
    "escalate",
    "notify",
    "tag",
    "approve",
]


class ModerationError(Exception):
    """Something a person tried that cannot be done; the message says why, in their language."""


def settings_for(workspace: Workspace) -> ModerationSettings:
    found, _created = ModerationSettings.objects.get_or_create(workspace=workspace)
    return found


def verdict_of(steps: Sequence[Step]) -> str:
    names = {("ban_everywhere" if s.everywhere and s.action == A.BAN else str(s.action)) for s in steps}
    for name in SEVERITY:
        if name in names:
            return name
    return "flag"


# --- rule sets ---------------------------------------------------------------------------------------------


def save_rule_set(
    *, workspace: Workspace, text: str, modes: dict[str, str] | None, actor: User | None, comment: str = ""
) -> RuleSet:
    """Compile `text` and save it as the next version. Raises rules.RuleError (line, column); nothing saved."""
    from communa.moderation.rules import compile_ruleset

    compiled = compile_ruleset(text)
    names = [rule.rule_id for rule in compiled.rules]
    valid_modes = {str(m) for m in RuleMode.values}
    clean = {name: str(mode) for name, mode in (modes or {}).items() if name in names and str(mode) in valid_modes}
    with transaction.atomic():
        settings_for(workspace)  # the row locks version numbering per workspace on PostgreSQL
        ModerationSettings.objects.select_for_update().filter(workspace=workspace).first()
        last = RuleSet.objects.filter(workspace=workspace).aggregate(v=Max("version"))["v"] or 0
        rule_set = RuleSet.objects.create(
            workspace=workspace,
            version=last + 1,
            text=text,
            modes=clean,
            rule_names=names,
            comment=comment[:300],
            created_by=actor,
        )
        record(
            workspace=workspace,
            actor=actor,
            action="moderation.rules_saved",
            target=rule_set,
            data={"version": rule_set.version, "rules": len(names)},
        )
    return rule_set


def set_strike_days(*, workspace: Workspace, days: int, actor: User) -> ModerationSettings:
    """How long strikes given from now on count (existing strikes keep their expiry)."""
    if not 1 <= days <= 3650:
        raise ModerationError(_("Choose between 1 and 3650 days."))
    with transaction.atomic():
        config = ModerationSettings.objects.select_for_update().get(pk=settings_for(workspace).pk)
        before = config.strike_days
        config.strike_days = days
        config.save(update_fields=["strike_days"])
        record(
            workspace=workspace,
            actor=actor,
            action="moderation.settings_changed",
            target=config,
            data={"strike_days": [before, days]},
        )
    return config


def activate_rule_set(*, workspace: Workspace, rule_set: RuleSet | None, actor: User | None) -> ModerationSettings:
    """Make `rule_set` the live one (None: automatic moderation off)."""
    if rule_set is not None and rule_set.workspace_id != workspace.pk:
        raise ModerationError("the rule set belongs to another workspace")
    with transaction.atomic():
        config = settings_for(workspace)
        config.active_rule_set = rule_set
        config.activated_at = timezone.now()
        config.activated_by = actor
        config.save(update_fields=["active_rule_set", "activated_at", "activated_by"])
        record(
            workspace=workspace,
            actor=actor,
            action="moderation.rules_enabled" if rule_set else "moderation.rules_disabled",
            target=rule_set,
            data={"version": rule_set.version, "modes": rule_set.modes} if rule_set else {},
        )
    from communa.moderation.live import forget_compiled

    forget_compiled(workspace.pk)
    return config


def effective_modes(rule_set: RuleSet) -> list[tuple[str, str, str]]:
    """(rule id, name, mode) of each rule of a version: the version's override, else the text's own mode."""
    from communa.moderation.live import compile_with_modes

    return [(r.rule_id, r.name, r.mode.value) for r in compile_with_modes(rule_set).rules]


def run_backtest(*, workspace: Workspace, rule_set: RuleSet, days: int, actor: User | None) -> Backtest:
    """Replay the last `days` of history, in time order, through the version's rules (disabled ones left out)."""
    import time

    from communa.moderation.facts import history
    from communa.moderation.live import compile_with_modes
    from communa.moderation.rules import Mode, backtest

    started = time.monotonic()
    compiled = compile_with_modes(rule_set)
    until = timezone.now()
    since = until - timedelta(days=days)
    wanted = [r.rule_id for r in compiled.rules if r.mode is not Mode.DISABLED]
    result = backtest(
        compiled,
        (facts for _m, facts in history(workspace_id=workspace.pk, since=since, until=until)),
        rule_ids=wanted,
        examples=EXAMPLES_PER_RULE,
    )
    example_ids = [e.message_id for stats in result.rules.values() for e in stats.examples]
    found = {
        m.pk: m
        for m in Message.objects.filter(workspace=workspace, pk__in=example_ids).select_related("identity", "source")
    }
    examples = []
    for stats in result.rules.values():
        for example in stats.examples:
            message = found.get(int(example.message_id))
            if message is None:
                continue
            examples.append(
                {
                    "message_id": message.pk,
                    "rule": stats.name,
                    "rule_id": stats.rule_id,
                    "explanation": example.explanation,
                    "excerpt": example.excerpt,
                    "text": message.text[:1000],
                    "author": str(message.identity) if message.identity else "",
                    "source": message.source.name,
                    "at": message.created_at.isoformat(),
                    "actions": sorted(stats.actions),
                }
            )
    examples.sort(key=lambda e: str(e["at"]), reverse=True)
    modes = {r.rule_id: r.mode.value for r in compiled.rules}
    with transaction.atomic():
        run = Backtest.objects.create(
            workspace=workspace,
            rule_set=rule_set,
            days=days,
            since=since,
            until=until,
            messages=result.total,
            acted=result.acted,
            by_rule={
                stats.name: {
                    "rule_id": stats.rule_id,
                    "matches": stats.matched,
                    "acted": stats.acted,
                    "actions": dict(stats.actions),
                    "mode": modes.get(stats.rule_id, ""),
                }
                for stats in result.rules.values()
            },
            examples=examples[:MAX_EXAMPLES],
            warning_share=result.warning_share,
            warnings=result.warnings,
            too_broad=result.too_broad,
            seconds=round(time.monotonic() - started, 3),
            created_by=actor,
        )
        record(
            workspace=workspace,
            actor=actor,
            action="moderation.backtest",
            target=rule_set,
            data={"version": rule_set.version, "days": days, "messages": result.total, "acted": result.acted},
        )
    return run


def mark_example(
    *, workspace: Workspace, backtest: Backtest, message_id: int, rule_id: str, verdict: str, actor: User
) -> BacktestMark | None:
    """Record a moderator's verdict on one of the backtest's examples ("correct" or "wrong"; "" clears it).

    The mark belongs to the rule and the message, so it carries over to the next backtest of the same rule."""
    if not any(e.get("message_id") == message_id and e.get("rule_id") == rule_id for e in backtest.examples):
        raise ModerationError(_("This message is not an example of this backtest."))
    if verdict and verdict not in BacktestMark.Verdict.values:
        raise ModerationError(_("Unknown verdict."))
    with transaction.atomic():
        mark: BacktestMark | None = None
        if verdict:
            mark, _created = BacktestMark.objects.update_or_create(
                workspace=workspace,
                rule_id=rule_id,
                message_id=message_id,
                defaults={"verdict": verdict, "marked_by": actor, "marked_at": timezone.now()},
            )
        else:
            BacktestMark.objects.filter(workspace=workspace, rule_id=rule_id, message_id=message_id).delete()
        record(
            workspace=workspace,
            actor=actor,
            action="moderation.backtest_marked",
            target=backtest,
            data={"rule_id": rule_id, "message_id": message_id, "verdict": verdict or "cleared"},
        )
    return mark


# --- decisions ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Batch:
    """What the live rules read and write once per evaluation batch rather than once per decision
    (live.evaluate_batch): the dedupe keys its messages already have, and the audit entries and
    `moderation.action` events of its decisions, written together by `flush()` before the batch commits."""

    decided: set[str]
    planned: list[Planned] = dataclasses.field(default_factory=list)
    audit: list[AuditEntry] = dataclasses.field(default_factory=list)
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    workspace_id: int = 0

    @classmethod
    def for_messages(cls, workspace_id: int, message_ids: Sequence[int]) -> Batch:
        keys = Decision.objects.filter(
            workspace_id=workspace_id, message_id__in=list(message_ids), dedupe_key__isnull=False
        ).values_list("dedupe_key", flat=True)
        return cls(decided={k for k in keys if k}, workspace_id=workspace_id)

    def flush(self) -> None:
        if self.audit:
            AuditEntry.objects.bulk_create(self.audit)
        if self.events:
            emit_many(workspace_id=self.workspace_id, name="moderation.action", data=self.events)
        self.audit, self.events = [], []


def decide(
    *,
    workspace: Workspace,
    message: Message | None,
    member_id: int | None,
    steps: Sequence[Step],
    explanation: dict[str, Any],
    moderator: User | None,
    rule: str = "",
    rule_set: RuleSet | None = None,
    live: bool = True,
    reason: str = "",
    dedupe_key: str | None = None,
    now: datetime | None = None,
    strike_days: int | None = None,
    standing: Standing | None = None,
    deliver_inline: bool = False,
    batch: Batch | None = None,
) -> Decision | None:
    """Record a decision and carry out its steps, in one transaction. None when `dedupe_key` was decided.

    The live path passes what it read once per batch: the workspace's `strike_days` and the batch's `standing`
    removals and strikes (standing_for); without them they are read here. With a `batch`, its known dedupe keys
    stand for the savepoint that catches a repeated key (a key decided since makes the whole batch fail and be
    retried), and the audit entry and event wait for `batch.flush()`. `decision.carried_out` holds the actions
    recorded."""
    now = now or timezone.now()
    if strike_days is None:
        strike_days = settings_for(workspace).strike_days
    if message is not None and live:
        steps = without_repeats(message, steps, standing)
    record_decision = functools.partial(
        _record_decision,
        workspace=workspace,
        message=message,
        member_id=member_id,
        steps=steps,
        explanation=explanation,
        moderator=moderator,
        rule=rule,
        rule_set=rule_set,
        live=live,
        reason=reason,
        dedupe_key=dedupe_key,
        now=now,
        strike_days=strike_days,
        standing=standing,
        deliver_inline=deliver_inline,
    )
    if batch is not None:
        if dedupe_key and dedupe_key in batch.decided:
            return None
        decision = record_decision(batch=batch)
        if dedupe_key:
            batch.decided.add(dedupe_key)
        return decision
    try:
        with transaction.atomic():
            return record_decision(batch=None)
    except IntegrityError:
        if dedupe_key and Decision.objects.filter(workspace=workspace, dedupe_key=dedupe_key).exists():
            return None
        raise


def _record_decision(
    *,
    workspace: Workspace,
    message: Message | None,
    member_id: int | None,
    steps: Sequence[Step],
    explanation: dict[str, Any],
    moderator: User | None,
    rule: str,
    rule_set: RuleSet | None,
    live: bool,
    reason: str,
    dedupe_key: str | None,
    now: datetime,
    strike_days: int,
    standing: Standing | None,
    deliver_inline: bool,
    batch: Batch | None,
) -> Decision:
    decision = _new_decision(
        workspace=workspace,
        message=message,
        member_id=member_id,
        steps=steps,
        explanation=explanation,
        moderator=moderator,
        rule=rule,
        rule_set=rule_set,
        live=live,
        reason=reason,
        dedupe_key=dedupe_key,
        now=now,
    )
    decision.save(force_insert=True)
    decision.carried_out = carry_out(
        decision=decision,
        steps=steps,
        created_by=moderator,
        strike_days=strike_days,
        deliver_inline=deliver_inline,
    )
    if standing is not None and message is not None:
        standing.note(message.pk, decision.carried_out)
    if live:
        _audit_and_event(decision, workspace=workspace, moderator=moderator, now=now, batch=batch)
    return decision


def _new_decision(
    *,
    workspace: Workspace,
    message: Message | None,
    member_id: int | None,
    steps: Sequence[Step],
    explanation: dict[str, Any],
    moderator: User | None,
    rule: str,
    rule_set: RuleSet | None,
    live: bool,
    reason: str,
    dedupe_key: str | None,
    now: datetime,
) -> Decision:
    return Decision(
        workspace=workspace,
        kind=Decision.Kind.MODERATOR if moderator is not None else Decision.Kind.RULE,
        live=live,
        message=message,
        member_id=member_id,
        source_id=message.source_id if message is not None else None,
        rule_set=rule_set,
        rule=rule[:120],
        moderator=moderator,
        verdict=verdict_of(steps) if steps else "approve",
        explanation=explanation,
        reason=reason[:500],
        dedupe_key=dedupe_key,
        message_at=message.created_at if message is not None else None,
        seconds_to_action=(now - message.created_at).total_seconds() if message is not None else None,
    )


def _audit_and_event(
    decision: Decision, *, workspace: Workspace, moderator: User | None, now: datetime, batch: Batch | None
) -> None:
    audit_data = {
        "verdict": decision.verdict,
        "rule": decision.rule,
        "message_id": decision.message_id,
        "member_id": decision.member_id,
        "explanation": decision.summary,
    }
    event = {
        "decision_id": decision.pk,
        "source_id": decision.source_id,
        "member_id": decision.member_id,
        "action": decision.verdict,
        "rule": decision.rule,
        "automatic": moderator is None,
        "at": now.isoformat(),
        "seconds_to_action": decision.seconds_to_action,
    }
    if batch is None:
        record(workspace=workspace, actor=moderator, action="moderation.decision", target=decision, data=audit_data)
        emit(workspace_id=workspace.pk, name="moderation.action", data=event)
        return
    batch.audit.append(
        AuditEntry(
            workspace=workspace,
            actor=moderator,
            actor_label=moderator.get_username() if moderator else "communa",
            action="moderation.decision",
            target_type=decision._meta.label_lower,
            target_id=str(decision.pk),
            target_label=str(decision)[:200],
            data=audit_data,
        )
    )
    batch.events.append(event)


@dataclasses.dataclass
class Planned:
    """A rule decision of a live batch whose steps carry_out_many writes set-based (actions.bulkable)."""

    message: Message
    steps: list[Step]
    explanation: dict[str, Any]
    rule: str
    live: bool
    reason: str
    dedupe_key: str
    now: datetime


def plan(batch: Batch, standing: Standing, planned: Planned) -> bool:
    """Queue a rule decision for decide_many, as decide() would record it: False when its key was decided.
    The batch's standing removals and strikes follow at once, for the next rule matching the same message."""
    if planned.dedupe_key in batch.decided:
        return False
    batch.decided.add(planned.dedupe_key)
    if planned.live:
        for step in planned.steps:
            if would_stand(planned.message, step):
                (standing.removed if step.action == A.REMOVE else standing.struck).add(planned.message.pk)
    batch.planned.append(planned)
    return True


def decide_many(
    batch: Batch, *, workspace: Workspace, rule_set: RuleSet, strike_days: int, deliver_inline: bool = False
) -> list[Decision]:
    """Record the batch's planned rule decisions and their actions set-based (one INSERT per table), with their
    audit entries and events in the batch; return them in order, each with `carried_out`."""
    planned, batch.planned = batch.planned, []
    if not planned:
        return []
    decisions = [
        _new_decision(
            workspace=workspace,
            message=p.message,
            member_id=p.message.member_id,
            steps=p.steps,
            explanation=p.explanation,
            moderator=None,
            rule=p.rule,
            rule_set=rule_set,
            live=p.live,
            reason=p.reason,
            dedupe_key=p.dedupe_key,
            now=p.now,
        )
        for p in planned
    ]
    Decision.objects.bulk_create(decisions)
    carry_out_many(
        [(d, p.steps) for d, p in zip(decisions, planned, strict=True)],
        strike_days=strike_days,
        deliver_inline=deliver_inline,
    )
    for decision, p in zip(decisions, planned, strict=True):
        if decision.live:
            _audit_and_event(decision, workspace=workspace, moderator=None, now=p.now, batch=batch)
    return decisions


@dataclasses.dataclass
class Standing:
    """Which messages of a batch already have a standing removal or strike: read once per batch."""

    removed: set[int]
    struck: set[int]

    def note(self, message_id: int, actions: Sequence[DecisionAction]) -> None:
        """Remember what a decision of this batch just did, for the next rule matching the same message."""
        for action in actions:
            if action.action == A.REMOVE and action.state not in NOT_STANDING:
                self.removed.add(message_id)
            elif action.action == A.STRIKE and action.state == DecisionAction.State.DONE:
                self.struck.add(message_id)


NOT_STANDING = [DecisionAction.State.FAILED, DecisionAction.State.SKIPPED, DecisionAction.State.LOGGED]


def standing_for(message_ids: Sequence[int]) -> Standing:
    """Two queries for a whole batch instead of two per decision."""
    ids = list(message_ids)
    removed = (
        DecisionAction.objects.filter(
            decision__message_id__in=ids, decision__live=True, decision__reversed_at__isnull=True, action=A.REMOVE
        )
        .exclude(state__in=NOT_STANDING)
        .values_list("decision__message_id", flat=True)
    )
    struck = Strike.objects.filter(decision__message_id__in=ids, removed_at__isnull=True).values_list(
        "decision__message_id", flat=True
    )
    return Standing(removed={m for m in removed if m}, struck={m for m in struck if m})


def without_repeats(message: Message, steps: Sequence[Step], standing: Standing | None = None) -> list[Step]:
    """Leave out what was already done to this message by a standing decision: a second removal, a second strike
    (a queued message a rule already removed, two rules matching one message)."""
    known = standing or standing_for([message.pk])
    removed, struck = message.pk in known.removed, message.pk in known.struck
    return [s for s in steps if not ((s.action == A.REMOVE and removed) or (s.action == A.STRIKE and struck))]


# --- the review queue ------------------------------------------------------------------------------------------


def _role(workspace: Workspace, user: User) -> str:
    from communa.accounts.models import Membership

    return Membership.objects.filter(workspace=workspace, user=user).values_list("role", flat=True).first() or ""


def claim_item(*, workspace: Workspace, item: ReviewItem, actor: User, force: bool = False) -> ReviewItem:
    """Take an item so nobody else works it; a claim older than CLAIM_MINUTES can be taken over."""
    now = timezone.now()
    stale = now - timedelta(minutes=CLAIM_MINUTES)
    free = Q(claimed_by__isnull=True) | Q(claimed_by=actor) | Q(claimed_at__lt=stale)
    query = ReviewItem.objects.filter(pk=item.pk, workspace=workspace, state=ReviewItem.State.OPEN)
    if not force:
        query = query.filter(free)
    if not query.update(claimed_by=actor, claimed_at=now):
        item.refresh_from_db()
        if item.state != ReviewItem.State.OPEN:
            raise ModerationError(_("This item was already decided."))
        raise ModerationError(
            _("%(name)s is working on this item.")
            % {"name": item.claimed_by.get_username() if item.claimed_by else "?"}
        )
    item.refresh_from_db()
    return item


def release_item(*, workspace: Workspace, item: ReviewItem, actor: User) -> None:
    ReviewItem.objects.filter(pk=item.pk, workspace=workspace, claimed_by=actor).update(
        claimed_by=None, claimed_at=None
    )


def assign_item(*, workspace: Workspace, item: ReviewItem, assignee: User | None, actor: User) -> ReviewItem:
    if assignee is not None and not role_has(_role(workspace, assignee), Perm.MODERATE):
        raise ModerationError(_("This person cannot moderate in this workspace."))
    with transaction.atomic():
        ReviewItem.objects.filter(pk=item.pk, workspace=workspace).update(assigned_to=assignee)
        record(
            workspace=workspace,
            actor=actor,
            action="moderation.item_assigned",
            target=item,
            data={"assignee": assignee.get_username() if assignee else ""},
        )
    item.refresh_from_db()
    return item


def resolve_item(*, workspace: Workspace, item: ReviewItem, verdict: str, actor: User) -> Decision:
    """Carry out a one-key verdict on a queued message, exactly once even if two people press at once."""
    if verdict not in VERDICTS:
        raise ModerationError(_("Unknown action."))
    perm, steps = VERDICTS[verdict]
    if not role_has(_role(workspace, actor), perm):
        raise ModerationError(_("Your role may not do this: ask a moderator or the community manager."))
    now = timezone.now()
    stale = now - timedelta(minutes=CLAIM_MINUTES)
    with transaction.atomic():
        won = (
            ReviewItem.objects.filter(pk=item.pk, workspace=workspace, state=ReviewItem.State.OPEN)
            .filter(Q(claimed_by__isnull=True) | Q(claimed_by=actor) | Q(claimed_at__lt=stale))
            .update(state=ReviewItem.State.RESOLVED, resolution=verdict, resolved_by=actor, resolved_at=now)
        )
        if not won:
            item.refresh_from_db()
            if item.state != ReviewItem.State.OPEN:
                raise ModerationError(_("This item was already decided."))
            raise ModerationError(
                _("%(name)s is working on this item.")
                % {"name": item.claimed_by.get_username() if item.claimed_by else "?"}
            )
        message = Message.objects.select_related("source", "identity", "thread").get(pk=item.message_id)
        explanation = {
            "summary": _("%(who)s chose “%(verdict)s” in the review queue")
            % {"who": actor.get_username(), "verdict": verdict},
            "queued_for": item.reason,
            "message_text": message.text[:2000] or item.explanation.get("message_text", ""),
        }
        if item.decision is not None:
            explanation["rule"] = item.decision.rule
        decision = decide(
            workspace=workspace,
            message=message,
            member_id=item.member_id,
            steps=steps,
            explanation=explanation,
            moderator=actor,
            rule=item.decision.rule if item.decision is not None else "",
            reason=item.decision.reason if item.decision is not None else "",
            now=now,
        )
        assert decision is not None
        ReviewItem.objects.filter(pk=item.pk).update(resolution_decision=decision)
        if verdict == "approve" and item.decision is not None and item.decision.verdict != "queue":
            # The rule acted and a person says the message was fine: undo what can be undone.
            _reverse(workspace=workspace, decision=item.decision, actor=actor, why="approved in review")
        _feedback(workspace=workspace, message=message, verdict=verdict, actor=actor)
    item.refresh_from_db()
    return decision


def _feedback(*, workspace: Workspace, message: Message, verdict: str, actor: User) -> None:
    """A moderator's verdict becomes a per-workspace correction of the classifiers that flagged it."""
    from communa.enrichment.services import correct_signal
    from communa.enrichment.tables import MessageSignals

    signals = MessageSignals.objects.filter(pk=message.pk).first()
    if signals is None:
        return
    labels: list[tuple[str, str]] = []
    if verdict == "approve":
        if signals.is_toxic:
            labels.append(("toxicity", "not_toxic"))
        if signals.is_spam:
            labels.append(("spam", "not_spam"))
    else:
        if signals.is_toxic is not True and (signals.toxicity_score or 0) >= 0.5:
            labels.append(("toxicity", "toxic"))
        if signals.is_spam is not True and (signals.spam_score or 0) >= 0.5:
            labels.append(("spam", "spam"))
    for task, label in labels:
        correct_signal(workspace=workspace, message=message, task=task, label=label, actor=actor)


# --- strikes -------------------------------------------------------------------------------------------------


def add_strike(*, workspace: Workspace, member_id: int, reason: str, actor: User, days: int | None = None) -> Strike:
    config = settings_for(workspace)
    with transaction.atomic():
        strike = Strike.objects.create(
            workspace=workspace,
            member_id=member_id,
            reason=reason[:500],
            created_by=actor,
            expires_at=timezone.now() + timedelta(days=days or config.strike_days),
        )
        record(
            workspace=workspace,
            actor=actor,
            action="moderation.strike_added",
            target=strike,
            data={"member_id": member_id, "reason": strike.reason},
        )
    return strike


def remove_strike(*, workspace: Workspace, strike: Strike, actor: User | None, why: str = "") -> bool:
    with transaction.atomic():
        removed = Strike.objects.filter(pk=strike.pk, workspace=workspace, removed_at__isnull=True).update(
            removed_at=timezone.now(), removed_by=actor
        )
        if removed:
            record(
                workspace=workspace,
                actor=actor,
                action="moderation.strike_removed",
                target=strike,
                data={"member_id": strike.member_id, "why": why},
            )
    return bool(removed)


# --- appeals and reversals --------------------------------------------------------------------------------------


def submit_appeal(
    *, decision: Decision, statement: str, contact: str = "", channel: str = Appeal.Channel.LINK
) -> Appeal:
    """A member asks for a decision to be reviewed again. One open appeal per decision; a decided one is final."""
    statement = statement.strip()
    if not statement:
        raise ModerationError(_("Tell us why the decision should be reviewed."))
    if decision.reversed_at is not None:
        raise ModerationError(_("This decision was already reversed."))
    if decision.appeals.exclude(state=Appeal.State.OPEN).exists():
        raise ModerationError(_("This decision was already reviewed after an appeal."))
    with transaction.atomic():
        existing = decision.appeals.filter(state=Appeal.State.OPEN).first()
        if existing is not None:
            return existing
        appeal = Appeal.objects.create(
            workspace_id=decision.workspace_id,
            decision=decision,
            member_id=decision.member_id,
            channel=channel,
            statement=statement[:5000],
            contact=contact[:254],
        )
        record(
            workspace=decision.workspace,
            actor=None,
            action="moderation.appeal_submitted",
            target=appeal,
            data={"decision_id": decision.pk, "channel": channel},
        )
    return appeal


def original_moderators(decision: Decision) -> set[int]:
    """Who made the decision: its moderator, and whoever confirmed it in the queue."""
    ids = {decision.moderator_id} if decision.moderator_id else set()
    ids |= set(
        ReviewItem.objects.filter(decision=decision, resolved_by__isnull=False).values_list("resolved_by", flat=True)
    )
    return {i for i in ids if i is not None}


def decide_appeal(*, workspace: Workspace, appeal: Appeal, overturn: bool, response: str, actor: User) -> Appeal:
    """Uphold or overturn; overturning undoes the action on the platform where possible and removes strikes."""
    decision = appeal.decision
    if actor.pk in original_moderators(decision):
        raise ModerationError(_("Someone other than the original moderator must review this appeal."))
    now = timezone.now()
    with transaction.atomic():
        state = Appeal.State.OVERTURNED if overturn else Appeal.State.UPHELD
        won = Appeal.objects.filter(pk=appeal.pk, workspace=workspace, state=Appeal.State.OPEN).update(
            state=state, decided_by=actor, decided_at=now, response=response[:5000]
        )
        if not won:
            raise ModerationError(_("This appeal was already decided."))
        if overturn:
            _reverse(workspace=workspace, decision=decision, actor=actor, why="appeal overturned")
        record(
            workspace=workspace,
            actor=actor,
            action="moderation.appeal_decided",
            target=appeal,
            data={"decision_id": decision.pk, "overturned": overturn},
        )
        emit(
            workspace_id=workspace.pk,
            name="moderation.appeal_decided",
            data={"appeal_id": appeal.pk, "decision_id": decision.pk, "overturned": overturn, "at": now.isoformat()},
        )
    appeal.refresh_from_db()
    return appeal


def _reverse(*, workspace: Workspace, decision: Decision, actor: User, why: str) -> Decision | None:
    if not Decision.objects.filter(pk=decision.pk, reversed_at__isnull=True).update(
        reversed_at=timezone.now(), reversed_by=actor
    ):
        return None
    reversal = Decision.objects.create(
        workspace=workspace,
        kind=Decision.Kind.MODERATOR,
        message_id=decision.message_id,
        member_id=decision.member_id,
        source_id=decision.source_id,
        rule=decision.rule,
        moderator=actor,
        verdict="reverse",
        explanation={"summary": why, "reverses": decision.pk},
        reason=why,
    )
    undone = reverse_actions(decision=decision, reversal=reversal, created_by=actor)
    for strike in Strike.objects.filter(decision=decision, removed_at__isnull=True):
        remove_strike(workspace=workspace, strike=strike, actor=actor, why=why)
    record(
        workspace=workspace,
        actor=actor,
        action="moderation.decision_reversed",
        target=decision,
        data={"why": why, "undone": [f"{a.action}@{a.source_id}" for a in undone]},
    )
    return reversal


def reverse_decision(*, workspace: Workspace, decision: Decision, actor: User, why: str) -> Decision | None:
    """A person undoes a decision directly (not through an appeal)."""
    with transaction.atomic():
        return _reverse(workspace=workspace, decision=decision, actor=actor, why=why)


# --- the outbox's answers -----------------------------------------------------------------------------------------


def record_outbox_outcome(*, action_id: int, state: str, error: str) -> None:
    """outbox.sent / failed / unknown for one of our actions: set its state, audit a refusal."""
    mapping = {
        "sent": DecisionAction.State.DONE,
        "failed": DecisionAction.State.FAILED,
        "unknown": DecisionAction.State.UNKNOWN,
    }
    new_state = mapping.get(state)
    if new_state is None:
        return
    action = DecisionAction.objects.select_related("decision").filter(pk=action_id).first()
    if action is None:
        return
    fields: dict[str, Any] = {"state": new_state, "error": error[:2000]}
    if new_state == DecisionAction.State.DONE:
        fields["done_at"] = timezone.now()
    DecisionAction.objects.filter(pk=action_id).exclude(state=DecisionAction.State.DONE).update(**fields)
    record(
        workspace=action.decision.workspace,
        actor=None,
        action=f"moderation.action_{'done' if new_state == DecisionAction.State.DONE else str(new_state)}",
        target=action.decision,
        data={"action": action.action, "source_id": action.source_id, "error": error[:300]},
    )


def lift_expired_mutes(*, now: datetime | None = None, limit: int = 200) -> int:
    """Enqueue the unmute of each timed mute that has run out; each row claimed once (conditional UPDATE)."""
    from communa.moderation.actions import lift_mute

    now = now or timezone.now()
    due = list(
        DecisionAction.objects.filter(
            action__in=[A.MUTE, A.BAN],
            lifted_at__isnull=True,
            expires_at__lte=now,
            state__in=["done", "pending", "unknown"],
        )
        .select_related("source", "decision__workspace")
        .order_by("expires_at")[:limit]
    )
    lifted = 0
    for action in due:
        with transaction.atomic():
            if not DecisionAction.objects.filter(pk=action.pk, lifted_at__isnull=True).update(lifted_at=now):
                continue
            lift_mute(action)
            record(
                workspace=action.decision.workspace,
                actor=None,
                action="moderation.expired",
                target=action.decision,
                data={"source_id": action.source_id, "user": action.target_user},
            )
            lifted += 1
    return lifted
