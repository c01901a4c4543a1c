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
import functools
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
# One handle is the other plus one or two digits ("lucybennett4630" and "lucybennett463021"), the shorter one
# already numbered: people add a digit or two where their handle was taken. A handle without digits plus a number
# is what strangers pick too ("danielkim" and "danielkim55"): no evidence.
WEIGHT_HANDLE_VARIANT = 0.6
VARIANT_MIN_KEY = 5
# Both handles of a numbered variant held by two members on one platform: proven to be two people there.
WEIGHT_COMMON_VARIANT = 0.3
# Two different addresses reported for the two identities: evidence against (most people use one address
# with a community); it scales the score down rather than forbidding the pair (people do have two).
WEIGHT_DIFFERENT_EMAIL = 0.5
NAME_SIMILARITY_MIN = 90  # rapidfuzz token_sort_ratio on the folded names, 0-100

# A pair scoring less than this is not worth a person's time.
SUGGEST_MIN_SCORE = 0.5

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_TRAILING_DIGITS = re.compile(r"[0-9]+$")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
_REPEATS = re.compile(r"(.)\1+")
_APOSTROPHES = re.compile(r"['\u2019\u02bc`]")  # O'Brien, and the soft sign: "Наталья" → "Natal'ya"
# Spelling variants that the romanisations of Russian (BGN/PCGN "Dmitriy", ISO 9 "Dmitrij", passports "Dmitrii",
# French/German "Dmitri", "Kuznetsoff") and other languages produce for one sound, folded to one spelling.
_SKELETON_START = re.compile(r"^(ye|ie|e)")  # Yekaterina / Ekaterina, Yegorov / Egorov
_SKELETON_END = re.compile(r"(ov|off|of)$")  # Kuznetsov / Kuznetsoff
_SKELETON = (
    ("shch", "sh"), ("kh", "h"), ("ch", "h"), ("ph", "f"), ("ck", "k"), ("ks", "x"), ("tz", "c"), ("ts", "c"),
    ("zh", "z"), ("yo", "e"), ("w", "v"), ("y", "i"), ("j", "i"),
)  # fmt: skip
# Part of every identity's key fingerprint: a new version re-keys every identity on the next full run.
KEYS_VERSION = "2"


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
        variant = self.reasons.get("handle_variant")
        if variant is not None and (handle is None or float(variant["weight"]) > float(handle["weight"])):
            handle = variant
        echo = handle is not None and name is not None and bool(handle.get("name_shaped"))
        skip = (handle["code"] if float(handle["weight"]) <= float(name["weight"]) else "similar_name") if echo else ""  # type: ignore[index]
        skip_also = "same_handle" if skip == "handle_variant" else "handle_variant" if skip == "same_handle" else ""
        for code, reason in self.reasons.items():
            weight = float(reason["weight"])
            if code in {skip, skip_also}:
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
    return text.lower() if text.isascii() else anyascii(text).lower()


