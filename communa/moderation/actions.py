"""Carrying out a decision: each step becomes a DecisionAction row, and platform steps an outbox item.

Platform writes never call a connector: they are `enqueue_moderation` / `enqueue_reply` items whose key names
the intent (`mod-<action id>-<action>`), so a replayed event or a double click never acts twice. The outbox's
`outbox.sent|failed|unknown` events come back to `on_outbox_event`, which sets the action's state.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from communa.connectors.base import ModerationAction, ModerationTarget, ReplyTarget
from communa.connectors.models import Source
from communa.connectors.registry import connector_class
from communa.events.services import emit
from communa.members.models import Identity
from communa.moderation.models import Decision, DecisionAction, ReviewItem, Strike
from communa.stream.models import Message

logger = logging.getLogger(__name__)

A = DecisionAction.Action
PLATFORM = {
    A.REMOVE: ModerationAction.REMOVE_MESSAGE,
    A.MUTE: ModerationAction.MUTE,
    A.UNMUTE: ModerationAction.UNMUTE,
    A.KICK: ModerationAction.KICK,
    A.BAN: ModerationAction.BAN,
    A.UNBAN: ModerationAction.UNBAN,
}
# Platform actions the live rules deliver themselves, right after commit (live.deliver_soon), without a task.
INLINE = frozenset({A.REMOVE, A.MUTE, A.BAN, A.KICK})
ORIGIN_PREFIX = "moderation.action:"
APPEAL_SALT = "communa.moderation.appeal"
# How far back "ban everywhere" looks for the places a member has spoken in.
PLACES_LOOKBACK = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One thing to do: an action name of DecisionAction.Action, plus `everywhere` for bans and its params."""

    action: str
    everywhere: bool = False
    seconds: int | None = None  # mute for this long; None: until unmuted
    text: str = ""  # reply / warn template
    tag: str = ""


def channel_of(message: Message) -> str:
    """Where a message was posted, in the platform's terms (a Matrix room id, an IRC channel, a mailbox)."""
    metadata = message.metadata or {}
    for key in ("room_id", "channel", "mailbox", "chat_id"):
        value = metadata.get(key)
        if value:
            return str(value)
    return ""


def appeal_token(decision: Decision) -> str:
    """A signed, stable token naming the decision: the same link every time, no account needed to open it."""
    return signing.Signer(salt=APPEAL_SALT).sign_object({"d": decision.pk, "w": decision.workspace_id}, compress=True)


def appeal_url(decision: Decision) -> str:
    return settings.BASE_URL + reverse("moderation_public:appeal", args=[appeal_token(decision)])


def appeal_code(decision: Decision) -> str:
    """A short code a member can quote in an email reply ("appeal M-42-7f3a0c") instead of opening the link."""
    digest = salted_hmac(APPEAL_SALT, f"{decision.workspace_id}:{decision.pk}", algorithm="sha256").hexdigest()
    return f"M-{decision.pk}-{digest[:6]}"


def render_template(text: str, *, decision: Decision, member_name: str) -> str:
    values = {
        "member": member_name,
        "rule": decision.rule or "",
        "reason": decision.reason or decision.summary,
        "appeal": appeal_url(decision),
        "appeal_code": appeal_code(decision),
    }
    out = text
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


def _connector_can(source: Source, action: ModerationAction) -> bool:
    try:
        return connector_class(source.kind).can_moderate(action)
    except (KeyError, ImportError):
        return False


def _can_reply(source: Source) -> bool:
    from communa.connectors.base import Capability

    try:
        return Capability.REPLY in connector_class(source.kind).capabilities
    except (KeyError, ImportError):
        return False


def places_of(*, member_id: int, workspace_id: int) -> list[tuple[Source, str, str]]:
    """(source, channel, user external id) for every place the member spoke in, newest first, no repeats."""
    seen: set[tuple[int, str, str]] = set()
    places: list[tuple[Source, str, str]] = []
    rows = (
        Message.objects.filter(workspace_id=workspace_id, member_id=member_id, identity__isnull=False)
        .select_related("source", "identity")
        .order_by("-created_at")[:PLACES_LOOKBACK]
    )
    for message in rows:
        assert message.identity is not None
        key = (message.source_id, channel_of(message), message.identity.external_id)
        if key in seen:
            continue
        seen.add(key)
        places.append((message.source, key[1], key[2]))
    return places


