"""The cast of the demo community: members in seven languages, the brand's staff, and a few spammers.

Each person has accounts on one or two of the demo sources. A person with two accounts uses the same
handle on chat-like platforms or the same email address on the forum and the mailbox, which is what the
identity-resolution issue will look for; until then each account is a separate member.
"""

from __future__ import annotations

import dataclasses
import random
import unicodedata
from enum import StrEnum

SOURCE_KEYS = ("forum", "matrix", "email", "irc", "bsky")
BRAND_DOMAIN = "aurora.example"


class Role(StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    MODERATOR = "moderator"  # a volunteer moderator: a member with moderation rights
    SPAMMER = "spammer"


@dataclasses.dataclass(frozen=True, slots=True)
class Account:
    author_id: str
    name: str
    handle: str
    email: str = ""


@dataclasses.dataclass(slots=True)
class Person:
    key: int
    first_name: str
    full_name: str
    language: str
    utc_offset: int  # hours; messages carry the author's local offset
    accounts: dict[str, Account]
    joined_day: int  # day index (0 = the oldest day) from which the person takes part
    weight: float  # how active the person is, relative to others
    role: Role = Role.MEMBER
    languages: tuple[str, ...] = ()  # staff: the languages they answer in

    @property
    def is_team(self) -> bool:
        return self.role in {Role.STAFF, Role.MODERATOR}


@dataclasses.dataclass(frozen=True, slots=True)
class LanguageProfile:
    share: float  # of the community's members
    offsets: tuple[int, ...]  # plausible UTC offsets
    mail_domain: str
    # Where people of this language tend to be: weights over SOURCE_KEYS.
    source_weights: tuple[int, int, int, int, int]


PROFILES = {
    "en": LanguageProfile(0.40, (0, 0, -5, -5, -8, 1, 10), "mailbox.example", (40, 25, 15, 8, 20)),
    "it": LanguageProfile(0.15, (1,), "posta.example", (45, 15, 25, 2, 13)),
    "es": LanguageProfile(0.15, (1, 1, -3, -5, -6), "correo.example", (40, 15, 25, 2, 18)),
    "ru": LanguageProfile(0.14, (3, 3, 3, 5, 7), "pochta.example", (45, 20, 20, 10, 5)),
    "fr": LanguageProfile(0.06, (1, 1, -4), "courriel.example", (50, 10, 25, 0, 15)),
    "de": LanguageProfile(0.06, (1,), "post.example", (45, 20, 20, 5, 10)),
    "pt": LanguageProfile(0.04, (-3, -3, 0), "correio.example", (45, 10, 25, 0, 20)),
}

# (first names, last names); Russian names carry a Latin form for handles and a feminine surname.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        ("Emma", "Liam", "Olivia", "Noah", "Ava", "James", "Sophie", "Ethan", "Grace", "Oliver", "Chloe", "Jack",
         "Mia", "Henry", "Zoe", "Daniel", "Hannah", "Ryan", "Lucy", "Sam", "Marcus", "Aisha", "Tom", "Kate", "Ben",
         "Nora", "Owen", "Maya", "Isaac", "Ruby"),
        ("Smith", "Walker", "Chen", "Patel", "O'Brien", "Turner", "Hughes", "Brooks", "Reed", "Carter", "Murphy",
         "Kim", "Foster", "Bennett", "Price", "Hayes", "Ward", "Collins", "Nguyen", "Okafor", "Shaw", "Lee"),
    ),
    "it": (
        ("Marco", "Luca", "Francesca", "Alessandro", "Chiara", "Matteo", "Sara", "Lorenzo", "Elena", "Davide",
         "Martina", "Simone", "Federica", "Andrea", "Valentina", "Paolo", "Silvia", "Stefano", "Ilaria", "Giorgio"),
        ("Rossi", "Bianchi", "Esposito", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo",
         "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Lombardi", "Moretti", "Barbieri", "Fontana"),
    ),
    "es": (
        ("Javier", "Lucía", "Carlos", "María", "Diego", "Sofía", "Pablo", "Carmen", "Andrés", "Elena", "Miguel",
         "Laura", "Alejandro", "Paula", "Raúl", "Marta", "Sergio", "Valeria", "Mateo", "Camila", "Jorge"),
        ("García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Díaz", "Moreno", "Álvarez",
         "Romero", "Navarro", "Torres", "Ruiz", "Castillo", "Ortega", "Vargas", "Herrera", "Rojas", "Mendoza"),
    ),
    "fr": (
        ("Julien", "Chloé", "Thomas", "Manon", "Hugo", "Léa", "Antoine", "Inès", "Mathieu", "Claire", "Nicolas"),
        ("Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Lefèvre", "Girard", "Roux", "Fournier", "Mercier"),
    ),
    "de": (
        ("Lukas", "Anna", "Felix", "Laura", "Max", "Lea", "Paul", "Sophie", "Tim", "Katharina", "Jan", "Miriam"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Koch", "Richter", "Wolf"),
    ),
    "pt": (
        ("João", "Ana", "Pedro", "Beatriz", "Lucas", "Mariana", "Gabriel", "Juliana", "Rafael", "Larissa"),
        ("Silva", "Santos", "Oliveira", "Souza", "Pereira", "Almeida", "Ferreira", "Rodrigues", "Carvalho"),
    ),
}  # fmt: skip

