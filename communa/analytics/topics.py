"""Top topics: keywords per local day and language, extracted with YAKE, counted as the number of messages
that contain each keyword.

Stopwords (`stopwords_for`): YAKE is given one list per language, the union of the list YAKE ships for it (34
languages), the stopwords-iso list (`stopwordsiso`, 58 languages) and a short list of chat formulas (greetings,
thanks) that are not stopwords in prose but fill community chats. Everything ships inside the installed packages:
nothing is downloaded at run time. A language neither package knows gets YAKE's language-neutral list (never
the English one). A keyword that starts or ends with a stopword, or is one, is dropped.

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
from functools import cache
from pathlib import Path

from django.db import transaction

from communa.accounts.models import Workspace
from communa.analytics.models import DirtyDay, MessageFact, TopicDay
from communa.stream.models import Message

logger = logging.getLogger(__name__)

MAX_MESSAGES = 600  # per bucket: the newest ones
TOP = 15
# ISO 639-1 → the name of YAKE's bundled list where it differs.
YAKE_LIST_NAMES = {"cs": "cz", "nb": "no", "nn": "no"}
# Chat formulas: greetings, thanks, agreement. Not stopwords in prose, but in a community chat they are the most
# frequent "keywords" of every day and say nothing about what people talk about.
CHAT_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(("hi", "hello", "hey", "thanks", "thank", "please", "yes", "yeah", "lol", "guys", "everyone")),
    "it": frozenset(("ciao", "grazie", "mille", "salve", "buongiorno", "buonasera", "prego", "ragazzi", "tutti")),
    "es": frozenset(("hola", "gracias", "saludos", "buenas", "buenos", "favor", "chicos", "todos")),
    "ru": frozenset(("привет", "спасибо", "пожалуйста", "здравствуйте", "давайте", "всем", "ребята", "добрый")),
    "fr": frozenset(("bonjour", "salut", "merci", "coucou", "svp", "oui")),
    "de": frozenset(("hallo", "danke", "bitte", "servus", "leute")),
    "pt": frozenset(("olá", "obrigado", "obrigada", "valeu", "pessoal", "alguém")),
    "uk": frozenset(("привіт", "дякую", "будь", "ласка", "усім", "всім", "вітаю")),
}
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
    lan = base_language(language)
    stop = stopwords_for(lan)
    extractor = yake.KeywordExtractor(lan=lan or "en", n=2, dedupLim=0.8, top=top * 3, stopwords=stop)
    try:
        found = extractor.extract_keywords(text)
    except Exception:  # yake can fail on odd input (a single token); never fail the refresh for it
        logger.exception("keyword extraction failed")
        return _fallback(text, top, stop)
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for term, score in found:
        key = term.casefold().strip()
        words = key.split()
        if len(key) < 3 or key in seen or key.isdigit() or not words or words[0] in stop or words[-1] in stop:
            continue
        seen.add(key)
        out.append((key[:120], 1.0 / (1.0 + float(score))))
        if len(out) >= top:
            break
    return out


def base_language(language: str) -> str:
    """ "pt-BR" → "pt", "ZH_hant" → "zh"; "" stays ""."""
    return re.split(r"[-_]", (language or "").strip().casefold(), maxsplit=1)[0][:3]


@cache
def stopwords_for(language: str) -> frozenset[str]:
    """The stopwords of a language (ISO 639-1), casefolded: YAKE's list ∪ stopwords-iso's ∪ chat formulas.
    A language neither package lists gets YAKE's language-neutral list."""
    words: set[str] = set(CHAT_WORDS.get(language, ()))
    found = False
    yake_list = _yake_list(YAKE_LIST_NAMES.get(language, language))
    if yake_list:
        words |= yake_list
        found = True
    iso = _iso_list(language)
    if iso:
        words |= iso
        found = True
    if not found:
        words |= _yake_list("noLang") | FALLBACK_STOP
    return frozenset(w for w in words if w)


def _iso_list(language: str) -> set[str]:
    """The stopwords-iso list of a language (the `stopwordsiso` package ships them as JSON), or an empty set."""
    try:
        import stopwordsiso
    except ImportError:  # pragma: no cover - a declared dependency
        return set()
    if not language or not stopwordsiso.has_lang(language):
        return set()
    return {w.casefold() for w in stopwordsiso.stopwords(language)}


def _yake_list(name: str) -> set[str]:
    """One of the stopword files YAKE ships (StopwordsList/stopwords_<name>.txt), or an empty set."""
    if not re.fullmatch(r"[A-Za-z]{2,6}", name or ""):
        return set()
    try:
        import yake
    except ImportError:  # pragma: no cover
        return set()
    path = Path(yake.__file__).parent / "core" / "StopwordsList" / f"stopwords_{name}.txt"
    if not path.is_file():
        return set()
    text = path.read_text(encoding="utf-8-sig", errors="replace")  # some lists start with a byte-order mark
    return {line.strip().casefold() for line in text.splitlines() if line.strip()}


def _fallback(text: str, top: int, stop: frozenset[str] = FALLBACK_STOP) -> list[tuple[str, float]]:
    counts = Counter(w.casefold() for w in WORD.findall(text) if w.casefold() not in stop)
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
