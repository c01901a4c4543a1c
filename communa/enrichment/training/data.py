"""Labelled examples for every task, read from the development sets in ``../shared/data``.

Each loader maps its source's label scheme onto the product's labels (documented in docs/model-card.md). A label
that a source does not annotate is left out of ``labels`` (``None``) so training masks it instead of guessing.
Sources without a validation split get a fixed one: a row goes to validation when the SHA-1 of its grouping key
(the text, or the thread / source sentence for grouped rows) falls in the first fifth of the hash space, so the
split is the same on every machine and never depends on row order.
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

csv.field_size_limit(10_000_000)

VALIDATION_SHARE = 20  # percent of a split-less source held out for validation

SOURCE_LICENSES = {
    "xlm-t": "Apache-2.0 repository; underlying tweets research/evaluation only",
    "rusentitweet": "no license file (paper CC BY); research/evaluation only",
    "tweeteval": "SemEval-2017 sentiment; research/evaluation only",
    "davidson": "MIT",
    "germeval": "CC BY 4.0",
    "told-br": "CC BY-SA 4.0",
    "mlma": "MIT",
    "ru-distorted": "MIT",
    "ru-paradetox": "no license file (HF copy openrail++); research use",
    "github-incivility": "MIT",
    "sms-spam": "CC BY 4.0 (UCI)",
    "youtube-spam": "CC BY 4.0 (UCI)",
    "semeval-cqa": "free for general research use, citation required",
    "stackexchange": "CC BY-SA 3.0/4.0",
}

# Sources whose texts are licensed for research or evaluation only (see each folder's ORIGIN.md).
RESEARCH_ONLY = frozenset({"xlm-t", "rusentitweet", "tweeteval", "semeval-cqa", "ru-paradetox"})


@dataclass(frozen=True)
class Example:
    """One labelled text: ``labels`` maps a task label to 1.0/0.0; sentiment uses ``sentiment`` = 0, 1 or 2."""

    text: str
    lang: str
    source: str
    split: str
    labels: dict[str, float] = field(default_factory=dict)


def held_out(key: str) -> bool:
    """Whether a split-less row keyed by ``key`` belongs to the validation side of the fixed split."""
    digest = hashlib.sha1(key.strip().lower().encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "big") % 100 < VALIDATION_SHARE


def split_of(key: str) -> str:
    return "val" if held_out(key) else "train"


_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape(text: str) -> str:
    """xlm-t stores some characters as literal ``\\u2019`` escapes; turn them back into characters."""
    return _ESCAPED.sub(lambda match: chr(int(match.group(1), 16)), text).strip()


# ---------------------------------------------------------------- sentiment

XLMT_LANGUAGES = {
    "english": "en",
    "french": "fr",
    "german": "de",
    "italian": "it",
    "portuguese": "pt",
    "spanish": "es",
    "arabic": "ar",
    "hindi": "hi",
}
RUSENTITWEET_CLASSES = {"negative": 0.0, "neutral": 1.0, "positive": 2.0, "speech": 2.0}


def xlmt(root: Path) -> Iterator[Example]:
    """XLM-T UMSAB tweets, balanced, with their own train and val splits (0 neg, 1 neu, 2 pos)."""
    for folder, lang in XLMT_LANGUAGES.items():
        for split in ("train", "val"):
            base = root / "xlm-t-umsab-sentiment" / folder
            texts = (base / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
            labels = (base / f"{split}_labels.txt").read_text(encoding="utf-8").splitlines()
            for text, label in zip(texts, labels, strict=True):
                yield Example(_unescape(text), lang, "xlm-t", split, {"sentiment": float(label)})


def rusentitweet(root: Path) -> Iterator[Example]:
    """RuSentiTweet: 'speech' (greetings, thanks, congratulations) counts as positive; 'skip' rows are dropped."""
    with (root / "rusentitweet" / "rusentitweet_train.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["label"] in RUSENTITWEET_CLASSES:
                text = row["text"].strip()
                yield Example(
                    text, "ru", "rusentitweet", split_of(text), {"sentiment": RUSENTITWEET_CLASSES[row["label"]]}
                )


def tweeteval_sentiment(root: Path) -> Iterator[Example]:
    """TweetEval sentiment: only its validation split is in the snapshot, so it is evaluation data only."""
    base = root / "tweeteval-en" / "sentiment"
    texts = (base / "val_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (base / "val_labels.txt").read_text(encoding="utf-8").splitlines()
    for text, label in zip(texts, labels, strict=True):
        yield Example(text.strip(), "en", "tweeteval", "val", {"sentiment": float(label)})


# ---------------------------------------------------------------- toxicity

CLEAN = {"toxic": 0.0, "insult": 0.0, "threat": 0.0, "identity_attack": 0.0, "sexual": 0.0}


def davidson(root: Path) -> Iterator[Example]:
    """Davidson et al.: hate speech → toxic + identity attack; offensive → toxic; neither → clean."""
    with (root / "davidson-hate-offensive-en" / "labeled_data.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = html.unescape(row["tweet"]).strip()
            labels: dict[str, float]
            if row["class"] == "0":
                labels = {"toxic": 1.0, "identity_attack": 1.0}
            elif row["class"] == "1":
                labels = {"toxic": 1.0, "identity_attack": 0.0}
            else:
                labels = dict(CLEAN)
            yield Example(text, "en", "davidson", split_of(text), labels)


GERMEVAL_FINE = {
    "OTHER": CLEAN,
    "ABUSE": {"toxic": 1.0, "identity_attack": 1.0, "insult": 0.0, "threat": 0.0},
    "INSULT": {"toxic": 1.0, "insult": 1.0, "identity_attack": 0.0, "threat": 0.0},
    "PROFANITY": {"toxic": 1.0, "profanity": 1.0, "insult": 0.0, "identity_attack": 0.0, "threat": 0.0},
}


def germeval(root: Path) -> Iterator[Example]:
    """GermEval 2018: OTHER is clean; ABUSE → identity attack, INSULT → insult, PROFANITY → profanity."""
    lines = (root / "germeval2018-offensive-de" / "germeval2018.training.txt").read_text(encoding="utf-8")
    for line in lines.splitlines():
        text, _coarse, fine = line.rsplit("\t", 2)
        text = text.replace("|LBR|", " ").strip()
        yield Example(text, "de", "germeval", split_of(text), dict(GERMEVAL_FINE[fine.strip()]))


TOLD_IDENTITY = ("homophobia", "racism", "misogyny", "xenophobia")


def told_br(root: Path) -> Iterator[Example]:
    """ToLD-Br: a category counts when one of its three annotators flagged it (the authors' binary rule)."""
    with (root / "told-br-toxic-pt" / "ToLD-BR.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            votes = {key: float(row[key]) for key in ("obscene", "insult", *TOLD_IDENTITY)}
            labels = {
                "toxic": float(any(v > 0 for v in votes.values())),
                "insult": float(votes["insult"] > 0),
                "identity_attack": float(any(votes[key] > 0 for key in TOLD_IDENTITY)),
                "profanity": float(votes["obscene"] > 0),
                "threat": 0.0 if not any(votes.values()) else None,
            }
            text = row["text"].strip()
            yield Example(text, "pt", "told-br", split_of(text), _known(labels))


MLMA_IDENTITY_TARGETS = frozenset({"origin", "gender", "sexual_orientation", "religion", "disability"})


def mlma(root: Path) -> Iterator[Example]:
    """MLMA (en, fr): 'normal' is clean; any hostility is toxic; hostility at a protected group is identity attack."""
    for lang in ("en", "fr"):
        with (root / "mlma-hate-fr-en-ar" / f"{lang}_dataset.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                hostility = set(row["sentiment"].split("_"))
                text = row["tweet"].strip()
                if hostility == {"normal"}:
                    labels = dict(CLEAN)
                else:
                    hateful = "hateful" in hostility or row["target"] in MLMA_IDENTITY_TARGETS
                    labels = {"toxic": 1.0, "identity_attack": float(hateful)}
                yield Example(text, lang, "mlma", split_of(text), labels)


def ru_distorted(root: Path) -> Iterator[Example]:
    """Russian VK comments, toxic or not, many with disguised spellings (kept as written)."""
    with (root / "ru-distorted-toxicity" / "russian_distorted_toxicity.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            text = row["comments"].strip()
            toxic = float(row["toxicity"])
            yield Example(text, "ru", "ru-distorted", split_of(text), {"toxic": toxic} if toxic else dict(CLEAN))


def ru_paradetox(root: Path) -> Iterator[Example]:
    """RUSSE 2022 detox dev: each toxic comment is toxic, its crowd-written neutral rewrites are clean.

    A comment and its rewrites stay on the same side of the split (keyed by the toxic comment).
    """
    with (root / "ru-paradetox-russe2022" / "dev.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            toxic = row["toxic_comment"].strip()
            split = split_of(toxic)
            yield Example(toxic, "ru", "ru-paradetox", split, {"toxic": 1.0})
            for key in ("neutral_comment1", "neutral_comment2", "neutral_comment3"):
                neutral = (row.get(key) or "").strip()
                if neutral:
                    yield Example(neutral, "ru", "ru-paradetox", split, dict(CLEAN, profanity=0.0))


INCIVILITY = {
    "Insulting": {"toxic": 1.0, "insult": 1.0},
    "Vulgarity": {"toxic": 1.0, "profanity": 1.0},
    "Threat": {"toxic": 1.0, "threat": 1.0},
    "Identity attack/Name-Calling": {"toxic": 1.0, "insult": 1.0},
    "Mocking": {"toxic": 1.0},
}


def github_incivility(root: Path) -> Iterator[Example]:
    """Heated GitHub issue comments: civil ones are clean; insulting, vulgar, threatening and name-calling ones
    are toxic; frustration, impatience, irony and entitlement are uncivil but not abuse, so they only say 'no threat,
    no identity attack'."""
    path = root / "github-incivility-issue-threads" / "annotated_comment_level.csv"
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            feature = row["tbdf"].replace("Identity attacks", "Identity attack").replace("Attack", "attack")
            text = row["comment_body"].strip()
            if feature == "None":
                labels = dict(CLEAN)
            elif feature in INCIVILITY:
                labels = dict(INCIVILITY[feature])
            else:
                labels = {"threat": 0.0, "identity_attack": 0.0, "sexual": 0.0}
            yield Example(text[:2000], "en", "github-incivility", split_of(row["issue_id"]), labels)


# ---------------------------------------------------------------- spam


def sms_spam(root: Path) -> Iterator[Example]:
    """UCI SMS Spam Collection (this copy has a header line)."""
    with (root / "sms-spam-collection" / "SMSSpamCollection.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            text = row["SMS"].strip()
            yield Example(text, "en", "sms-spam", split_of(text), {"spam": float(row["Label"] == "spam")})


def youtube_spam(root: Path) -> Iterator[Example]:
    """UCI YouTube Spam Collection comments (the videos present in the snapshot)."""
    for path in sorted((root / "youtube-spam-collection").glob("Youtube*.csv")):
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                text = html.unescape(row["CONTENT"]).replace("\ufeff", "").strip()
                yield Example(text, "en", "youtube-spam", split_of(text), {"spam": float(row["CLASS"] == "1")})


# ---------------------------------------------------------------- question

_TAGS = re.compile(r"<[^>]+>")


def semeval_cqa(root: Path) -> Iterator[Example]:
    """Qatar Living forum: thread-opening questions are questions; replies are not (a thread stays on one side).

    Replies that themselves end with a question mark are left out: some ask back, and the data does not say which.
    """
    path = root / "semeval2016-task3-cqa-qatarliving" / "SemEval2016-Task3-CQA-QL-train-part1.xml"
    tree = ET.parse(path)  # noqa: S314 - a trusted development file, not user input
    for thread in tree.getroot().iter("Thread"):
        split = split_of(thread.get("THREAD_SEQUENCE", ""))
        question = thread.find("RelQuestion")
        if question is not None:
            subject = (question.findtext("RelQSubject") or "").strip()
            body = (question.findtext("RelQBody") or "").strip()
            text = body if len(body) > len(subject) else subject
            if text:
                yield Example(text, "en", "semeval-cqa", split, {"question": 1.0})
        for comment in thread.iter("RelComment"):
            text = (comment.findtext("RelCText") or "").strip()
            if text and "?" not in text[-3:]:
                yield Example(text, "en", "semeval-cqa", split, {"question": 0.0})


def stackexchange(root: Path) -> Iterator[Example]:
    """History meta Stack Exchange: question titles are questions; answers are not (split by question id)."""
    with (root / "stackexchange-meta-history" / "Posts.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["PostTypeId"] == "1" and row["Title"].strip():
                yield Example(row["Title"].strip(), "en", "stackexchange", split_of(row["Id"]), {"question": 1.0})
            elif row["PostTypeId"] == "2":
                text = html.unescape(_TAGS.sub(" ", row["Body"]))
                text = " ".join(text.split())[:1000]
                if text and "?" not in text:
                    yield Example(text, "en", "stackexchange", split_of(row["ParentId"]), {"question": 0.0})


def _known(labels: dict[str, float | None]) -> dict[str, float]:
    return {key: value for key, value in labels.items() if value is not None}


Loader = Callable[[Path], Iterator[Example]]

TASK_SOURCES: dict[str, dict[str, Loader]] = {
    "sentiment": {"xlm-t": xlmt, "rusentitweet": rusentitweet, "tweeteval": tweeteval_sentiment},
    "toxicity": {
        "davidson": davidson,
        "germeval": germeval,
        "told-br": told_br,
        "mlma": mlma,
        "ru-distorted": ru_distorted,
        "ru-paradetox": ru_paradetox,
        "github-incivility": github_incivility,
    },
    "spam": {"sms-spam": sms_spam, "youtube-spam": youtube_spam},
    "question": {"semeval-cqa": semeval_cqa, "stackexchange": stackexchange},
}


def load_task(task: str, root: Path, *, permissive_only: bool = False) -> list[Example]:
    """Every example for ``task`` (both splits), skipping research-only sources when asked."""
    examples: list[Example] = []
    for source, loader in TASK_SOURCES[task].items():
        if permissive_only and source in RESEARCH_ONLY:
            continue
        examples.extend(example for example in loader(root) if example.text)
    return examples