def carry_out(
    *,
    decision: Decision,
    steps: Sequence[Step],
    created_by: Any = None,
    strike_days: int = 90,
    deliver_inline: bool = False,
) -> list[DecisionAction]:
    """Record and start every step of `decision` (inside the caller's transaction). Log-only decisions record
    what would have been done, in state `logged`, and touch nothing. `deliver_inline`: the caller delivers the
    INLINE platform actions itself after commit (no outbox task is enqueued for them)."""
    done: list[DecisionAction] = []
    message = decision.message
    for step in steps:
        if step.action in PLATFORM:
            done.extend(_platform(decision, step, message, created_by, inline=deliver_inline))
        elif step.action in (A.REPLY, A.WARN):
            done.append(_reply(decision, step, message, created_by))
        else:
            done.append(_local(decision, step, message, strike_days=strike_days))
    return done


# The steps carry_out_many writes set-based for a whole batch of rule decisions (the live path's usual ones).
BULK = frozenset({A.REMOVE, A.MUTE, A.KICK, A.BAN, A.STRIKE})


def bulkable(message: Message | None, steps: Sequence[Step]) -> bool:
    return message is not None and all(s.action in BULK and not s.everywhere for s in steps)


def would_stand(message: Message, step: Step) -> bool:
    """Whether a live decision's step on `message` leaves a standing removal or strike (see services.Standing)."""
    if step.action == A.REMOVE:
        return _connector_can(message.source, PLATFORM[A.REMOVE])
    return step.action == A.STRIKE


def carry_out_many(
    pairs: Sequence[tuple[Decision, Sequence[Step]]], *, strike_days: int, deliver_inline: bool = False
) -> None:
    """carry_out for a batch of saved decisions whose steps are all `bulkable` (one message each, no "everywhere"):
    the same rows in the same states, written with one INSERT per table instead of several statements per
    decision; sets each decision's `carried_out`."""
    from communa.outbox.models import OutboxItem
    from communa.outbox.services import insert_new

    now = timezone.now()
    rows: list[tuple[Decision, DecisionAction, Step]] = []
    strikes: list[Strike] = []
    for decision, steps in pairs:
        decision.carried_out = []
        for step in steps:
            row = _bulk_row(decision, step, now=now, strike_days=strike_days, strikes=strikes)
            rows.append((decision, row, step))
            decision.carried_out.append(row)
    DecisionAction.objects.bulk_create([row for _d, row, _s in rows])
    platform = [
        (decision, row, step)
        for decision, row, step in rows
        if step.action in PLATFORM and decision.live and row.state == DecisionAction.State.PENDING
    ]
    items = []
    for decision, row, step in platform:
        row.outbox_key = f"mod-{row.pk}-{step.action}"
        message = decision.message
        assert message is not None
        target = ModerationTarget(
            channel=row.channel,
            user_external_id="" if step.action == A.REMOVE else row.target_user,
            message_external_id=message.external_id if step.action == A.REMOVE else "",
        )
        items.append(
            OutboxItem(
                workspace_id=decision.workspace_id,
                source=message.source,
                kind=OutboxItem.Kind.MODERATE,
                idempotency_key=row.outbox_key,
                payload={
                    "action": PLATFORM[A(step.action)].value,
                    "target": dataclasses.asdict(target),
                    "reason": decision.reason[:300],
                },
                origin=f"{ORIGIN_PREFIX}{row.pk}",
                created_by=None,
                not_before=now,
            )
        )
    if platform:
        DecisionAction.objects.bulk_update([row for _d, row, _s in platform], ["outbox_key"])
        insert_new(items)
        if not deliver_inline or any(step.action not in INLINE for _d, _r, step in platform):
            from communa.outbox.services import _start

            for item, (_d, _r, step) in zip(items, platform, strict=True):
                if item.pk is not None and not (deliver_inline and step.action in INLINE):
                    transaction.on_commit(functools.partial(_start, item.pk))
    if strikes:
        Strike.objects.bulk_create(strikes)


