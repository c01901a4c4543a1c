"""The demo's members story: the team marked as staff, a few scripted community members whose activity makes
levels and key people worth looking at, then engagement and the key-people snapshot computed.

Called once by build_demo after the history is ingested. The generated history already has natural regulars
(activity is Pareto-distributed); this adds, on the forum and through the one ingest path:
- Anna Bellini, an Italian living in Russia, who answers Italian and Russian questions alike: a champion and
  the bridge between the Italian and Russian groups;
- Diego Fuentes, who answers in Spanish, Portuguese and English: a champion in several languages;
- Tomás Ibarra, a regular who stopped a month ago (at risk), Greta Kühn who left two months ago (churned), and
  Paolo Ferraris, back this week after seven quiet weeks (returning).
Deterministic: the rows follow from the ingested history and a seeded rng.
"""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.connectors.base import RawItem
from communa.connectors.models import Source
from communa.demo.people import BRAND_DOMAIN
from communa.demo.phrases import BANKS
from communa.demo.phrases.base import SLOTS, Topic
from communa.ingest.services import ingest_events
from communa.members.engagement.keypeople import compute_key_people
from communa.members.engagement.services import rebuild_activity
from communa.members.models import Member
from communa.members.services import generate_suggestions, refresh_activity, trust_email_platform
from communa.stream.models import Message

SEED = 7
SLOT_VALUES = {
    "grinder": "Vela 2", "setting": "14", "temp": "93", "days": "12", "order": "AC-51234", "version": "3.2.1",
    "ratio": "1:16", "grams": "18", "name": "", "batch": "24-B", "staff": "Giulia",
}  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Helper:
    author_id: str
    name: str
    handle: str
    email: str
    languages: tuple[str, ...]
    answers: int
    first_day: int  # days ago
    last_day: int
    utc_offset: int
    gap: tuple[int, int] | None = None  # days ago: a quiet spell in between


HELPERS = (
    Helper("5001", "Anna Bellini", "anna_bellini", "anna@caffe-bellini.it", ("it", "ru"), 60, 80, 0, 3),
    Helper("5002", "Diego Fuentes", "diego_f", "diego.fuentes@tostaduria.es", ("es", "pt", "en"), 36, 85, 0, 1),
    Helper("5003", "Tomás Ibarra", "tibarra", "tibarra@correo.example", ("es",), 14, 80, 30, 1),
    Helper("5004", "Greta Kühn", "greta_k", "greta@post.example", ("de", "en"), 10, 88, 64, 1),
    Helper("5005", "Paolo Ferraris", "paolo_ferraris", "paolo@posta.example", ("it",), 12, 85, 1, 1, gap=(55, 6)),
)


def build_members(workspace: Workspace, *, trusted_email_platforms: tuple[str, ...] = ()) -> None:
    """Mark the team, add the scripted members' answers, resolve identities, compute engagement and key people.

    The operator trusts the addresses of `trusted_email_platforms` (the forum: Discourse confirms them), so a
    person who writes from one address on the forum and to the support mailbox is merged by itself, as in a real
    install; the likely pairs with weaker evidence (a handle, a name) wait on the suggestions page. Resolution is
    the worker's job; it runs here too so the pages are right before a worker runs.
    """
    mark_team(workspace)
    forum = Source.objects.filter(workspace=workspace, name="Community forum").first()
    if forum is not None:
        rows = scripted_rows(workspace, forum, now=timezone.now())
        ingest_events(source=forum, events=[RawItem(external_id=r["id"], payload=r) for r in rows])
    for platform in trusted_email_platforms:
        trust_email_platform(workspace=workspace, platform=platform, actor=None)
    generate_suggestions(workspace=workspace)
    # Counters as the worker's ingest subscriber leaves them, so the pages are right before a worker runs.
    refresh_activity(member_ids=Member.objects.filter(workspace=workspace).values_list("pk", flat=True))
    rebuild_activity(workspace=workspace)
    compute_key_people(workspace=workspace)


def mark_team(workspace: Workspace) -> None:
    """The brand's own accounts and the team's speak for the brand (unless someone already decided who does)."""
    members = Member.objects.filter(workspace=workspace)
    if members.filter(is_staff=True).exists():
        return
    team = (
        Q(identities__email__endswith=f"@{BRAND_DOMAIN}")
        | Q(messages__metadata__staff=True)
        | Q(messages__metadata__power_level=100)
        | Q(identities__handle=BRAND_DOMAIN)  # the brand's Bluesky account
    )
    Member.objects.filter(pk__in=set(members.filter(team).values_list("pk", flat=True))).update(is_staff=True)


