"""Who works a conversation: the source's assignment rule (round robin or load balanced) and @mentions.

Round robin: the eligible people in id order, starting after the one the rule assigned last (kept on the
rule, updated under its row lock, so two workers never give two conversations to the same turn).
Load balanced: the eligible person with the fewest open or pending conversations assigned; ties go to
the one whose latest assignment is oldest, then to the lowest id. Only people still in the workspace and
still allowed into the inbox are eligible. A conversation that already has an assignee is left alone.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Max, Q

from communa.accounts.models import Membership, User
from communa.accounts.roles import Perm, role_has
from communa.inbox.models import AssignmentRule, Conversation

MENTION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-+@")


def eligible_users(rule: AssignmentRule) -> list[User]:
    roles = dict(Membership.objects.filter(workspace_id=rule.workspace_id).values_list("user_id", "role"))
    return [
        u
        for u in rule.users.filter(is_active=True).order_by("id")
        if u.pk in roles and (role_has(roles[u.pk], Perm.REPLY) or role_has(roles[u.pk], Perm.MODERATE))
    ]


def workload(*, workspace_id: int, user_ids: list[int]) -> dict[int, tuple[int, datetime | None]]:
    """user id → (open or pending conversations assigned, latest assignment time)."""
    rows = (
        Conversation.objects.filter(workspace_id=workspace_id, assignee_id__in=user_ids)
        .values("assignee_id")
        .annotate(
            load=Count("id", filter=Q(state__in=[Conversation.State.OPEN, Conversation.State.PENDING])),
            latest=Max("assigned_at"),
        )
        .order_by()
    )
    found = {r["assignee_id"]: (r["load"], r["latest"]) for r in rows}
    return {pk: found.get(pk, (0, None)) for pk in user_ids}


def pick(rule: AssignmentRule) -> User | None:
    """The next person by the rule (call with the rule row locked)."""
    users = eligible_users(rule)
    if not users:
        return None
    if rule.strategy == AssignmentRule.Strategy.LOAD_BALANCED:
        loads = workload(workspace_id=rule.workspace_id, user_ids=[u.pk for u in users])

        def order(u: User) -> tuple[int, float, int]:
            load, latest = loads[u.pk]
            return load, latest.timestamp() if latest else float("-inf"), u.pk

        return min(users, key=order)
    after = rule.last_assigned_id or 0
    following = [u for u in users if u.pk > after]
    return following[0] if following else users[0]


def auto_assign(conversation: Conversation, *, now: datetime) -> User | None:
    """Assign a new conversation by its source's active rule; returns who got it (None: no rule, nobody)."""
    from communa.inbox.services import activity, emit_event

    if conversation.assignee_id is not None:
        return None
    rule = (
        AssignmentRule.objects.select_for_update(of=("self",))
        .filter(workspace_id=conversation.workspace_id, source_id=conversation.source_id, is_active=True)
        .first()
    )
    if rule is None:
        return None
    user = pick(rule)
    if user is None and rule.team_id is None:
        return None
    if user is not None:
        rule.last_assigned = user
        rule.save(update_fields=["last_assigned"])
    conversation.assignee = user
    conversation.team_id = rule.team_id or conversation.team_id
    conversation.assigned_at = now
    conversation.version += 1
    conversation.save(update_fields=["assignee", "team", "assigned_at", "version", "updated_at"])
    activity(
        conversation,
        "assigned",
        at=now,
        assignee_id=user.pk if user else None,
        team_id=conversation.team_id,
        rule=rule.strategy,
    )
    emit_event(
        conversation, "conversation.assigned", assignee_id=user.pk if user else None, team_id=conversation.team_id
    )
    return user


def mentioned_users(*, workspace_id: int, text: str) -> list[User]:
    """People of the workspace mentioned as @username (case-insensitive) in `text`, each once, in order."""
    handles: list[str] = []
    for index, char in enumerate(text):
        if char != "@" or (index and (text[index - 1].isalnum() or text[index - 1] in "_.")):
            continue
        end = index + 1
        while end < len(text) and text[end].lower() in MENTION_CHARS - {"@"}:
            end += 1
        handle = text[index + 1 : end].rstrip(".-")
        if handle and handle.lower() not in handles:
            handles.append(handle.lower())
    if not handles:
        return []
    wanted = Q()
    for handle in handles[:20]:
        wanted |= Q(username__iexact=handle)
    users = {u.username.lower(): u for u in User.objects.filter(wanted, memberships__workspace_id=workspace_id)}
    return [users[h] for h in handles if h in users]
