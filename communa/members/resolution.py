"""Identity resolution, the pure part: blocking keys and the evidence that two identities are one person.

Nothing here touches the database. `services.generate_suggestions` finds candidates by looking identities up
by these keys (indexed columns), so the work grows with the size of the blocks, never with the square of
the number of identities, and then calls `compare` on each candidate pair.

Keys:
- email: the address, lower-cased;
- handle: the handle's local part folded to lower-case ASCII letters and digits ("@Lucia_R:matrix.org",
  "lucia-r.bsky.social" and "LuciaR" all give "luciar");
- name: the display name transliterated to ASCII (anyascii: "Дмитрий" → "Dmitriy"), accents folded
  ("José" → "jose"), reduced to a phonetic skeleton that absorbs the usual transliteration variants
  ("Dmitriy", "Dmitrii" and "Dmitry" → "dmitri"), tokens sorted; only names of two words or more,
  because a first name alone says nothing about who someone is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from typing import Any

from anyascii import anyascii
from rapidfuzz import fuzz

# Emails seen by a mailbox are verified: the address sent the mail. Other platforms merely report one.
VERIFIED_EMAIL_PLATFORMS = frozenset({"email"})

# Handles that many unrelated people (or shared mailboxes) use: never evidence of anything.
GENERIC_HANDLES = frozenset({
    "admin", "administrator", "bot", "contact", "hello", "help", "info", "mail", "news", "noreply", "office",
    "postmaster", "root", "sales", "support", "team", "test", "user", "webmaster",
})  # fmt: skip
MIN_HANDLE_KEY = 3

# Weights of each kind of evidence alone; several kinds combine as independent evidence (noisy-or).
WEIGHT_SAME_EMAIL = 0.9
WEIGHT_SAME_HANDLE = 0.7
WEIGHT_SAME_NAME = 0.6
WEIGHT_SIMILAR_NAME = 0.4
# A handle that three or more members share ("jankoch" for every Jan Koch, "coffeelover") is weak evidence.
WEIGHT_COMMON_HANDLE = 0.4
# Two different addresses reported for the two identities: evidence against (most people use one address
# with a community); it scales the score down rather than forbidding the pair (people do have two).
WEIGHT_DIFFERENT_EMAIL = 0.5
NAME_SIMILARITY_MIN = 90  # rapidfuzz token_sort_ratio on the folded names, 0-100

# A pair scoring less than this is not worth a person's time.
SUGGEST_MIN_SCORE = 0.5

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_REPEATS = re.compile(r"(.)\1+")
# Spelling variants that transliteration and languages produce for the same sound, folded to one spelling.
_SKELETON = (("kh", "h"), ("ph", "f"), ("ck", "k"), ("ks", "x"), ("w", "v"), ("y", "i"), ("j", "i"))


@dataclasses.dataclass(frozen=True, slots=True)
class IdentityFacts:
    """What resolution reads of an identity."""

    id: int
    member_id: int
    platform: str
    handle: str
    display_name: str
    email: str
    email_key: str
    handle_key: str
    name_key: str


@dataclasses.dataclass(frozen=True, slots=True)
class Keys:
    email: str
    handle: str
    name: str
    source: str  # fingerprint of what the keys were computed from


@dataclasses.dataclass(slots=True)
class Evidence:
    """Why two members may be one person. `reasons` are codes with values, rendered by the pages."""

    reasons: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    certain: bool = False

    @property
    def score(self) -> float:
        doubt, against = 1.0, 1.0
        matched_email = "same_email" in self.reasons  # one shared address outweighs another that differs
        handle, name = self.reasons.get("same_handle"), self.reasons.get("similar_name")
        # A handle that is just the name ("jankoch" for Jan Koch) says nothing the name does not: one piece of
        # evidence, not two independent ones.
        echo = handle is not None and name is not None and bool(handle.get("name_shaped"))
        skip = ("same_handle" if float(handle["weight"]) <= float(name["weight"]) else "similar_name") if echo else ""  # type: ignore[index]
        for code, reason in self.reasons.items():
            weight = float(reason["weight"])
            if code == skip:
                continue
            if weight < 0 and matched_email:
                continue
            if weight >= 0:
                doubt *= 1.0 - weight
            else:
                against *= 1.0 + weight  # evidence against: a negative weight scales the score down
        return round((1.0 - doubt) * against, 3)

    def add(self, code: str, weight: float, **details: Any) -> None:
        """Keep the strongest reason of each kind (for evidence against, the weakest)."""
        known = self.reasons.get(code)
        if known is None or abs(float(known["weight"])) < abs(weight):
            self.reasons[code] = {"code": code, "weight": weight, **details}

    def weaken(self, code: str, weight: float) -> None:
        """Lower a reason to `weight` (a key found to be common once every block was seen)."""
        known = self.reasons.get(code)
        if known is not None and float(known["weight"]) > weight:
            known["weight"] = weight

    def absorb(self, other: Evidence) -> None:
        for code, reason in other.reasons.items():
            details = {k: v for k, v in reason.items() if k not in {"code", "weight"}}
            self.add(code, float(reason["weight"]), **details)
        self.certain = self.certain or other.certain

    def as_list(self) -> list[dict[str, Any]]:
        """The reasons, strongest first (evidence against last), as stored on a MergeSuggestion."""
        reasons = [r for r in self.reasons.values() if not (float(r["weight"]) < 0 and "same_email" in self.reasons)]
        return sorted(reasons, key=lambda r: (-float(r["weight"]), str(r["code"])))


def fold(text: str) -> str:
    """Lower-case ASCII: transliterated (any script) and without accents."""
    return anyascii(text).lower()


def email_key(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    return email if at and local and "." in domain else ""


def handle_key(handle: str, platform: str = "") -> str:
    """The handle's local part as lower-case ASCII letters and digits; "" when it is too short or generic."""
    local = handle.strip().lstrip("@")
    if ":" in local:  # Matrix: @user:server
        local = local.split(":", 1)[0]
    if "@" in local:  # an address used as a handle
        local = local.split("@", 1)[0]
    if platform.startswith("bsky") or local.endswith(".bsky.social"):  # AT Protocol: user.bsky.social
        local = local.split(".", 1)[0]
    key = _NOT_ALNUM.sub("", fold(local))
    return key if len(key) >= MIN_HANDLE_KEY and key not in GENERIC_HANDLES else ""