# Russian: (Cyrillic first name, Latin handle stem, feminine?) and (masculine, feminine, Latin) surnames.
RU_FIRST = (
    ("Алексей", "aleksey", False), ("Мария", "maria", True), ("Анна", "anna", True), ("Иван", "ivan", False),
    ("Екатерина", "katya", True), ("Сергей", "sergey", False), ("Ольга", "olga", True), ("Никита", "nikita", False),
    ("Татьяна", "tanya", True), ("Павел", "pavel", False), ("Юлия", "yulia", True), ("Артём", "artem", False),
    ("Наталья", "natasha", True), ("Михаил", "misha", False), ("Ксения", "ksenia", True), ("Андрей", "andrey", False),
    ("Светлана", "sveta", True), ("Егор", "egor", False), ("Дарья", "dasha", True), ("Роман", "roman", False),
)  # fmt: skip
RU_LAST = (
    ("Смирнов", "Смирнова", "smirnov"), ("Кузнецов", "Кузнецова", "kuznetsov"), ("Попов", "Попова", "popov"),
    ("Соколов", "Соколова", "sokolov"), ("Лебедев", "Лебедева", "lebedev"), ("Новиков", "Новикова", "novikov"),
    ("Морозов", "Морозова", "morozov"), ("Орлов", "Орлова", "orlov"), ("Зайцев", "Зайцева", "zaytsev"),
    ("Белов", "Белова", "belov"), ("Ковалёв", "Ковалёва", "kovalev"), ("Егоров", "Егорова", "egorov"),
)  # fmt: skip

# Handles people pick when they do not use their name.
NICKNAMES = (
    "beanhunter", "cremaqueen", "v60nerd", "slowpour", "grindgeek", "mokapot", "ristretto", "bloomtime",
    "drawdown", "lightroast", "cortado", "filterfan", "aeropressed", "portafilter", "cuppingclub", "latteart",
)  # fmt: skip

SPAM_HANDLES = ("cheap_beans_4u", "bestdeals2024", "promo_coffee_shop", "easy_money_now", "followers_boost",
                "crypto_barista", "deal_hunter_xx", "mega_sale_365")  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class StaffSpec:
    first_name: str
    full_name: str
    handle: str
    languages: tuple[str, ...]
    utc_offset: int
    sources: tuple[str, ...]
    role: Role = Role.STAFF


STAFF = (
    StaffSpec("Giulia", "Giulia Ferri", "giulia_aurora", ("en", "it"), 1, ("forum", "matrix", "bsky")),
    StaffSpec("Sofia", "Sofia Márquez", "sofia_aurora", ("es", "pt", "en"), 1, ("forum", "matrix")),
    StaffSpec("Dmitri", "Dmitri Volkov", "dmitri_aurora", ("ru", "en"), 1, ("forum", "matrix", "irc")),
    StaffSpec("Camille", "Camille Laurent", "camille_aurora", ("fr", "en"), 1, ("forum",)),
    StaffSpec("Jonas", "Jonas Weber", "jonas_aurora", ("de", "en"), 1, ("forum",)),
    # A long-time member who volunteers as a moderator (her Communa login is "lena").
    StaffSpec("Lena", "Lena Hoffmann", "lena_h", ("en", "de"), 1, ("forum", "matrix", "irc"), Role.MODERATOR),
)
SUPPORT_SIGNATURES = {"en": "Giulia", "it": "Giulia", "es": "Sofia", "pt": "Sofia", "ru": "Dmitri",
                      "fr": "Camille", "de": "Jonas"}  # fmt: skip


def launch_day(days: int) -> int:
    """The Vela 2 launch: the busiest day of the window, about five weeks ago in a 90-day demo."""
    return int(days * 0.6)


