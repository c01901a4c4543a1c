"""Writes to platforms, exactly once as seen on the platform.

enqueue_reply / enqueue_moderation record what to do (idempotent on the key) and start delivery after the
caller's transaction commits. deliver() claims an item with a conditional UPDATE and makes one call:

    pending ──claim──► claimed ──ok──────────────► sent
                          ├──PermanentError──────► failed     (the platform's reason in `error`)
                          ├──NotSentError────────► pending    (the platform never saw it: sent when it is back)
                          └──timeout, 5xx, crash─► unknown    (reconciled, never blindly re-sent)

An `unknown` item is settled by asking the platform again only where that cannot make a second copy
(Connector.idempotent_writes: Matrix transaction ids, Bluesky record keys, email Message-ID looked up in
the mailbox; moderation actions, which are states — a second ban is the same ban). Anything else stays
`unknown` for a person: they check the platform and either mark it sent or send it again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.audit.services import record
from communa.connectors.base import Connector, ModerationAction, ModerationTarget, ReplyTarget, SendResult
from communa.connectors.models import Source
from communa.connectors.registry import connector_class
from communa.connectors.services import build_connector
from communa.core.http import NotSentError, PermanentError
from communa.events.services import emit
from communa.outbox.models import OutboxItem

logger = logging.getLogger(__name__)
State = OutboxItem.State

# A platform unreachable this long makes the write fail instead of waiting for ever: an answer a day late
# is usually worse than a person noticing and deciding.
GIVE_UP_AFTER = timedelta(hours=24)
# Waits between tries while the platform is unreachable: 5 s, 10 s, 20 s ... at most 5 minutes.
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0
# A claim older than this belongs to a worker that died mid-call: the outcome is unknown. It is longer
# than the slowest call (core.http's timeouts and bounded retries).
CLAIM_TIMEOUT = timedelta(minutes=5)
# Asking again to settle an unknown outcome, at most this many times before leaving it to a person.
MAX_RECONCILE_ATTEMPTS = 5


def enqueue_reply(
    *,
    workspace: Workspace,
    source: Source,
    target: ReplyTarget,
    text: str,
    idempotency_key: str,
    origin: str = "",
    created_by: User | None = None,
) -> OutboxItem:
    """Record a reply to send; the same key returns the item recorded the first time."""
    if not text.strip():
        raise ValueError("a reply needs text")
    payload = {"target": dataclasses.asdict(target), "text": text}
    return _enqueue(workspace, source, OutboxItem.Kind.REPLY, payload, idempotency_key, origin, created_by)


def enqueue_moderation(
    *,
    workspace: Workspace,
    source: Source,
    action: ModerationAction,
    target: ModerationTarget,
    reason: str = "",
    idempotency_key: str,
    origin: str = "",
    created_by: User | None = None,
    start: bool = True,
) -> OutboxItem:
    """Record a moderation action to apply; the same key returns the item recorded the first time.

    `start=False`: the caller delivers it itself right after commit (moderation's removals, on its delivery
    threads); no task is enqueued for it, and the periodic sweep starts it if that delivery never happened."""
    payload = {"action": action.value, "target": dataclasses.asdict(target), "reason": reason}
    return _enqueue(
        workspace, source, OutboxItem.Kind.MODERATE, payload, idempotency_key, origin, created_by, start=start
    )


def _enqueue(
    workspace: Workspace,
    source: Source,
    kind: str,
    payload: dict[str, Any],
    key: str,
    origin: str,
    created_by: User | None,
    *,
    start: bool = True,
) -> OutboxItem:
    if source.workspace_id != workspace.pk:
        raise ValueError("the source belongs to another workspace")
    if not key or len(key) > 200:
        raise ValueError("an idempotency key of 1 to 200 characters is required")
    item = OutboxItem(
        workspace=workspace,
        source=source,
        kind=kind,
        idempotency_key=key,
        payload=payload,
        origin=origin,
        created_by=created_by,
        not_before=timezone.now(),
    )
    if not _insert_new(item):
        return OutboxItem.objects.get(workspace=workspace, idempotency_key=key)  # recorded the first time
    if start:
        transaction.on_commit(lambda: _start(item.pk))
    return item


def _insert_new(item: OutboxItem) -> bool:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: one statement, no savepoint (a get_or_create is four or
    five round trips, and every removal pays them). False when the key was recorded before."""
    return bool(insert_new([item]))


