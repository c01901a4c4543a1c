"""The demo's moderation story: Giulia's community rules (two versions, backtested, the second live), what they
did over the last month of history, Lena's and Giulia's work in the review queue, strikes, appeals (one
overturned, one waiting) and a heated thread flagged by the conflict early warning.

Called once by build_demo after the members story. The demo's sources are imports standing in for Matrix, IRC
and the forum, which Communa cannot reach: platform actions are recorded as carried out (as a live platform
would answer), and decisions are dated a moment after the message they act on, as live moderation does.
Deterministic: everything follows from the ingested history.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.moderation import services
from communa.moderation.conflict import check_messages
from communa.moderation.live import evaluate_batch, forget_compiled
from communa.moderation.models import Appeal, Decision, DecisionAction, ReviewItem, Strike
from communa.stream.models import Message

SEED = 11
LIVE_DAYS = 30
BACKTEST_DAYS = 30

RULES_V1 = """\
# Aurora community guidelines, as rules. See docs/moderation-rules.md.
backtest_warning: 5%
templates:
  be-kind:
    en: "{member}, please keep it kind: we discuss ideas, not people."
    it: "{member}, per favore niente insulti: si discute di idee, non di persone."
    es: "{member}, por favor, sin insultos: hablamos de ideas, no de personas."
    ru: "{member}, пожалуйста, без оскорблений: обсуждаем идеи, а не людей."
rules:
  - id: no-insults
    name: No insults
    guideline: Disagree with ideas, not with people.
    when:
      words: [idiot, stupid, dumb, loser, idiota, stupido, tonto, torpe, imbécil, идиот, тупой, бестолковый]
    actions:
      - remove
      - warn: be-kind
  - id: spam-links
    name: Promotional links
    guideline: No advertising.
    when:
      all:
        - regex: 'https?://\\S+'
        - words: [prices, cheap, earn, followers, promo, guadagnare, scontato, ganar, descuento, заработок, скидка]
    actions:
      - remove
      - queue
"""

RULES_V2 = RULES_V1.replace(
    """      - remove
      - queue
""",
    """      - remove
      - queue
  - id: newcomer-links
    name: Links from brand-new accounts
    description: Log only for now, to see how often it would fire.
    mode: log_only
    when:
      all:
        - regex: 'https?://\\S+'
        - member: {first_message: true}
    actions:
      - queue
""",
)


def build_moderation(workspace: Workspace, users: dict[str, User]) -> None:
    giulia, lena = users["giulia"], users["lena"]
    rng = random.Random(SEED)
    v1 = services.save_rule_set(workspace=workspace, text=RULES_V1, modes={}, actor=giulia, comment="First rules")
    services.run_backtest(workspace=workspace, rule_set=v1, days=BACKTEST_DAYS, actor=giulia)
    v2 = services.save_rule_set(
        workspace=workspace, text=RULES_V2, modes={}, actor=giulia, comment="Newcomer links, log only"
    )
    services.run_backtest(workspace=workspace, rule_set=v2, days=BACKTEST_DAYS, actor=giulia)
    services.activate_rule_set(workspace=workspace, rule_set=v2, actor=giulia)
    forget_compiled(workspace.pk)

    since = timezone.now() - timedelta(days=LIVE_DAYS)
    ids = list(
        Message.objects.filter(workspace=workspace, created_at__gte=since)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), 500):
        evaluate_batch(workspace_id=workspace.pk, message_ids=ids[start : start + 500])
    # Live, the early warning looks at each thread as each message arrives; here, at the moments rules acted.
    acted = Decision.objects.filter(workspace=workspace, kind=Decision.Kind.RULE, live=True).order_by("message_id")
    for message_id in acted.values_list("message_id", flat=True):
        check_messages(workspace_id=workspace.pk, message_ids=[message_id])
    _as_if_live(workspace, rng)
    _review(workspace, giulia=giulia, lena=lena)
    _appeals(workspace, giulia=giulia)


@transaction.atomic
def _as_if_live(workspace: Workspace, rng: random.Random) -> None:
    """Date each automatic decision a moment after its message, and record its platform actions as done."""
    for decision in Decision.objects.filter(workspace=workspace, kind=Decision.Kind.RULE).select_related("message"):
        if decision.message is None:
            continue
        seconds = round(rng.uniform(0.15, 0.9), 3)
        at = decision.message.created_at + timedelta(seconds=seconds)
        Decision.objects.filter(pk=decision.pk).update(created_at=at, seconds_to_action=seconds)
        actions = DecisionAction.objects.filter(decision=decision)
        actions.filter(state__in=["skipped", "pending"]).update(state="done", error="", done_at=at)
        actions.update(created_at=at)
        Strike.objects.filter(decision=decision).update(created_at=at, expires_at=at + timedelta(days=90))
        ReviewItem.objects.filter(decision=decision).update(created_at=at)


def _review(workspace: Workspace, *, giulia: User, lena: User) -> None:
    """Lena and Giulia work through the older half of the queue; the newest items wait."""
    items = list(ReviewItem.objects.filter(workspace=workspace, state="open").order_by("created_at"))
    for index, item in enumerate(items[: max(len(items) - 4, 0)]):
        who, verdict = (lena, "remove_warn") if index % 3 else (giulia, "ban")
        decision = services.resolve_item(workspace=workspace, item=item, verdict=verdict, actor=who)
        at = item.created_at + timedelta(minutes=7 + 11 * (index % 5))
        Decision.objects.filter(pk=decision.pk).update(
            created_at=at, seconds_to_action=(at - item.message.created_at).total_seconds()
        )
        DecisionAction.objects.filter(decision=decision).update(created_at=at, state="done", error="", done_at=at)
        ReviewItem.objects.filter(pk=item.pk).update(resolved_at=at)


def _appeals(workspace: Workspace, *, giulia: User) -> None:
    """Two members appeal a removed insult: one is overturned by Giulia, one waits for a reviewer."""
    removals = list(
        Decision.objects.filter(workspace=workspace, kind=Decision.Kind.RULE, rule="No insults", live=True)
        .exclude(member=None)
        .order_by("-created_at")[:2]
    )
    statements = [
        "I was quoting the other person to show how rude they were, I did not insult anyone.",
        "Sorry, it was a bad day. It won't happen again, can the strike be lifted?",
    ]
    for index, decision in enumerate(removals):
        appeal = services.submit_appeal(decision=decision, statement=statements[index])
        if index == 0:
            services.decide_appeal(
                workspace=workspace,
                appeal=appeal,
                overturn=True,
                response="You are right: you were quoting. The warning is withdrawn.",
                actor=giulia,
            )
            Appeal.objects.filter(pk=appeal.pk).update(
                created_at=decision.created_at + timedelta(hours=3), decided_at=decision.created_at + timedelta(hours=5)
            )