def _bulk_row(
    decision: Decision, step: Step, *, now: datetime, strike_days: int, strikes: list[Strike]
) -> DecisionAction:
    """The action row _platform or _local would write for this step (unsaved); a strike's Strike into `strikes`."""
    message = decision.message
    assert message is not None
    fields: dict[str, Any] = {}
    state = DecisionAction.State.PENDING if decision.live else DecisionAction.State.LOGGED
    if step.action in PLATFORM:
        params: dict[str, Any] = {}
        if step.action in (A.MUTE, A.BAN) and step.seconds:
            params["seconds"] = step.seconds
            if decision.live:
                fields["expires_at"] = now + timedelta(seconds=step.seconds)
        user = message.identity.external_id if message.identity is not None else ""
        fields |= {"source": message.source, "channel": channel_of(message), "target_user": user, "params": params}
        platform_action = PLATFORM[A(step.action)]
        if not _connector_can(message.source, platform_action):
            state = DecisionAction.State.SKIPPED
            fields["error"] = f"{message.source.kind} cannot {platform_action.value.replace('_', ' ')}"
            fields.pop("expires_at", None)
    else:  # a strike
        fields["params"] = _params(step)
        if decision.live:
            state, fields["done_at"] = DecisionAction.State.DONE, now
            if decision.member_id is not None:
                strikes.append(strike_for(decision, strike_days, now))
    return DecisionAction(
        workspace_id=decision.workspace_id, decision=decision, action=step.action, state=state, **fields
    )


def _new(decision: Decision, action: str, **fields: Any) -> DecisionAction:
    state = fields.pop("state", None) or (
        DecisionAction.State.PENDING if decision.live else DecisionAction.State.LOGGED
    )
    return DecisionAction.objects.create(
        workspace_id=decision.workspace_id, decision=decision, action=action, state=state, **fields
    )


def _targets(decision: Decision, step: Step, message: Message | None) -> list[tuple[Source, str, str]]:
    if step.everywhere and decision.member_id is not None:
        return places_of(member_id=decision.member_id, workspace_id=decision.workspace_id)
    if message is None:
        return []
    user = message.identity.external_id if message.identity is not None else ""
    return [(message.source, channel_of(message), user)]


def _platform(
    decision: Decision, step: Step, message: Message | None, created_by: Any, *, inline: bool = False
) -> list[DecisionAction]:
    from communa.outbox.services import enqueue_moderation

    platform_action = PLATFORM[A(step.action)]
    rows = []
    targets = _targets(decision, step, message)
    if step.action == A.REMOVE:
        targets = targets[:1] if message is not None else []
    if not targets:
        return [_new(decision, step.action, state=DecisionAction.State.SKIPPED, error="no message or member to act on")]
    now = timezone.now()
    for source, channel, user in targets:
        params: dict[str, Any] = {"everywhere": True} if step.everywhere else {}
        expires = None
        if step.action in (A.MUTE, A.BAN) and step.seconds:
            params["seconds"] = step.seconds
            expires = now + timedelta(seconds=step.seconds)
        row = _new(decision, step.action, source=source, channel=channel, target_user=user, params=params)
        if not _connector_can(source, platform_action):
            row.state = DecisionAction.State.SKIPPED
            row.error = f"{source.kind} cannot {platform_action.value.replace('_', ' ')}"
            row.save(update_fields=["state", "error"])
        elif decision.live:
            row.outbox_key = f"mod-{row.pk}-{step.action}"
            row.expires_at = expires
            row.save(update_fields=["outbox_key", "expires_at"])
            target = ModerationTarget(
                channel=channel,
                user_external_id="" if step.action == A.REMOVE else user,
                message_external_id=message.external_id if (step.action == A.REMOVE and message) else "",
            )
            enqueue_moderation(
                workspace=decision.workspace,
                source=source,
                action=platform_action,
                target=target,
                reason=decision.reason[:300],
                idempotency_key=row.outbox_key,
                origin=f"{ORIGIN_PREFIX}{row.pk}",
                created_by=created_by,
                start=not (inline and step.action in INLINE),
            )
        rows.append(row)
    return rows


