"""Live moderation: the enabled rule set evaluated on each enriched batch, matches turned into decisions.

Runs inside the `messages.enriched` subscriber (no extra task hop: the send → redaction latency counts every
queue), in a savepoint, so a failure is logged and retried by a task instead of blocking the event stream.
Compiled rule sets and rate windows are kept per process and workspace; a rate window is topped up from the
database before each batch, so messages evaluated by other workers count too.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import connections, transaction
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.moderation import facts as facts_module
from communa.moderation.actions import INLINE, A, Step, bulkable
from communa.moderation.models import Decision, DecisionAction, ModerationSettings, RuleSet
from communa.moderation.rules.explain import ActionKind, Match, Mode

if TYPE_CHECKING:
    from communa.moderation.rules.engine import CompiledRuleSet
    from communa.moderation.rules.rate import RateWindow
    from communa.stream.models import Message

logger = logging.getLogger(__name__)

DEFAULT_MUTE_SECONDS = 3600
SEED_LIMIT = 50_000
URGENT = INLINE  # delivered at once after commit (deliver_soon), without an outbox task
STRIKING = {
    ActionKind.REMOVE,
    ActionKind.WARN,
    ActionKind.MUTE,
    ActionKind.KICK,
    ActionKind.BAN,
    ActionKind.BAN_EVERYWHERE,
}


@dataclasses.dataclass
class _Live:
    rule_set_id: int
    compiled: CompiledRuleSet
    window: RateWindow | None
    early: CompiledRuleSet  # the rules that do not wait for enrichment
    late: CompiledRuleSet  # the rules that do (score, flag, sentiment, language)
    synced_until: datetime | None = None
    workspace: Workspace | None = None


_cache: dict[int, _Live] = {}
_lock = threading.Lock()


def forget_compiled(workspace_id: int) -> None:
    with _lock:
        _cache.pop(workspace_id, None)


def compile_with_modes(rule_set: RuleSet) -> CompiledRuleSet:
    """The version's text compiled, with the modes people set on the version page applied over the text's."""
    from communa.moderation.rules import compile_ruleset

    compiled = compile_ruleset(rule_set.text)
    if not rule_set.modes:
        return compiled
    rules = tuple(
        r.with_mode(Mode(rule_set.modes[r.rule_id])) if r.rule_id in rule_set.modes else r for r in compiled.rules
    )
    return dataclasses.replace(compiled, rules=rules)


def _uses_rate(compiled: CompiledRuleSet) -> bool:
    return any(r.when.uses_rate() for r in compiled.rules if r.mode is not Mode.DISABLED)


SIGNAL_FACTS = {"sentiment", "language"}


def needs_signals(condition: object) -> bool:
    """Whether a condition reads what enrichment computes (scores, flags, sentiment, detected language)."""
    from communa.moderation.rules.conditions import FactIn, FactIs, Score

    if isinstance(condition, Score):
        return True
    if isinstance(condition, FactIs | FactIn):
        return condition.kind == "flag" or condition.fact.name in SIGNAL_FACTS
    children = getattr(condition, "children", None)
    if children is not None:
        return any(needs_signals(child) for child in children)
    child = getattr(condition, "child", None)
    return child is not None and needs_signals(child)


def text_only(compiled: CompiledRuleSet) -> CompiledRuleSet:
    """The rules that can run before enrichment (the others disabled): words, phrases, patterns, member facts,
    rates. They act right after ingest; the rules that need signals act after enrichment."""
    rules = tuple(r.with_mode(Mode.DISABLED) if needs_signals(r.when) else r for r in compiled.rules)
    return dataclasses.replace(compiled, rules=rules)


def signals_only(compiled: CompiledRuleSet) -> CompiledRuleSet:
    """The rules that wait for enrichment (the others disabled): what is left to do once the early pass ran."""
    rules = tuple(r if needs_signals(r.when) else r.with_mode(Mode.DISABLED) for r in compiled.rules)
    return dataclasses.replace(compiled, rules=rules)


def _live_for(workspace_id: int) -> tuple[RuleSet, _Live] | None:
    config = ModerationSettings.objects.filter(workspace_id=workspace_id).select_related("active_rule_set").first()
    if config is None or config.active_rule_set is None:
        return None
    rule_set = config.active_rule_set
    with _lock:
        live = _cache.get(workspace_id)
        if live is None or live.rule_set_id != rule_set.pk:
            compiled = compile_with_modes(rule_set)
            window = compiled.new_rate_window() if _uses_rate(compiled) else None
            live = _Live(rule_set.pk, compiled, window, text_only(compiled), signals_only(compiled))
            _cache[workspace_id] = live
    return rule_set, live


def _top_up(live: _Live, workspace_id: int, now: datetime) -> None:
    """Add to the rate window what arrived since it was last synced (from any worker), within its horizon."""
    if live.window is None:
        return
    since = now - timedelta(seconds=live.window.horizon)
    if live.synced_until is not None:
        since = max(since, live.synced_until - timedelta(seconds=5))
    rows = list(
        facts_module._query(workspace_id)  # type: ignore[attr-defined]
        .filter(ingested_at__gte=since)
        .order_by("-ingested_at")[:SEED_LIMIT]
    )
    if rows:
        live.window.seed(facts_module.facts_for(rows, workspace_id=workspace_id, now=now))
    live.synced_until = now


def steps_for(  # noqa: C901 — one branch per action kind
    match: Match, compiled: CompiledRuleSet, message: Message, facts: object
) -> list[Step]:
    """A rule's actions as the steps actions.carry_out performs; a strike for those that enforce a guideline."""
    steps: list[Step] = []
    rule = compiled.rule(match.rule_id)
    member_name = ""
    if message.identity is not None:
        member_name = message.identity.display_name or message.identity.handle or message.identity.external_id
    for action in match.actions:
        kind = action.kind
        if kind in (ActionKind.REPLY, ActionKind.WARN):
            text = compiled.reply_text(action, facts, member=member_name, rule=rule)  # type: ignore[arg-type]
            steps.append(Step(A.REPLY if kind == ActionKind.REPLY else A.WARN, text=text))
        elif kind == ActionKind.MUTE:
            steps.append(Step(A.MUTE, seconds=action.duration_seconds or DEFAULT_MUTE_SECONDS))
        elif kind == ActionKind.BAN:
            steps.append(Step(A.BAN, seconds=action.duration_seconds))
        elif kind == ActionKind.BAN_EVERYWHERE:
            steps.append(Step(A.BAN, everywhere=True, seconds=action.duration_seconds))
        elif kind == ActionKind.TAG:
            steps.append(Step(A.TAG, tag=", ".join(action.tags)))
        elif kind == ActionKind.ESCALATE:
            steps.append(Step(A.ESCALATE, text=action.note))
        elif kind == ActionKind.NOTIFY:
            steps.append(Step(A.NOTIFY, text=", ".join(action.targets)))
        else:
            steps.append(Step({ActionKind.QUEUE: A.QUEUE, ActionKind.REMOVE: A.REMOVE, ActionKind.KICK: A.KICK}[kind]))
    if any(a.kind in STRIKING for a in match.actions):
        steps.append(Step(A.STRIKE))
    return steps


