"""The demo community's inbox: SLA policies, teams, assignment rules, saved replies in en/it/es/ru, and
conversations opened from the recent history in every state a community manager meets on a Monday morning:
open (some breaching the SLA), pending, snoozed, resolved, some answered by other members, assigned to
giulia, to lena (volunteer) or to a team.

Enrichment runs later in the worker, so the demo does not wait for signals: it opens conversations on recent
member messages that ask something ("?"), complain, or mention the brand, then replays their threads through
triage so the team's answers, members' answers and reopenings are recorded exactly as for live messages.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.connectors.base import MessageKind
from communa.connectors.models import Source
from communa.demo.phrases import BANKS
from communa.inbox import saved_replies, services
from communa.inbox.models import Conversation, InboxSettings, SavedReply, Team
from communa.inbox.needs_reply import escalate_due
from communa.inbox.sla import check_breaches
from communa.inbox.triage import open_for_message, triage_one
from communa.stream.models import Message

RECENT_DAYS = 12
MAX_CONVERSATIONS = 50
RECENT_OPEN_DAYS = 3
MAX_FRESH = 25
OFFICE_HOURS = {str(day): [["09:00", "13:00"], ["14:00", "18:00"]] for day in range(1, 6)}
LINKS = {
    "faq": "https://aurora-coffee.example/faq",
    "shipping": "https://aurora-coffee.example/help/shipping",
    "warranty": "https://aurora-coffee.example/help/warranty",
    "descaling": "https://aurora-coffee.example/guides/descaling",
}
SAVED_REPLIES: list[dict[str, object]] = [
    {
        "title": "Shipping times",
        "shortcut": "shipping",
        "body": "Hi {first_name}, orders leave our roastery within 2 working days; tracking and delivery times "
        "per country are here: {link:shipping}. — {agent_name}",
        "variants": {
            "it": "Ciao {first_name}, gli ordini partono dalla torrefazione entro 2 giorni lavorativi; "
            "tracciamento e tempi per paese qui: {link:shipping}. — {agent_name}",
            "es": "Hola {first_name}, los pedidos salen del tostadero en 2 días laborables; el seguimiento y los "
            "plazos por país están aquí: {link:shipping}. — {agent_name}",
            "ru": "Здравствуйте, {first_name}! Заказы уходят с обжарочной в течение 2 рабочих дней; отслеживание "
            "и сроки по странам: {link:shipping}. — {agent_name}",
        },
    },
    {
        "title": "Warranty and repairs",
        "shortcut": "warranty",
        "body": "Sorry to hear that, {first_name}. Our machines have a 2-year warranty; start a repair here and "
        "we will send a prepaid label: {link:warranty}",
        "variants": {
            "it": "Mi dispiace, {first_name}. Le nostre macchine hanno 2 anni di garanzia; apri qui la "
            "riparazione e ti mandiamo l'etichetta prepagata: {link:warranty}",
            "es": "Lo sentimos, {first_name}. Nuestras máquinas tienen 2 años de garantía; inicia la reparación "
            "aquí y te enviamos una etiqueta prepagada: {link:warranty}",
            "ru": "Нам очень жаль, {first_name}. На наши машины гарантия 2 года; оформите ремонт здесь, и мы "
            "пришлём оплаченную этикетку: {link:warranty}",
        },
    },
    {
        "title": "Descaling guide",
        "shortcut": "descale",
        "body": "Hi {first_name}! Descale every 2 months with soft water, monthly with hard water. Step by step: "
        "{link:descaling}",
        "variants": {
            "it": "Ciao {first_name}! Decalcifica ogni 2 mesi con acqua dolce, ogni mese con acqua dura. Passo "
            "per passo: {link:descaling}",
            "es": "¡Hola {first_name}! Descalcifica cada 2 meses con agua blanda, cada mes con agua dura. Paso a "
            "paso: {link:descaling}",
            "ru": "Привет, {first_name}! Удаляйте накипь раз в 2 месяца при мягкой воде и раз в месяц при "
            "жёсткой. Пошагово: {link:descaling}",
        },
    },
    {
        "title": "Thanks, community",
        "shortcut": "thanks",
        "body": "Thanks for helping out here! 🙌 {first_name}, did that solve it? If not, just reply and we will "
        "take a look.",
        "variants": {
            "it": "Grazie a chi ha dato una mano! 🙌 {first_name}, hai risolto? Altrimenti rispondi e ci "
            "guardiamo noi.",
            "es": "¡Gracias por ayudar! 🙌 {first_name}, ¿se ha resuelto? Si no, responde y lo miramos.",
            "ru": "Спасибо всем, кто помог! 🙌 {first_name}, получилось? Если нет, ответьте, и мы разберёмся.",
        },
    },
    {
        "title": "More details, please",
        "shortcut": "details",
        "body": "Hi {first_name}, could you tell us your order number and the machine model? Then we can check "
        "right away.",
        "variants": {
            "it": "Ciao {first_name}, ci dici il numero d'ordine e il modello della macchina? Così controlliamo "
            "subito.",
            "es": "Hola {first_name}, ¿nos dices el número de pedido y el modelo de la máquina? Así lo revisamos "
            "enseguida.",
            "ru": "Здравствуйте, {first_name}! Подскажите номер заказа и модель машины — сразу проверим.",
        },
    },
]


def build_inbox(workspace: Workspace, users: dict[str, User], *, now: datetime | None = None) -> int:
    """Set the inbox up and open the demo conversations; returns how many. Safe to run on a rebuilt demo."""
    now = now or timezone.now()
    owner, giulia, lena = users["demo"], users["giulia"], users["lena"]
    _settings(workspace, owner, giulia, lena)
    conversations = _conversations(workspace, now=now)
    _work(conversations, giulia=giulia, lena=lena, now=now)
    escalate_due(now=now)
    check_breaches(now=now)
    return len(conversations)


def _settings(workspace: Workspace, owner: User, giulia: User, lena: User) -> None:
    InboxSettings.objects.update_or_create(
        workspace=workspace, defaults={"brand_keywords": ["Aurora", "Aurora Coffee"], "escalate_after_minutes": 60}
    )
    services.save_sla_policy(
        workspace=workspace,
        actor=owner,
        name="Office hours",
        source=None,
        first_response_minutes=60,
        next_response_minutes=240,
        time_zone="Europe/Rome",
        business_hours=OFFICE_HOURS,
        holidays=["2026-12-08", "2026-12-25", "2026-12-26", "2027-01-01", "2027-01-06"],
    )
    sources = {s.name: s for s in Source.objects.filter(workspace=workspace)}
    chat = [sources[name] for name in ("Matrix #aurora-coffee", "IRC #aurora") if name in sources]
    for source in chat:
        services.save_sla_policy(
            workspace=workspace,
            actor=owner,
            name=f"Chat: {source.name}",
            source=source,
            first_response_minutes=30,
            next_response_minutes=60,
            time_zone="Europe/Rome",
            business_hours={str(day): [["08:00", "22:00"]] for day in range(1, 8)},
            holidays=[],
        )
    support, _ = Team.objects.get_or_create(workspace=workspace, name="Support")
    volunteers, _ = Team.objects.get_or_create(workspace=workspace, name="Volunteers")
    services.add_to_team(team=support, actor=owner, user=giulia)
    services.add_to_team(team=volunteers, actor=owner, user=lena)
    for name, strategy, people, team in (
        ("Community forum", "load_balanced", [giulia, lena], None),
        ("Matrix #aurora-coffee", "round_robin", [giulia, lena], None),
        ("Support mailbox", "round_robin", [giulia], support),
        ("IRC #aurora", "round_robin", [lena], volunteers),
    ):
        if name in sources:
            services.set_assignment_rule(
                workspace=workspace, actor=owner, source=sources[name], strategy=strategy, users=people, team=team
            )
    for name, url in LINKS.items():
        saved_replies.save_link(workspace=workspace, actor=owner, name=name, url=url)
    for spec in SAVED_REPLIES:
        if SavedReply.objects.filter(workspace=workspace, shortcut=str(spec["shortcut"])).exists():
            continue
        saved_replies.save_saved_reply(
            workspace=workspace,
            actor=giulia,
            title=str(spec["title"]),
            shortcut=str(spec["shortcut"]),
            body=str(spec["body"]),
            language="en",
            variants=dict(spec["variants"]),  # type: ignore[call-overload]
        )


@cache
def _phrases() -> tuple[frozenset[str], frozenset[str]]:
    """The fixed beginnings of the generator's complaints and small talk, in every language: the demo knows
    what it wrote, so it opens complaints as complaints and leaves "what's in your cup today?" alone."""

    def prefix(text: str) -> str:
        return text.split("{")[0].strip().casefold()[:40]

    complaints = {prefix(o) for b in BANKS.values() for t in b.complaints.values() for o in t.openings}
    chatter = {prefix(t) for b in BANKS.values() for t in (*b.chatter, *b.chatter_replies, *b.praise, *b.spam)}
    return frozenset(p for p in complaints if len(p) >= 12), frozenset(p for p in chatter if len(p) >= 12)


@cache
def _thanks() -> frozenset[str]:
    """How the generator's askers say an answer worked ("Thanks, all good now."), in every language."""
    return frozenset(
        t.split("{")[0].strip().casefold()[:30] for b in BANKS.values() for t in b.thanks if len(t.split("{")[0]) >= 6
    )


