"""Top topics: keywords per local day and language, extracted with YAKE (offline: its stopword lists ship in
the package), counted as the number of messages that contain each keyword.

Topics are kept per (day, language) over all sources (source_id 0): the extraction runs once per bucket, in
the periodic refresh for days marked dirty. Without yake, a documented fallback ranks the most frequent
words of three letters or more that are not in a small stopword list.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from datetime import date

from django.db import transaction

from communa.accounts.models import Workspace
from communa.analytics.models import DirtyDay, MessageFact, TopicDay
from communa.stream.models import Message

logger = logging.getLogger(__name__)

MAX_MESSAGES = 600  # per bucket: the newest ones
TOP = 15
YAKE_LANGUAGES = {"en", "it", "es", "ru", "fr", "de", "pt", "nl", "pl", "sv", "da", "fi", "tr", "cs", "el"}
WORD = re.compile(r"[^\W\d_][\w'’-]{2,}", re.UNICODE)
_STOP_EN = ("the", "and", "for", "you", "with", "this", "that", "have", "are", "was", "but", "not", "what", "how")
_STOP_EN2 = ("can", "just", "from", "they", "will", "your", "our", "about")
_STOP_IT = ("una", "uno", "per", "che", "con", "non", "del", "della", "sono", "come", "anche", "questo")
_STOP_ES = ("los", "las", "por", "para", "con", "una", "que", "del", "como", "pero", "esto")
_STOP_RU = ("это", "что", "как", "для", "так", "они", "все", "его", "она")
FALLBACK_STOP = frozenset((*_STOP_EN, *_STOP_EN2, *_STOP_IT, *_STOP_ES, *_STOP_RU))
URL = re.compile(r"https?://\S+|www\.\S+")


def extract_terms(texts: Sequence[str], language: str, *, top: int = TOP) -> list[tuple[str, float]]:
    """Keywords of a set of short texts, best first, with a score in (0, 1] (higher is more relevant)."""
    text = "\n".join(URL.sub(" ", t) for t in texts if t)
    if not text.strip():
        return []
    try:
        import yake  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the documented fallback
        return _fallback(text, top)
    lan = language if language in YAKE_LANGUAGES else "en"
    extractor = yake.KeywordExtractor(lan=lan, n=2, dedupLim=0.8, top=top * 2)
    try:
        found = extractor.extract_keywords(text)
    except Exception:  # yake can fail on odd input (a single token); never fail the refresh for it
        logger.exception("keyword extraction failed")
        return _fallback(text, top)
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for term, score in found:
        key = term.casefold().strip()
        if len(key) < 3 or key in seen or key.isdigit():
            continue
        seen.add(key)
        out.append((key[:120], 1.0 / (1.0 + float(score))))
        if len(out) >= top:
            break
    return out


def _fallback(text: str, top: int) -> list[tuple[str, float]]:
    counts = Counter(w.casefold() for w in WORD.findall(text) if w.casefold() not in FALLBACK_STOP)
    total = sum(counts.values()) or 1
    return [(w, n / total) for w, n in counts.most_common(top)]


def count_messages(texts: Sequence[str], terms: Sequence[str]) -> dict[str, int]:
    folded = [t.casefold() for t in texts]
    return {term: sum(1 for t in folded if term in t) for term in terms}


def refresh_day(*, workspace: Workspace, day: date) -> int:
    """Recompute the topics of one local day, per language. Returns how many rows were written."""
    facts = MessageFact.objects.filter(workspace=workspace, day=day, counted=True)
    languages = sorted(set(facts.values_list("language", flat=True)))
    rows: list[TopicDay] = []
    for language in languages:
        ids = list(
            facts.filter(language=language).order_by("-message_id").values_list("message_id", flat=True)[:MAX_MESSAGES]
        )
        texts = list(Message.objects.filter(workspace=workspace, pk__in=ids).values_list("text", flat=True))
        terms = extract_terms(texts, language)
        counts = count_messages(texts, [t for t, _ in terms])
        rows += [
            TopicDay(
                workspace=workspace, day=day, source_id=0, language=language, term=term, messages=counts[term], score=s
            )
            for term, s in terms
            if counts[term] > 0
        ]
    with transaction.atomic():
        TopicDay.objects.filter(workspace=workspace, day=day).delete()
        TopicDay.objects.bulk_create(rows)
    return len(rows)


def refresh_dirty_topics(*, workspace: Workspace | None = None, limit: int = 60) -> int:
    marks = DirtyDay.objects.filter(kind=DirtyDay.Kind.TOPICS)
    if workspace is not None:
        marks = marks.filter(workspace=workspace)
    done = 0
    for pk, ws_id, day, marked_at in marks.order_by("-day").values_list("pk", "workspace_id", "day", "marked_at")[
        :limit
    ]:
        ws = Workspace.objects.filter(pk=ws_id).first()
        if ws is not None:
            done += refresh_day(workspace=ws, day=day)
        DirtyDay.objects.filter(pk=pk, marked_at=marked_at).delete()
    return done


def topics_of_messages(message_ids: Sequence[int], *, workspace: Workspace, top: int = 8) -> list[dict[str, object]]:
    """Keywords of a given set of messages (an anomaly's window), per their dominant language."""
    rows = list(
        Message.objects.filter(workspace=workspace, pk__in=list(message_ids)[:MAX_MESSAGES]).values_list(
            "text", "language"
        )
    )
    if not rows:
        return []
    texts = [t for t, _ in rows]
    language = Counter(lang for _, lang in rows).most_common(1)[0][0] or "en"
    terms = extract_terms(texts, language, top=top)
    counts = count_messages(texts, [t for t, _ in terms])
    ranked = sorted(((t, counts[t]) for t, _ in terms if counts[t] > 0), key=lambda x: -x[1])
    return [{"term": t, "messages": n} for t, n in ranked]