def insert_new(items: Sequence[OutboxItem]) -> int:
    """Record these items in one statement (INSERT … ON CONFLICT DO NOTHING RETURNING); set the pk of those that
    were new, return how many. An item whose key was recorded before keeps pk None: it is the first one that
    counts. Nothing is started: the caller delivers them, or the periodic sweep does."""
    if not items:
        return 0
    fields = [f for f in OutboxItem._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(item, add=True), connection) for item in items for f in fields]
    quote = connection.ops.quote_name
    table = quote(OutboxItem._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    rows = ", ".join([row] * len(items))
    conflict = f"{quote('workspace_id')}, {quote('idempotency_key')}"
    returning = f"id, {conflict}"
    # Identifiers from the model, quoted; every value is a parameter.
    sql = f"INSERT INTO {table} ({columns}) VALUES {rows} ON CONFLICT ({conflict}) DO NOTHING RETURNING {returning}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        created = {(workspace_id, key): pk for pk, workspace_id, key in cursor.fetchall()}
    for item in items:
        pk = created.get((item.workspace_id, item.idempotency_key))
        if pk is not None:
            item.pk = pk
            item._state.adding = False
            item._state.db = connection.alias
    return len(created)


def _start(item_id: int) -> None:
    from communa.outbox.tasks import deliver_task

    deliver_task.enqueue(item_id)


def cancel(*, item: OutboxItem) -> bool:
    """Stop a write that has not started; False when it is already on its way or done."""
    return _move(item, State.PENDING, State.CANCELLED, error="") is not None


def retry(*, item: OutboxItem) -> bool:
    """A person checked the platform and found nothing: send an `unknown` item again (same key)."""
    moved = _move(item, State.UNKNOWN, State.PENDING, error="", not_before=timezone.now())
    if moved is not None:
        transaction.on_commit(lambda: _start(item.pk))
    return moved is not None


def mark_sent(*, item: OutboxItem, external_id: str = "") -> bool:
    """A person checked the platform and found the write there: settle an `unknown` item as sent."""
    return _move(item, State.UNKNOWN, State.SENT, error="", result_external_id=external_id) is not None


def deliver(*, item_id: int) -> str:
    """Claim the item and make exactly one call to the platform; return the state it ends in."""
    now = timezone.now()
    claimed = OutboxItem.objects.filter(pk=item_id, state=State.PENDING, not_before__lte=now).update(
        state=State.CLAIMED, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
    )
    item = OutboxItem.objects.select_related("source").get(pk=item_id)
    if not claimed:
        return item.state  # someone else has it, it is settled, or it is not due yet
    try:
        result = _call(build_connector(item.source), item)
    except NotSentError as exc:
        return _not_sent(item, exc, now=now)
    except (PermanentError, ValueError, NotImplementedError) as exc:
        _finish(item, State.FAILED, error=str(exc) or type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 — a timeout, a 5xx, a dropped connection: it may have happened
        logger.warning("outbox: outcome of %s unknown: %s", item, exc)
        _finish(
            item,
            State.UNKNOWN,
            error=f"{type(exc).__name__}: {exc}",
            not_before=timezone.now() + timedelta(seconds=connector_class(item.source.kind).reconcile_after),
        )
    else:
        _finish(item, State.SENT, error="", result=result)
    return OutboxItem.objects.values_list("state", flat=True).get(pk=item_id)


def _call(connector: Connector, item: OutboxItem) -> SendResult:
    payload = item.payload
    if item.kind == OutboxItem.Kind.REPLY:
        return connector.reply(
            target=ReplyTarget(**_target_fields(payload["target"])),
            text=payload["text"],
            idempotency_key=item.idempotency_key,
        )
    action = ModerationAction(payload["action"])
    if not connector.can_moderate(action):
        raise PermanentError(f"{connector.label} cannot {action.value.replace('_', ' ')}")
    return connector.moderate(
        action=action,
        target=ModerationTarget(**payload["target"]),
        reason=payload.get("reason", ""),
        idempotency_key=item.idempotency_key,
    )


def _target_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "references": tuple(data.get("references") or ())}


def _not_sent(item: OutboxItem, exc: NotSentError, *, now: datetime) -> str:
    """The platform never saw the call: wait and try again, or give up after GIVE_UP_AFTER."""
    if now - item.created_at >= GIVE_UP_AFTER:
        _finish(item, State.FAILED, error=f"the platform could not be reached for {GIVE_UP_AFTER}: {exc}")
        return State.FAILED
    wait = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, item.attempts - 1))
    if exc.retry_after is not None:
        wait = max(wait, min(exc.retry_after, RETRY_MAX_SECONDS))
    _finish(item, State.PENDING, error=str(exc), not_before=now + timedelta(seconds=wait))
    return State.PENDING