def ascii_handle(text: str) -> str:
    """Lower-case ASCII for handles: "Lucía De Luca" → "luciadeluca"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


class Casting:
    """Creates people with unique handles; every choice comes from the one seeded `rng`."""

    def __init__(self, rng: random.Random, days: int) -> None:
        self.rng = rng
        self.days = days
        self.taken: set[str] = set()
        self.people: list[Person] = []

    def unique(self, handle: str) -> str:
        candidate = handle
        while candidate in self.taken:
            candidate = f"{handle}{self.rng.randint(2, 99)}"
        self.taken.add(candidate)
        return candidate

    def name(self, language: str) -> tuple[str, str, str]:
        """(first name, full name, Latin stem for handles)."""
        if language == "ru":
            first, latin, feminine = self.rng.choice(RU_FIRST)
            masculine, feminine_last, latin_last = self.rng.choice(RU_LAST)
            last = feminine_last if feminine else masculine
            return first, f"{first} {last}", f"{latin}_{latin_last}"
        firsts, lasts = NAMES[language]
        first, last = self.rng.choice(firsts), self.rng.choice(lasts)
        return first, f"{first} {last}", f"{ascii_handle(first)}_{ascii_handle(last)}"

    def handle(self, stem: str) -> str:
        first = stem.split("_")[0]
        style = self.rng.random()
        if style < 0.3:
            return self.unique(stem)
        if style < 0.55:
            return self.unique(f"{first}{self.rng.randint(1, 99)}")
        if style < 0.75:
            return self.unique(f"{first}_{self.rng.choice(NICKNAMES)}")
        return self.unique(self.rng.choice(NICKNAMES))

    def joined_day(self) -> int:
        """A third were here before the window opens; the rest join at a growing pace, many at the launch."""
        draw = self.rng.random()
        if draw < 0.35:
            return 0
        if draw < 0.43:
            return launch_day(self.days)
        return min(self.days - 1, int(self.days * self.rng.random() ** 0.7))

    def member(self, language: str) -> Person:
        profile = PROFILES[language]
        first, full, stem = self.name(language)
        handle = self.handle(stem)
        sources = self.sources(profile)
        person = Person(
            key=len(self.people),
            first_name=first,
            full_name=full if self.rng.random() < 0.7 else first,
            language=language,
            utc_offset=self.rng.choice(profile.offsets),
            accounts={},
            joined_day=self.joined_day(),
            weight=min(12.0, self.rng.paretovariate(1.4)),
        )
        for source in sources:
            person.accounts[source] = account_for(source, person, handle, f"{handle}@{profile.mail_domain}", self.rng)
        self.people.append(person)
        return person

    def sources(self, profile: LanguageProfile) -> list[str]:
        first = self.rng.choices(SOURCE_KEYS, weights=profile.source_weights)[0]
        if self.rng.random() >= 0.18:
            return [first]
        # The second account is where resolution can find them: same handle on chat, same email on mail.
        pairs = {"forum": "email", "email": "forum", "matrix": "irc", "irc": "matrix", "bsky": "forum"}
        return [first, pairs[first]]

    def staff(self, spec: StaffSpec) -> Person:
        person = Person(
            key=len(self.people),
            first_name=spec.first_name,
            full_name=spec.full_name,
            language=spec.languages[0],
            utc_offset=spec.utc_offset,
            accounts={},
            joined_day=0,
            weight=1.0,
            role=spec.role,
            languages=spec.languages,
        )
        self.taken.add(spec.handle)
        email = f"{spec.first_name.lower()}@{BRAND_DOMAIN}"
        for source in spec.sources:
            person.accounts[source] = account_for(source, person, spec.handle, email, self.rng)
        self.people.append(person)
        return person

    def brand(self) -> Person:
        """The shared accounts the team speaks through: the support mailbox and the brand's Bluesky."""
        person = Person(
            key=len(self.people),
            first_name="Aurora",
            full_name="Aurora Coffee",
            language="en",
            utc_offset=1,
            accounts={
                "email": Account(f"support@{BRAND_DOMAIN}", "Aurora Support", "support", f"support@{BRAND_DOMAIN}"),
                "bsky": Account("did:plc:auroracoffee7q2x4mbr6tny", "Aurora Coffee", BRAND_DOMAIN),
            },
            joined_day=0,
            weight=1.0,
            role=Role.STAFF,
            languages=tuple(PROFILES),
        )
        self.people.append(person)
        return person

    def spammer(self, day: int) -> Person:
        handle = self.unique(self.rng.choice(SPAM_HANDLES))
        person = Person(
            key=len(self.people),
            first_name=handle,
            full_name=handle.replace("_", " ").title(),
            language="en",
            utc_offset=self.rng.choice((0, 3, 8)),
            accounts={},
            joined_day=day,
            weight=0.0,
            role=Role.SPAMMER,
        )
        for source in ("forum", "bsky", "matrix"):
            person.accounts[source] = account_for(source, person, handle, f"{handle}@spam.example", self.rng)
        self.people.append(person)
        return person


def account_for(source: str, person: Person, handle: str, email: str, rng: random.Random) -> Account:
    """How the same person appears on each platform (ids shaped like the platform's own)."""
    name = person.full_name
    if source == "forum":
        return Account(str(1000 + person.key * 7 + rng.randint(0, 6)), name, handle, email)
    if source == "matrix":
        server = BRAND_DOMAIN if person.role is not Role.MEMBER or rng.random() < 0.6 else "matrix.example"
        mxid = f"@{handle}:{server}"
        return Account(mxid, name, mxid)
    if source == "email":
        return Account(email, name, email.split("@")[0], email)
    if source == "irc":
        nick = handle[:16]  # Libera's limit
        return Account(nick, nick, nick)
    did = "did:plc:" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(24))
    return Account(did, name, f"{handle.replace('_', '-')}.bsky.social")


def cast(rng: random.Random, *, days: int, members: int) -> Casting:
    """The staff, the brand accounts and `members` community members, ordered by key."""
    casting = Casting(rng, days)
    for spec in STAFF:
        casting.staff(spec)
    casting.brand()
    languages = list(PROFILES)
    weights = [PROFILES[language].share for language in languages]
    for _ in range(members):
        casting.member(rng.choices(languages, weights=weights)[0])
    return casting