def _reply(decision: Decision, step: Step, message: Message | None, created_by: Any) -> DecisionAction:
    from communa.outbox.services import enqueue_reply

    if message is None:
        return _new(decision, step.action, state=DecisionAction.State.SKIPPED, error="no message to answer")
    name = message.identity.display_name or message.identity.handle if message.identity is not None else ""
    default = (
        "{member}, your message breaks our guideline “{rule}”. You can appeal: {appeal}"
        if step.action == A.WARN
        else ""
    )
    text = render_template(step.text or default, decision=decision, member_name=name or "")
    if step.action == A.WARN and text.strip() and appeal_url(decision) not in text:
        text = f"{text}\n→ {appeal_url(decision)}"  # a rule's own warning text: the appeal link goes below it
    row = _new(
        decision,
        step.action,
        source=message.source,
        channel=channel_of(message),
        target_user=message.identity.external_id if message.identity is not None else "",
        params={"text": text},
    )
    if not text.strip() or not _can_reply(message.source):
        row.state = DecisionAction.State.SKIPPED
        row.error = "nothing to say" if not text.strip() else f"{message.source.kind} cannot reply"
        row.save(update_fields=["state", "error"])
        return row
    if decision.live:
        row.outbox_key = f"mod-{row.pk}-{step.action}"
        row.save(update_fields=["outbox_key"])
        thread = message.thread.external_id if message.thread is not None else ""
        enqueue_reply(
            workspace=decision.workspace,
            source=message.source,
            target=ReplyTarget(
                channel=channel_of(message),
                message_external_id=message.external_id,
                thread_external_id=thread,
                recipient=message.identity.email if message.identity is not None else "",
            ),
            text=text,
            idempotency_key=row.outbox_key,
            origin=f"{ORIGIN_PREFIX}{row.pk}",
            created_by=created_by,
        )
    return row


def _local(decision: Decision, step: Step, message: Message | None, *, strike_days: int) -> DecisionAction:
    """Steps that happen in Communa: queue, strike, tag (the member, on their profile), notify, escalate."""
    if not decision.live:
        return _new(decision, step.action, params=_params(step))
    done = {"state": DecisionAction.State.DONE, "done_at": timezone.now()}
    if step.action == A.QUEUE and message is not None:
        open_item = ReviewItem.objects.filter(message=message, state=ReviewItem.State.OPEN).first()
        if open_item is None:
            ReviewItem.objects.create(
                workspace_id=decision.workspace_id,
                message=message,
                member_id=decision.member_id,
                decision=decision,
                reason=decision.summary[:300],
                explanation=decision.explanation,
            )
    elif step.action == A.STRIKE and decision.member_id is not None:
        # carry_out runs once, on the decision decide() has just created: it has no strike yet.
        strike_for(decision, strike_days, timezone.now()).save(force_insert=True)
    elif step.action == A.TAG and decision.member_id is not None and step.tag:
        from communa.members.annotations import add_tags
        from communa.members.models import Member

        member = Member.objects.filter(workspace_id=decision.workspace_id, pk=decision.member_id).first()
        if member is not None:
            add_tags(workspace=decision.workspace, member=member, names=step.tag.split(", "), actor=None)
    elif step.action in (A.NOTIFY, A.ESCALATE):
        name = "moderation.notify" if step.action == A.NOTIFY else "moderation.escalated"
        emit(
            workspace_id=decision.workspace_id,
            name=name,
            data={
                "decision_id": decision.pk,
                "message_id": decision.message_id,
                "member_id": decision.member_id,
                "source_id": decision.source_id,
                "rule": decision.rule,
                "summary": decision.summary,
            },
        )
    return _new(decision, step.action, params=_params(step), **done)


def _params(step: Step) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if step.tag:
        params["tag"] = step.tag
    if step.text:
        params["text"] = step.text
    if step.seconds:
        params["seconds"] = step.seconds
    return params


# --- reversing -----------------------------------------------------------------------------------------

UNDO = {A.MUTE: A.UNMUTE, A.BAN: A.UNBAN}


