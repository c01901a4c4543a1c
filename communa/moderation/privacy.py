"""GDPR for moderation: what it holds about a member, exported and erased.

Registered by import path in members/privacy.py (EXPORTERS, ERASERS): members is a lower layer and cannot
import moderation, so it names these functions and resolves them when an export or erasure runs.

Decisions about them (or their messages) keep their verdict, rule and times, so reports keep their counts;
what quotes or names them goes: the explanation's excerpt and reasons, the reason said to them, the platform
user id the actions targeted, warning texts, review items, strikes' reasons, their appeals (statement,
contact, the answer) and examples in backtests.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from communa.core.bulk import chunked
from communa.members.privacy import Subject, contains_any, erased_id, scrub, scrub_json, scrub_rows
from communa.moderation.models import Appeal, Backtest, ConflictAlert, Decision, DecisionAction, ReviewItem, Strike
from communa.outbox.models import OutboxItem

ACTION_ORIGIN = "moderation.action:"


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def _decision_ids(subject: Subject) -> list[int]:
    ids = set(
        Decision.objects.filter(workspace=subject.workspace, member_id__in=subject.member_ids).values_list(
            "id", flat=True
        )
    )
    for chunk in chunked(subject.message_ids):
        ids.update(
            Decision.objects.filter(workspace=subject.workspace, message_id__in=chunk).values_list("id", flat=True)
        )
    return sorted(ids)


def _appeals(subject: Subject, decision_ids: list[int]) -> QuerySet[Appeal]:
    return Appeal.objects.filter(workspace=subject.workspace).filter(
        Q(member_id__in=subject.member_ids) | Q(decision_id__in=decision_ids)
    )


def export_moderation(subject: Subject) -> list[tuple[str, list[dict[str, Any]]]]:
    ids = _decision_ids(subject)
    decisions = Decision.objects.filter(pk__in=ids).order_by("created_at", "id")
    strikes = Strike.objects.filter(workspace=subject.workspace, member_id__in=subject.member_ids).order_by("id")
    return [
        (
            "moderation_decisions",
            [
                {
                    "id": d.pk,
                    "verdict": d.verdict,
                    "rule": d.rule,
                    "summary": d.summary,
                    "reason": d.reason,
                    "created_at": _iso(d.created_at),
                    "reversed_at": _iso(d.reversed_at),
                }
                for d in decisions
            ],
        ),
        (
            "strikes",
            [{"rule": s.rule, "reason": s.reason, "decision": s.decision_id} for s in strikes],
        ),
        (
            "appeals",
            [
                {
                    "decision": a.decision_id,
                    "statement": a.statement,
                    "contact": a.contact,
                    "status": a.state,
                    "response": a.response,
                    "created_at": _iso(a.created_at),
                    "decided_at": _iso(a.decided_at),
                }
                for a in _appeals(subject, ids).order_by("created_at", "id")
            ],
        ),
    ]


def erase_moderation(subject: Subject) -> int:
    terms = subject.terms
    ids = _decision_ids(subject)
    changed = 0
    for decision in Decision.objects.filter(pk__in=ids).only("id", "explanation", "reason"):
        summary = str(decision.explanation.get("summary", "")) if isinstance(decision.explanation, dict) else ""
        changed += Decision.objects.filter(pk=decision.pk).update(
            explanation={"summary": scrub(summary, terms), "erased": True}, reason=scrub(decision.reason, terms)
        )
    actions = list(DecisionAction.objects.filter(decision_id__in=ids).only("id", "target_user", "channel", "params"))
    for action in actions:
        params = {k: v for k, v in scrub_json(action.params, terms).items() if k != "text"}
        changed += DecisionAction.objects.filter(pk=action.pk).update(
            target_user=erased_id(action.target_user) if action.target_user else "",
            channel=erased_id(action.channel) if contains_any(action.channel, terms) else action.channel,
            params=params,
            error="",
        )
    reviews = ReviewItem.objects.filter(workspace=subject.workspace).filter(
        Q(member_id__in=subject.member_ids) | Q(decision_id__in=ids)
    )
    changed += reviews.update(explanation={}, reason="")
    for chunk in chunked(subject.message_ids):
        changed += ReviewItem.objects.filter(workspace=subject.workspace, message_id__in=chunk).update(
            explanation={}, reason=""
        )
    changed += scrub_rows(
        Strike.objects.filter(workspace=subject.workspace, member_id__in=subject.member_ids), ["reason"], terms
    )
    changed += _appeals(subject, ids).update(statement="", contact="", response="")
    changed += _erase_backtests(subject)
    changed += scrub_rows(ConflictAlert.objects.filter(workspace=subject.workspace), ["reasons", "members"], terms)
    changed += _erase_outbox(subject, [a.pk for a in actions])
    return changed


def _erase_backtests(subject: Subject) -> int:
    """Backtests keep example matches with the text and author: theirs go, others are scrubbed of them."""
    messages = set(subject.message_ids)
    changed = 0
    for backtest in Backtest.objects.filter(workspace=subject.workspace).exclude(examples=[]).only("id", "examples"):
        examples = [
            scrub_json(e, subject.terms)
            for e in backtest.examples
            if not (isinstance(e, dict) and e.get("message_id") in messages)
        ]
        if examples != backtest.examples:
            changed += Backtest.objects.filter(pk=backtest.pk).update(examples=examples)
    return changed


def _erase_outbox(subject: Subject, action_ids: list[int]) -> int:
    """The outbox copies the target (their platform user id) and the reason: a waiting one is cancelled (its
    member no longer exists for Communa), every one emptied."""
    from communa.outbox.services import cancel

    changed = 0
    for chunk in chunked([f"{ACTION_ORIGIN}{pk}" for pk in action_ids]):
        for item in OutboxItem.objects.filter(workspace=subject.workspace, origin__in=chunk):
            if item.state == OutboxItem.State.PENDING:
                cancel(item=item)
            payload = scrub_json(item.payload, subject.terms)
            if isinstance(payload, dict):
                payload["reason"] = ""
                target = payload.get("target")
                if isinstance(target, dict) and target.get("user_external_id"):
                    target["user_external_id"] = erased_id(str(target["user_external_id"]))
            changed += OutboxItem.objects.filter(pk=item.pk).update(payload=payload, error="")
    return changed