def evaluate_batch(*, workspace_id: int, message_ids: Sequence[int], early: bool = False, late: bool = False) -> int:
    """Evaluate the live rule set on these messages; return how many decisions were made (log-only included).

    `early`: right after ingest, before enrichment, only the rules that need no signals. `late`: after
    enrichment, only the rules that need them (the early pass did the rest). Neither: every rule; a rule that
    already decided on a message decides nothing again (one decision per message and rule).

    One transaction (a savepoint inside the caller's): what the batch's decisions share is read once (settings,
    standing removals and strikes, the dedupe keys already decided), and their audit entries and events are
    written together at its end.
    """
    with transaction.atomic():
        return _evaluate_batch(workspace_id=workspace_id, message_ids=message_ids, early=early, late=late)


def _evaluate_batch(*, workspace_id: int, message_ids: Sequence[int], early: bool, late: bool) -> int:
    from communa.moderation.rules import evaluate
    from communa.moderation.services import (
        Batch,
        Planned,
        decide,
        decide_many,
        plan,
        settings_for,
        standing_for,
        without_repeats,
    )

    found = _live_for(workspace_id)
    if found is None:
        return 0
    rule_set, live = found
    compiled = live.early if early else live.late if late else live.compiled
    if all(rule.mode is Mode.DISABLED for rule in compiled.rules):
        return 0  # nothing to evaluate in this pass (e.g. no rule reads signals): not a query more
    messages = facts_module.messages_for(workspace_id=workspace_id, message_ids=message_ids)
    if not messages:
        return 0
    now = timezone.now()
    _top_up(live, workspace_id, now)
    workspace = live.workspace or Workspace.objects.get(pk=workspace_id)
    live.workspace = workspace
    made = 0
    urgent: list[str] = []
    strike_days = settings_for(workspace).strike_days
    standing = standing_for([m.pk for m in messages])
    batch = Batch.for_messages(workspace_id, [m.pk for m in messages])
    all_facts = facts_module.facts_for(messages, workspace_id=workspace_id, now=now)
    for message, message_facts in zip(messages, all_facts, strict=True):
        matches = evaluate(compiled, message_facts, live.window)
        for match in matches:
            steps = steps_for(match, live.compiled, message, message_facts)  # decide() drops repeats
            explanation = {
                **match.explanation.as_dict(),
                "summary": match.explanation.render(),
                "actions": [a.as_dict() for a in match.actions],
                # The text as it was: a removal comes back through ingest and blanks the message's text.
                "message_text": message.text[:2000],
            }
            dedupe_key = f"rule-{message.pk}-{match.rule_id}"[:200]
            live_match = match.mode is Mode.ENABLED
            if bulkable(message, steps):
                planned = Planned(
                    message=message,
                    steps=without_repeats(message, steps, standing) if live_match else list(steps),
                    explanation=explanation,
                    rule=match.rule_name or match.rule_id,
                    live=live_match,
                    reason=match.explanation.guideline or match.rule_name,
                    dedupe_key=dedupe_key,
                    now=timezone.now(),
                )
                made += plan(batch, standing, planned)
                continue
            decision = decide(
                workspace=workspace,
                message=message,
                member_id=message.member_id,
                steps=steps,
                explanation=explanation,
                moderator=None,
                rule=match.rule_name or match.rule_id,
                rule_set=rule_set,
                live=live_match,
                reason=match.explanation.guideline or match.rule_name,
                dedupe_key=dedupe_key,
                now=timezone.now(),
                strike_days=strike_days,
                standing=standing,
                deliver_inline=True,
                batch=batch,
            )
            if decision is not None:
                made += 1
                urgent.extend(_urgent_keys(decision))
    for decision in decide_many(
        batch, workspace=workspace, rule_set=rule_set, strike_days=strike_days, deliver_inline=True
    ):
        urgent.extend(_urgent_keys(decision))
    batch.flush()
    if urgent:
        transaction.on_commit(lambda: deliver_soon(workspace_id, urgent))
    return made