def reverse_actions(*, decision: Decision, reversal: Decision, created_by: Any) -> list[DecisionAction]:
    """Undo what can be undone on the platform (unban, unmute) as actions of `reversal`; remove strikes.

    A removed message cannot be brought back on most platforms: that is said in the audit, not hidden.
    """
    from communa.outbox.models import OutboxItem
    from communa.outbox.services import cancel, enqueue_moderation

    rows = []
    now = timezone.now()
    for action in decision.actions.filter(action__in=[A.MUTE, A.BAN, A.REMOVE, A.KICK]).select_related("source"):
        if action.state in (DecisionAction.State.SKIPPED, DecisionAction.State.LOGGED, DecisionAction.State.FAILED):
            continue
        # Not sent yet: cancel it instead of undoing it afterwards.
        item = OutboxItem.objects.filter(workspace_id=decision.workspace_id, idempotency_key=action.outbox_key).first()
        if item is not None and item.state == OutboxItem.State.PENDING and cancel(item=item):
            action.state = DecisionAction.State.SKIPPED
            action.error = "cancelled before it was sent"
            action.lifted_at = now
            action.save(update_fields=["state", "error", "lifted_at"])
            continue
        undo = UNDO.get(A(action.action))
        if undo is None or action.source is None:
            continue
        if action.lifted_at is not None:
            continue  # already unmuted / unbanned (a timed one ran out)
        row = DecisionAction.objects.create(
            workspace_id=decision.workspace_id,
            decision=reversal,
            action=undo,
            source=action.source,
            channel=action.channel,
            target_user=action.target_user,
            params={"undoes": action.pk},
        )
        action.lifted_at = now
        action.save(update_fields=["lifted_at"])
        if not _connector_can(action.source, PLATFORM[undo]):
            row.state = DecisionAction.State.SKIPPED
            row.error = f"{action.source.kind} cannot {PLATFORM[undo].value}"
            row.save(update_fields=["state", "error"])
        else:
            row.outbox_key = f"mod-{row.pk}-{undo}"
            row.save(update_fields=["outbox_key"])
            enqueue_moderation(
                workspace=decision.workspace,
                source=action.source,
                action=PLATFORM[undo],
                target=ModerationTarget(channel=action.channel, user_external_id=action.target_user),
                reason="appeal",
                idempotency_key=row.outbox_key,
                origin=f"{ORIGIN_PREFIX}{row.pk}",
                created_by=created_by,
            )
        rows.append(row)
    return rows


def lift_mute(action: DecisionAction) -> DecisionAction | None:
    """Enqueue the unmute (unban) of a timed mute (ban) that has run out: the periodic job's work for one row."""
    from communa.outbox.services import enqueue_moderation

    if action.source is None:
        return None
    undo = UNDO[A(action.action)]
    key = f"mod-{action.pk}-{undo}"
    row = DecisionAction.objects.create(
        workspace_id=action.workspace_id,
        decision_id=action.decision_id,
        action=undo,
        source=action.source,
        channel=action.channel,
        target_user=action.target_user,
        params={"undoes": action.pk, "timed": True},
        outbox_key=key,
    )
    enqueue_moderation(
        workspace=action.decision.workspace,
        source=action.source,
        action=PLATFORM[undo],
        target=ModerationTarget(channel=action.channel, user_external_id=action.target_user),
        reason="expired",
        idempotency_key=key,
        origin=f"{ORIGIN_PREFIX}{row.pk}",
    )
    return row


def identities_of_member(*, workspace_id: int, member_id: int) -> Iterable[Identity]:
    return Identity.objects.filter(workspace_id=workspace_id, member_id=member_id).order_by("platform")


def strike_for(decision: Decision, strike_days: int, now: datetime) -> Strike:
    """The strike a decision gives its member, expiring `strike_days` after `now` (unsaved)."""
    assert decision.member_id is not None  # callers strike only decisions about a member
    return Strike(
        decision=decision,
        workspace_id=decision.workspace_id,
        member_id=decision.member_id,
        rule=decision.rule,
        reason=(decision.reason or decision.summary)[:500],
        created_by=decision.moderator,
        expires_at=now + timedelta(days=strike_days),
    )