def _thanked(conversation: Conversation) -> bool:
    """The member's last word was a thank-you for an answer that worked."""
    text = " ".join(conversation.preview.casefold().split())
    return any(text.startswith(t) or t in text for t in _thanks())


def _reason(message: Message) -> str | None:
    text = message.text.casefold()
    complaints, chatter = _phrases()
    if any(p in text for p in complaints):
        return Conversation.Reason.COMPLAINT
    if any(p in text for p in chatter):
        return None
    if "?" in text:
        return Conversation.Reason.QUESTION
    return Conversation.Reason.MENTION if message.source.name == "Bluesky mentions" else None


def _conversations(workspace: Workspace, *, now: datetime) -> list[Conversation]:
    recent = (
        Message.objects.filter(workspace=workspace, created_at__gte=now - timedelta(days=RECENT_DAYS))
        .exclude(kind__in=[MessageKind.REACTION, MessageKind.JOIN, MessageKind.LEAVE])
        .exclude(Q(member=None) | Q(member__is_staff=True) | Q(member__is_bot=True))
        .select_related("source", "member", "identity", "thread", "parent__member", "parent__identity")
        .order_by("created_at", "id")
    )
    picked: list[tuple[Message, str]] = []
    threads: set[int | None] = set()
    for message in recent:
        reason = _reason(message)
        if message.thread_id in threads or reason is None:
            continue
        threads.add(message.thread_id)
        picked.append((message, reason))
    # Everything of the last RECENT_OPEN_DAYS (what is still being worked), then older ones evenly: a few of
    # every age, most of them done.
    fresh = [p for p in picked if p[0].created_at >= now - timedelta(days=RECENT_OPEN_DAYS)][-MAX_FRESH:]
    older = [p for p in picked if p[0].created_at < now - timedelta(days=RECENT_OPEN_DAYS)]
    room = MAX_CONVERSATIONS - len(fresh)
    step = max(1, len(older) // max(1, room))
    picked = older[::-1][::step][:room][::-1] + fresh
    conversations = []
    for message, reason in picked:
        conversation = open_for_message(message, reason=reason, now=now, auto_assign=True)
        _replay_thread(conversation, after=message, now=now)
        conversations.append(conversation)
    return conversations


def _replay_thread(conversation: Conversation, *, after: Message, now: datetime) -> None:
    """The thread's later messages, through triage as if they had just arrived (answers, community, reopen)."""
    if after.thread_id is None:
        return
    later = (
        Message.objects.filter(thread_id=after.thread_id, created_at__gte=after.created_at)
        .exclude(pk=after.pk)
        .select_related("source", "member", "identity", "thread", "parent__member", "parent__identity")
        .order_by("created_at", "id")
    )
    for message in later:
        with transaction.atomic():
            triage_one(message, brand_names=["Aurora", "Aurora Coffee"], now=now, auto_assign=False)


def _work(conversations: list[Conversation], *, giulia: User, lena: User, now: datetime) -> None:
    """Give the conversations the states and hands a real inbox has."""
    still_open = 0
    for index, stale in enumerate(conversations):
        c = Conversation.objects.get(pk=stale.pk)
        age = now - c.opened_at
        answered = c.first_response_at is not None
        brand_spoke_last = answered and c.waiting_since is None
        done_at = min(now, c.last_message_at + timedelta(hours=1))
        if (answered or c.answered_by_community) and _thanked(c):
            # The member said it worked ("thanks" reopened it): the team closed it an hour later.
            services.change_state(conversation=c, actor=giulia, state="resolved", now=done_at)
        elif brand_spoke_last and age > timedelta(days=3):
            services.change_state(conversation=c, actor=giulia, state="resolved", now=done_at)
        elif brand_spoke_last:
            services.change_state(conversation=c, actor=giulia, state="pending", now=now)
        elif c.answered_by_community and age > timedelta(days=2):
            services.change_state(conversation=c, actor=giulia, state="resolved", now=done_at)
        else:
            still_open += 1
            if still_open % 6 == 3:
                tomorrow = (now + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
                services.change_state(conversation=c, actor=giulia, state="snoozed", snoozed_until=tomorrow, now=now)
            elif still_open % 6 == 1:
                services.add_note(
                    conversation=c,
                    author=giulia,
                    text="@lena you know this machine best, can you take it? I will check back after lunch.",
                )
                services.assign(conversation=c, actor=giulia, assignee=lena, team=c.team, now=now)
            elif still_open == 5:
                services.override_priority(conversation=c, actor=giulia, priority=90)
        if c.assignee_id is None and index % 3 == 0:
            services.assign(conversation=c, actor=giulia, assignee=giulia, team=None, now=now)