def _urgent_keys(decision: Decision) -> list[str]:
    """The outbox keys of a live decision's actions that deliver_soon sends right after commit."""
    if not decision.live:
        return []
    return [
        a.outbox_key
        for a in decision.carried_out
        if a.action in URGENT and a.state == DecisionAction.State.PENDING and a.outbox_key
    ]


DELIVERY_THREADS = 16
_pool: ThreadPoolExecutor | None = None
_waiting = 0  # removals submitted and not delivered yet


def deliver_soon(workspace_id: int, keys: Sequence[str]) -> None:
    """deliver_now on one of a few threads of this process, so that the event dispatcher goes on with the next
    batch while the platform answers: a redaction takes Synapse ~70 ms on a quiet machine and several hundred
    under load, so at 20 removals/s one thread could not keep up. Up to DELIVERY_THREADS removals are in flight
    at once, each with the outbox's own claim: 20 removals/s with a homeserver answering in 800 ms need 16 (8 were
    measured falling behind; an idle thread holds no database connection)."""
    global _pool, _waiting
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=DELIVERY_THREADS, thread_name_prefix="moderation-deliver")
        pool = _pool
        _waiting += len(keys)
    for key in keys:
        pool.submit(_deliver_on_thread, workspace_id, [key])


def _deliver_on_thread(workspace_id: int, keys: Sequence[str]) -> None:
    # The thread keeps its connection while more removals wait (closing it after each, as CONN_MAX_AGE=0 would on
    # SQLite, costs a reconnect and a cold page cache per removal); idle, or after a failure, it lets it go.
    global _waiting
    try:
        deliver_now(workspace_id, keys)
    except Exception:
        logger.exception("moderation: delivering %s failed; the outbox task will", keys)
        connections.close_all()  # this thread's
    finally:
        with _lock:
            _waiting -= 1
            idle = _waiting == 0
    if idle:
        connections.close_all()


def deliver_now(workspace_id: int, keys: Sequence[str]) -> None:
    """The fast path for removals, mutes and bans: the outbox's own deliver(), right after commit, on this thread.

    Same claim, same single attempt, same states as the outbox's task (which then finds the item settled and
    does nothing): only the hop through the task queue is saved, which is most of a removal's latency on the
    embedded task backend. A failure here is the outbox's to record; the task path still runs if this did not.
    """
    from communa.outbox.models import OutboxItem
    from communa.outbox.services import deliver

    for item_id in OutboxItem.objects.filter(workspace_id=workspace_id, idempotency_key__in=list(keys)).values_list(
        "pk", flat=True
    ):
        try:
            deliver(item_id=item_id)
        except Exception:
            logger.exception("moderation: delivering outbox item %s inline failed; the outbox task will", item_id)