def _topic(language: str, title: str) -> Topic | None:
    """The question topic a thread title was written from (titles are templates with slots filled in)."""
    bank = BANKS.get(language)
    if bank is None or not title:
        return None
    for topic in bank.questions.values():
        for template in topic.titles:
            pattern = re.escape(template)
            for slot in SLOTS:
                pattern = pattern.replace(re.escape("{" + slot + "}"), ".+?")
            if re.fullmatch(pattern, title):
                return topic
    return None


def _questions(workspace: Workspace, forum: Source, helper: Helper, now: datetime) -> list[tuple[Message, Topic]]:
    """Forum questions in the helper's languages, from when they were around, that they can answer."""
    start, end = now - timedelta(days=helper.first_day), now - timedelta(days=helper.last_day)
    roots = (
        Message.objects.filter(
            workspace=workspace,
            source=forum,
            parent__isnull=True,
            language__in=helper.languages,
            created_at__gte=start,
            created_at__lte=end - timedelta(hours=3),
        )
        .exclude(kind="reaction")
        .select_related("identity")
        .order_by("created_at", "id")
    )
    found = []
    for root in roots:
        if helper.gap and now - timedelta(days=helper.gap[0]) <= root.created_at <= now - timedelta(days=helper.gap[1]):
            continue
        topic = _topic(root.language, root.title)
        if topic is not None:
            found.append((root, topic))
    return found


def _spread(items: list[Any], count: int, rng: random.Random) -> list[Any]:
    """`count` items spread over the list (evenly by position, so over the helper's whole period)."""
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[min(len(items) - 1, int(i * step + rng.random() * step))] for i in range(count)]


def scripted_rows(workspace: Workspace, forum: Source, *, now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    rows: list[dict[str, Any]] = []
    for number, helper in enumerate(HELPERS):
        questions = _questions(workspace, forum, helper, now)
        picked = []
        for language in helper.languages:  # as many answers in each of their languages as there are questions
            mine = [q for q in questions if q[0].language == language]
            picked.extend(_spread(mine, helper.answers // len(helper.languages), rng))
        picked.sort(key=lambda q: (q[0].created_at, q[0].pk))
        for index, (root, topic) in enumerate(picked):
            rows.extend(_answer_rows(helper, root, topic, rng, f"{90_000 + number * 1000 + index * 2}"))
    return rows


def _answer_rows(
    helper: Helper, root: Message, topic: Topic, rng: random.Random, external_id: str
) -> list[dict[str, Any]]:
    bank = BANKS[root.language]
    asker = root.identity.display_name.split()[0] if root.identity and root.identity.display_name else ""
    opener = rng.choice(bank.answer_openers).format_map({**SLOT_VALUES, "name": asker}).strip()
    if not asker:
        opener = opener.replace(" ,", ",")
    text = f"{opener} {rng.choice(topic.answers).format_map(SLOT_VALUES)}".strip().replace(" ,", ",")
    at = min(root.created_at + timedelta(minutes=rng.uniform(4, 90)), timezone.now() - timedelta(minutes=1))
    topic_id = (root.metadata or {}).get("topic_id")
    base = root.url.rsplit("/", 1)[0] if root.url else ""
    reply = _row(helper, external_id, text, at, root, parent=root.external_id, language=root.language)
    reply["url"] = f"{base}/{90 + int(external_id) % 1000}" if base else ""
    reply["metadata"] = {"topic_id": topic_id, "category": (root.metadata or {}).get("category", "")}
    rows = [reply]
    if rng.random() < 0.45 and root.member_id is not None:  # the asker says thanks
        thanks = rng.choice(bank.thanks).format_map({**SLOT_VALUES, "name": helper.name.split()[0]})
        identity = root.identity
        if identity is not None:
            rows.append(
                {
                    "id": str(int(external_id) + 1),
                    "created_at": (at + timedelta(minutes=rng.uniform(10, 240))).isoformat(),
                    "author_id": identity.external_id,
                    "author_name": identity.display_name,
                    "author_handle": identity.handle,
                    "author_email": identity.email,
                    "text": thanks,
                    "title": "",
                    "kind": "comment",
                    "thread_id": root.external_id,
                    "parent_id": external_id,
                    "url": "",
                    "language": root.language,
                    "metadata": {"topic_id": topic_id},
                }
            )
    return rows


def _row(
    helper: Helper, external_id: str, text: str, at: datetime, root: Message, *, parent: str, language: str
) -> dict[str, Any]:
    local = at.astimezone(timezone.get_fixed_timezone(helper.utc_offset * 60))
    return {
        "id": external_id,
        "created_at": local.isoformat(timespec="seconds"),
        "author_id": helper.author_id,
        "author_name": helper.name,
        "author_handle": helper.handle,
        "author_email": helper.email,
        "text": text,
        "title": "",
        "kind": "comment",
        "thread_id": root.external_id,
        "parent_id": parent,
        "url": "",
        "language": language,
        "metadata": {},
    }