def _finish(
    item: OutboxItem,
    state: str,
    *,
    error: str,
    result: SendResult | None = None,
    not_before: datetime | None = None,
) -> None:
    fields: dict[str, Any] = {"error": error}
    if result is not None:
        fields |= {"result_external_id": result.external_id, "result_url": result.url}
    if not_before is not None:
        fields["not_before"] = not_before
    _move(item, State.CLAIMED, state, **fields)


def _move(item: OutboxItem, from_state: str, to_state: str, **fields: Any) -> OutboxItem | None:
    """Change the state only if it is still `from_state` (one winner), and tell the asking app."""
    now = timezone.now()
    if to_state == State.SENT:
        fields["sent_at"] = now
    with transaction.atomic():
        moved = OutboxItem.objects.filter(pk=item.pk, state=from_state).update(state=to_state, updated_at=now, **fields)
        if not moved:
            return None
        item.refresh_from_db()
        if to_state in (State.SENT, State.FAILED, State.UNKNOWN):
            emit(
                workspace_id=item.workspace_id,
                name=f"outbox.{to_state}",
                data={
                    "item_id": item.pk,
                    "origin": item.origin,
                    "kind": item.kind,
                    "source_id": item.source_id,
                    "external_id": item.result_external_id,
                    "error": item.error,
                },
            )
    return item


# --- the periodic sweep ----------------------------------------------------------------------------------


def sweep(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Keep every item moving: due pending items are (re)started, claims of dead workers become unknown,
    and unknown items that can be settled by asking again are asked again. Return counts, for logs/tests."""
    now = now or timezone.now()
    abandoned = _abandon_stale_claims(now)
    reconciling = _reconcile_unknown(now, limit=limit)
    due = list(
        OutboxItem.objects.filter(state=State.PENDING, not_before__lte=now)
        .order_by("not_before")
        .values_list("pk", flat=True)[:limit]
    )
    for item_id in due:
        _start(item_id)
    return {"started": len(due), "abandoned": abandoned, "reconciling": reconciling}


def _abandon_stale_claims(now: datetime) -> int:
    stale = OutboxItem.objects.filter(state=State.CLAIMED, claimed_at__lt=now - CLAIM_TIMEOUT)
    count = 0
    for item in stale.select_related("source")[:500]:
        reconcile_after = connector_class(item.source.kind).reconcile_after
        moved = _move(
            item,
            State.CLAIMED,
            State.UNKNOWN,
            error="the worker stopped during the call",
            not_before=now + timedelta(seconds=reconcile_after),
        )
        count += moved is not None
    return count


def _reconcile_unknown(now: datetime, *, limit: int) -> int:
    """Unknown items whose platform deduplicates go back to pending (same key); the rest wait for a person."""
    count = 0
    candidates = OutboxItem.objects.filter(
        state=State.UNKNOWN, not_before__lte=now, attempts__lt=MAX_RECONCILE_ATTEMPTS
    ).select_related("source")
    for item in candidates[:limit]:
        if not can_settle_by_asking_again(item):
            continue
        count += _move(item, State.UNKNOWN, State.PENDING, not_before=now) is not None
    return count


def can_settle_by_asking_again(item: OutboxItem) -> bool:
    if item.kind == OutboxItem.Kind.MODERATE:
        return True  # an action is a state on the platform: applying it twice is applying it once
    return connector_class(item.source.kind).idempotent_writes


# --- what a person does on the deliveries page ------------------------------------------------------------


def decide(*, item: OutboxItem, decision: str, actor: User) -> bool:
    """A person settles an item: "retry" or "mark_sent" an unknown one, "cancel" a waiting one. Audited."""
    actions: dict[str, Callable[..., bool]] = {"retry": retry, "mark_sent": mark_sent, "cancel": cancel}
    if decision not in actions:
        raise ValueError(f"unknown decision {decision!r}")
    done = actions[decision](item=item)
    if done:
        record(
            workspace=item.workspace,
            actor=actor,
            action=f"outbox.{decision}",
            target=item,
            data={"kind": item.kind, "source_id": item.source_id},
        )
    return done