def skeleton(token: str) -> str:
    """A phonetic skeleton of a folded word, so transliteration variants of a name meet."""
    for variant, spelling in _SKELETON:
        token = token.replace(variant, spelling)
    return _REPEATS.sub(r"\1", token)


def name_tokens(name: str) -> list[str]:
    return [skeleton(t) for t in _NOT_ALNUM.split(fold(name)) if len(t) >= 2]


def compact_name(name: str) -> str:
    """A name as a handle made of it would be keyed ("Jan Koch" → "jankoch"); "" for a single word."""
    words = [w for w in _NOT_ALNUM.split(fold(name)) if w]
    return "".join(words) if len(words) >= 2 else ""


def name_key(name: str) -> str:
    """Sorted skeleton tokens of a name of two words or more; "" otherwise."""
    tokens = sorted(set(name_tokens(name)))
    return " ".join(tokens)[:200] if len(tokens) >= 2 else ""


def fingerprint(*, platform: str, handle: str, display_name: str, email: str) -> str:
    """Identifies the inputs of the keys: a different fingerprint means the identity changed since."""
    raw = "\0".join((platform, handle, display_name, email))
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()


def keys_for(*, platform: str, handle: str, display_name: str, email: str) -> Keys:
    return Keys(
        email=email_key(email),
        handle=handle_key(handle, platform),
        name=name_key(display_name),
        source=fingerprint(platform=platform, handle=handle, display_name=display_name, email=email),
    )


def name_similarity(a: str, b: str) -> int:
    """0-100: how alike two names are once transliterated, folded and reduced to skeletons."""
    left, right = " ".join(name_tokens(a)), " ".join(name_tokens(b))
    if not left or not right:
        return 0
    return round(fuzz.token_sort_ratio(left, right))


def compare(
    a: IdentityFacts,
    b: IdentityFacts,
    *,
    verified_platforms: Iterable[str] = (),
    common_name: bool = False,
    common_handle: bool = False,
) -> Evidence:
    """The evidence that two identities belong to one person (empty when there is none).

    A name alone is strong enough to suggest a merge only when it is the same name, on two different
    platforms, and no third member bears it (`common_name`): two forum accounts or three people called
    "Anna Lebedeva" are more often different people. Otherwise it only supports other evidence. The same goes
    for a handle three or more members share (`common_handle`). Two different email addresses count against.
    """
    evidence = Evidence()
    verified = VERIFIED_EMAIL_PLATFORMS | set(verified_platforms)
    if a.email_key and a.email_key == b.email_key:
        both_verified = a.platform in verified and b.platform in verified
        evidence.add("same_email", WEIGHT_SAME_EMAIL, email=a.email_key, verified=both_verified)
        evidence.certain = both_verified
    elif a.email_key and b.email_key and not evidence.certain:
        evidence.add("different_email", -WEIGHT_DIFFERENT_EMAIL, emails=[a.email_key, b.email_key])
    if a.handle_key and a.handle_key == b.handle_key and a.platform != b.platform:
        evidence.add(
            "same_handle",
            WEIGHT_COMMON_HANDLE if common_handle else WEIGHT_SAME_HANDLE,
            handles=[a.handle, b.handle],
            platforms=[a.platform, b.platform],
            key=a.handle_key,
            name_shaped=a.handle_key in {compact_name(a.display_name), compact_name(b.display_name)},
        )
    if a.name_key and b.name_key:
        similarity = 100 if a.name_key == b.name_key else name_similarity(a.display_name, b.display_name)
        if similarity >= NAME_SIMILARITY_MIN:
            distinctive = similarity == 100 and a.platform != b.platform and not common_name
            weight = WEIGHT_SAME_NAME if distinctive else WEIGHT_SIMILAR_NAME
            evidence.add(
                "similar_name",
                weight,
                names=[a.display_name, b.display_name],
                similarity=similarity,
                key=a.name_key if a.name_key == b.name_key else "",
            )
    return evidence