def email_key(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    return email if at and local and "." in domain else ""


def _local_part(handle: str, platform: str) -> str:
    local = handle.strip().lstrip("@")
    if ":" in local:  # Matrix: @user:server
        local = local.split(":", 1)[0]
    if "@" in local:  # an address used as a handle
        local = local.split("@", 1)[0]
    if platform.startswith("bsky") or local.endswith(".bsky.social"):  # AT Protocol: user.bsky.social
        local = local.split(".", 1)[0]
    return fold(local)


def handle_key(handle: str, platform: str = "") -> str:
    """The handle's local part as lower-case ASCII letters and digits; "" when it is too short or generic."""
    key = _NOT_ALNUM.sub("", _local_part(handle, platform))
    generic = key in GENERIC_HANDLES or _TRAILING_DIGITS.sub("", key) in GENERIC_HANDLES  # "admin", "admin99"
    return key if len(key) >= MIN_HANDLE_KEY and not generic else ""


def handle_form(handle: str, platform: str = "") -> str:
    """The handle with its word breaks ("jan.koch", "jan_koch", "jankoch"): one key, three choices people make.
    Bluesky allows only "-" between words, so its forms are written with "~" there: "jan-koch.bsky.social" →
    "jan~koch", which may be either "jan.koch" or "jan_koch" elsewhere."""
    local = _SEPARATORS.sub(lambda m: m.group()[0], _local_part(handle, platform)).strip("._-")
    return _SEPARATORS.sub("~", local) if platform.startswith("bsky") or handle.endswith(".bsky.social") else local


def loose_form(form: str) -> str:
    """A form with any word break written "~": what a Bluesky form can be compared with."""
    return _SEPARATORS.sub("~", form)


def forms_match(a: str, b: str) -> bool:
    return a == b or (("~" in a or "~" in b) and loose_form(a) == loose_form(b))


def is_handle_variant(short: str, long: str) -> bool:
    """`long` is the numbered handle `short` plus one or two digits ("analima82" → "analima8217"); a handle
    numbered with one digit ("analima8") is what many people named Ana Lima pick: not distinctive."""
    extra = len(long) - len(short)
    numbered = _TRAILING_DIGITS.search(short)
    return (
        0 < extra <= 2
        and len(short) >= VARIANT_MIN_KEY
        and numbered is not None
        and len(numbered.group()) >= 2
        and long.startswith(short)
        and long[len(short) :].isdigit()
    )


def skeleton(token: str) -> str:
    """A phonetic skeleton of a folded word, so transliteration variants of a name meet."""
    token = _SKELETON_END.sub("ov", _SKELETON_START.sub("e", token))
    for variant, spelling in _SKELETON:
        token = token.replace(variant, spelling)
    return _REPEATS.sub(r"\1", token)


def _words(name: str) -> list[str]:
    return [w for w in _NOT_ALNUM.split(_APOSTROPHES.sub("", fold(name))) if w]


def name_tokens(name: str) -> list[str]:
    return [skeleton(t) for t in _words(name) if len(t) >= 2]


def compact_name(name: str) -> str:
    """A name as a handle made of it would be keyed ("Jan Koch" → "jankoch"); "" for a single word."""
    words = _words(name)
    return "".join(words) if len(words) >= 2 else ""


@functools.lru_cache(maxsize=65536)  # names repeat: a workspace has far fewer names than identities
def name_key(name: str) -> str:
    """Sorted skeleton tokens of a name of two words or more; "" otherwise."""
    tokens = sorted(set(name_tokens(name)))
    return " ".join(tokens)[:200] if len(tokens) >= 2 else ""


def fingerprint(*, platform: str, handle: str, display_name: str, email: str) -> str:
    """Identifies the inputs of the keys: a different fingerprint means the identity changed since."""
    raw = "\0".join((KEYS_VERSION, platform, handle, display_name, email))
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()


def is_handle_as_name(display_name: str, handle: str, platform: str = "") -> bool:
    """The display name is the handle itself (IRC has no names; forums and Matrix show the handle when no
    name was given): it is not a name anyone typed, and counting it as one would count the handle twice."""
    shown = fold(display_name.strip().lstrip("@"))
    return bool(shown) and shown in {fold(handle.strip().lstrip("@")), _local_part(handle, platform)}


def keys_for(*, platform: str, handle: str, display_name: str, email: str) -> Keys:
    as_handle = is_handle_as_name(display_name, handle, platform)
    return Keys(
        email=email_key(email),
        handle=handle_key(handle, platform),
        name="" if as_handle else name_key(display_name),
        source=fingerprint(platform=platform, handle=handle, display_name=display_name, email=email),
    )


def name_similarity(a: str, b: str) -> int:
    """0-100: how alike two names are once transliterated, folded and reduced to skeletons."""
    left, right = " ".join(name_tokens(a)), " ".join(name_tokens(b))
    if not left or not right:
        return 0
    return round(fuzz.token_sort_ratio(left, right))


def _variant_forms(short: IdentityFacts, long: IdentityFacts) -> bool:
    """A numbered variant written with the same word breaks ("ana_lima82", "ana_lima8217"; not "analima8217")."""
    if not is_handle_variant(short.handle_key, long.handle_key):
        return False
    extra = len(long.handle_key) - len(short.handle_key)
    return forms_match(handle_form(short.handle, short.platform), handle_form(long.handle, long.platform)[:-extra])


def _compare_handles(
    evidence: Evidence, a: IdentityFacts, b: IdentityFacts, common_forms: Iterable[str], *, common_variant: bool
) -> None:
    if a.handle_key == b.handle_key:
        form, other = handle_form(a.handle, a.platform), handle_form(b.handle, b.platform)
        same_form, same_literal = forms_match(form, other), form == other
        if "~" in other:  # compare in the less precise spelling, the one both sides can be written in
            form = loose_form(form)
        common = form in common_forms or (not same_literal and loose_form(form) in common_forms)
        evidence.add(
            "same_handle",
            WEIGHT_SAME_HANDLE if same_form and not common else WEIGHT_COMMON_HANDLE,
            handles=[a.handle, b.handle],
            platforms=[a.platform, b.platform],
            key=a.handle_key,
            form=form if same_form else "",
            name_shaped=_name_shaped(a, b),
        )
    elif _variant_forms(a, b) or _variant_forms(b, a):
        evidence.add(
            "handle_variant",
            WEIGHT_COMMON_VARIANT if common_variant else WEIGHT_HANDLE_VARIANT,
            handles=[a.handle, b.handle],
            platforms=[a.platform, b.platform],
            name_shaped=_name_shaped(a, b),
        )


def _name_shaped(a: IdentityFacts, b: IdentityFacts) -> bool:
    """A handle made of the name ("jankoch" for Jan Koch; "Mega Sale 365" for mega_sale_365): the name and the
    handle are one piece of evidence, not two."""
    return bool({compact_name(a.display_name), compact_name(b.display_name)} & {a.handle_key, b.handle_key})


def compare(
    a: IdentityFacts,
    b: IdentityFacts,
    *,
    verified_platforms: Iterable[str] = (),
    common_name: bool = False,
    common_forms: frozenset[str] | set[str] = frozenset(),
    common_variant: bool = False,
) -> Evidence:
    """The evidence that two identities belong to one person (empty when there is none).

    A name alone is strong enough to suggest a merge only when it is the same name, on two different
    platforms, and no third member bears it (`common_name`): two forum accounts or three people called
    "Anna Lebedeva" are more often different people. Otherwise it only supports other evidence. The same goes
    for a handle whose form two members hold on one platform (`common_forms`), and for the same handle key
    written differently ("jan.koch" and "jankoch"), and for numbered variants that two members hold on one platform
    (`common_variant`: "ana82" and "ana8217" are two people there). Two different email addresses count against.
    """
    evidence = Evidence()
    verified = VERIFIED_EMAIL_PLATFORMS | set(verified_platforms)
    if a.email_key and a.email_key == b.email_key:
        both_verified = a.platform in verified and b.platform in verified
        evidence.add("same_email", WEIGHT_SAME_EMAIL, email=a.email_key, verified=both_verified)
        evidence.certain = both_verified
    elif a.email_key and b.email_key and not evidence.certain:
        evidence.add("different_email", -WEIGHT_DIFFERENT_EMAIL, emails=[a.email_key, b.email_key])
    if a.handle_key and b.handle_key and a.platform != b.platform:
        _compare_handles(evidence, a, b, common_forms, common_variant=common_variant)
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
