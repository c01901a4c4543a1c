"""Members benchmark (PostgreSQL): identity resolution at 1,000,000 identities, and the member list filtered.

    COMMUNA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_members .venv/bin/python bench/members.py
        [--scale 1.0]  (1.0 = 1,000,000 identities across 5 platforms; --scale 0.02 for a quick run)

1. Generates people with known identities (the ground truth): each person has one identity (68 %), two (24 %)
   or three (8 %) on five platforms (a mailbox, a forum, Matrix, IRC, Bluesky), the way people really appear:
   the same email on the forum and in the mailbox (most of the time), the same handle on chat platforms or a
   variant of it, the full name on some platforms and only a first name or a nick on others, Russian names in
   Cyrillic on one platform and transliterated on another, accents dropped. And the traps: common full names
   borne by unrelated people, popular nicknames used by strangers ("coffeelover"), generic handles. One member
   per identity, written set-based (COPY), as ingest leaves them.
2. Times `generate_suggestions` over the whole workspace (keys computed for every identity, blocks compared,
   suggestions stored) and measures precision and recall of the suggested pairs against the ground truth, per
   score threshold. Target: precision ≥ 0.95 at recall ≥ 0.8.
3. Gives every member an engagement level and a main language (what the engagement tasks maintain), saves a
   segment "Italian regulars" (level regular + main language it) and times the first page of the member list
   through that segment (the query the list page runs: segment filter, last seen first, 50 rows with their
   identities), 30 times with varying segments: p50/p95. Target p95 < 150 ms.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "communa.config.settings")

PLATFORMS = ("email", "discourse:forum.example.org", "matrix:example.org", "irc:libera.chat", "bsky.social")
FIRST = {
    "en": ["James", "Emma", "Oliver", "Sophie", "Liam", "Grace", "Noah", "Chloe", "Henry", "Ruby", "Jack", "Mia",
           "Daniel", "Hannah", "Ryan", "Lucy", "Samuel", "Nora", "Owen", "Maya", "Isaac", "Zoe", "Thomas", "Kate"],
    "it": ["Marco", "Luca", "Francesca", "Chiara", "Matteo", "Sara", "Lorenzo", "Elena", "Davide", "Martina",
           "Simone", "Federica", "Andrea", "Valentina", "Paolo", "Silvia", "Stefano", "Ilaria", "Giorgio", "Niccolò"],
    "es": ["Javier", "Lucía", "Carlos", "María", "Diego", "Sofía", "Pablo", "Carmen", "Andrés", "Elena", "Miguel",
           "Laura", "Alejandro", "Paula", "Raúl", "Marta", "Sergio", "Valeria", "Mateo", "Camila", "José", "Inés"],
    "de": ["Lukas", "Anna", "Felix", "Laura", "Max", "Lea", "Paul", "Sophie", "Jörg", "Katharina", "Jan", "Jürgen"],
    "fr": ["Julien", "Chloé", "Thomas", "Manon", "Hugo", "Léa", "Antoine", "Inès", "Mathieu", "Hélène", "Nicolas"],
    "pt": ["João", "Ana", "Pedro", "Beatriz", "Lucas", "Mariana", "Gabriel", "Juliana", "Rafael", "Conceição"],
}  # fmt: skip
LAST = {
    "en": ["Smith", "Walker", "Chen", "Patel", "O'Brien", "Turner", "Hughes", "Brooks", "Reed", "Carter", "Murphy",
           "Kim", "Foster", "Bennett", "Price", "Hayes", "Ward", "Collins", "Nguyen", "Okafor", "Shaw", "Lee", "Young",
           "Hill", "Wright", "Green", "Baker", "Adams", "Nelson", "Mitchell", "Roberts", "Campbell", "Parker", "Evans"],
    "it": ["Rossi", "Bianchi", "Esposito", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo",
           "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Lombardi", "Moretti", "Barbieri", "Fontana", "Rinaldi",
           "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo", "Gentile", "Martinelli", "Vitale", "Serra"],
    "es": ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Díaz", "Moreno", "Álvarez",
           "Romero", "Navarro", "Torres", "Ruiz", "Castillo", "Ortega", "Vargas", "Herrera", "Rojas", "Mendoza",
           "Jiménez", "Muñoz", "Iglesias", "Medina", "Garrido", "Cortés", "Castro", "Núñez", "Ibáñez", "Peña"],
    "de": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Koch", "Richter", "Wolf",
           "Schäfer", "Krüger", "Hoffmann", "Schröder", "Neumann", "Braun", "Zimmermann", "Hartmann"],
    "fr": ["Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Lefèvre", "Girard", "Roux", "Fournier", "Mercier",
           "Bonnet", "Rousseau", "Blanc", "Guérin", "Faure", "André", "Chevalier", "François"],
    "pt": ["Silva", "Santos", "Oliveira", "Souza", "Pereira", "Almeida", "Ferreira", "Rodrigues", "Carvalho",
           "Gonçalves", "Ribeiro", "Araújo", "Fernandes", "Lima", "Barbosa", "Gomes", "Cardoso", "Rocha"],
}  # fmt: skip
# Russian: Cyrillic, and the Latin spellings people use for themselves (transliteration varies).
RU_FIRST = [("Дмитрий", ("Dmitry", "Dmitriy", "Dmitrii")), ("Алексей", ("Alexey", "Aleksey", "Alexei")),
            ("Мария", ("Maria", "Mariya")), ("Анна", ("Anna",)), ("Сергей", ("Sergey", "Sergei")),
            ("Екатерина", ("Ekaterina", "Yekaterina")), ("Юлия", ("Yulia", "Julia", "Yuliya")),
            ("Михаил", ("Mikhail", "Michail")), ("Ольга", ("Olga",)), ("Андрей", ("Andrey", "Andrei")),
            ("Наталья", ("Natalya", "Natalia")), ("Павел", ("Pavel",)), ("Ксения", ("Ksenia", "Kseniya")),
            ("Артём", ("Artyom", "Artem")), ("Татьяна", ("Tatyana", "Tatiana")), ("Никита", ("Nikita",))]  # fmt: skip
RU_LAST = [("Смирнов", ("Smirnov",)), ("Кузнецов", ("Kuznetsov", "Kuznetsoff")), ("Попов", ("Popov",)),
           ("Соколов", ("Sokolov",)), ("Лебедев", ("Lebedev",)), ("Новиков", ("Novikov",)), ("Морозов", ("Morozov",)),
           ("Волков", ("Volkov",)), ("Зайцев", ("Zaytsev", "Zaitsev")), ("Белов", ("Belov",)),
           ("Ковалёв", ("Kovalev", "Kovalyov")), ("Егоров", ("Egorov", "Yegorov")),
           ("Фёдоров", ("Fedorov", "Fyodorov")),
           ("Михайлов", ("Mikhailov", "Mikhaylov")), ("Орлов", ("Orlov",)), ("Никитин", ("Nikitin",))]  # fmt: skip
LANG_WEIGHTS = {"en": 40, "it": 12, "es": 15, "ru": 14, "de": 8, "fr": 6, "pt": 5}
MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "mail.ru", "libero.it", "gmx.de", "proton.me", "orange.fr")
POPULAR_NICKS = ("coffeelover", "barista", "espresso", "latteart", "beanhunter", "v60nerd", "mokapot", "cremaqueen",
                 "slowpour", "grindgeek", "aeropress", "cortado", "ristretto", "filterfan", "bloomtime",
                 "drawdown")  # fmt: skip
GENERIC = ("admin", "info", "support", "test", "user")


def _person_name(rng: random.Random, language: str) -> tuple[str, str]:
    """(name as written on "home" platforms, name as written elsewhere): transliterated for Russian, accents
    dropped now and then elsewhere."""
    if language == "ru":
        (first, first_latin), (last, last_latin) = rng.choice(RU_FIRST), rng.choice(RU_LAST)
        if first.endswith("я") or first.endswith("а"):  # feminine surnames
            last, last_latin = last + "а", tuple(v + "a" for v in last_latin)
        return f"{first} {last}", f"{rng.choice(first_latin)} {rng.choice(last_latin)}"
    first, last = rng.choice(FIRST[language]), rng.choice(LAST[language])
    name = f"{first} {last}"
    if rng.random() < 0.25:
        import unicodedata

        plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
        return name, plain
    return name, name


def _ascii(text: str) -> str:
    from anyascii import anyascii

    return "".join(c for c in anyascii(text).lower() if c.isalnum())


def generate(scale: float, seed: int = 7) -> tuple[list[tuple[Any, ...]], list[int]]:
    """Identity rows (platform, external_id, handle, display_name, email) and each row's person."""
    rng = random.Random(seed)
    target = int(1_000_000 * scale)
    languages, weights = list(LANG_WEIGHTS), list(LANG_WEIGHTS.values())
    rows: list[tuple[Any, ...]] = []
    person_of: list[int] = []
    taken: set[str] = set()
    used: set[tuple[str, str]] = set()
    person = 0
    while len(rows) < target:
        person += 1
        language = rng.choices(languages, weights)[0]
        home_name, other_name = _person_name(rng, language)
        draw = rng.random()
        count = 1 if draw < 0.68 else 2 if draw < 0.92 else 3
        platforms = rng.sample(PLATFORMS, count)
        stem = _ascii(other_name.split()[0]) + rng.choice(("", "_", ".")) + _ascii(other_name.split()[-1])
        style = rng.random()
        if style < 0.03:
            handle = rng.choice(POPULAR_NICKS)  # strangers share it
        elif style < 0.04:
            handle = rng.choice(GENERIC)
        else:
            handle = stem if style < 0.35 else f"{stem[:12]}{rng.randint(1, 9999)}"
            while handle in taken:
                handle = f"{stem[:12]}{rng.randint(1, 99999)}"
            taken.add(handle)
        email = f"{handle if style >= 0.04 else stem + str(person)}@{rng.choice(MAIL_DOMAINS)}"
        for platform in platforms:
            row = _identity(rng, platform, person, handle, email, home_name, other_name, language)
            if (row[0], row[1]) in used:  # the platform gave the handle to someone else first: another server
                row = (row[0], f"{row[1]}#{person}", *row[2:])
            used.add((row[0], row[1]))
            rows.append(row)
            person_of.append(person)
    return rows[:target], person_of[:target]


def _identity(
    rng: random.Random, platform: str, person: int, handle: str, email: str, home: str, other: str, language: str
) -> tuple[Any, ...]:
    # Variants: people do not always use the same handle, name or address everywhere.
    own_handle = handle if rng.random() < 0.85 else f"{handle}{rng.randint(1, 99)}"
    name = home if language == "ru" and platform in {"email", "matrix:example.org"} and rng.random() < 0.6 else other
    if rng.random() < 0.2:
        name = name.split()[0]  # a first name only
    if platform == "email":
        return platform, email, email.split("@")[0], name if rng.random() < 0.85 else "", email
    if platform.startswith("discourse"):
        return (
            platform,
            f"u{person}",
            own_handle,
            name if rng.random() < 0.75 else own_handle,
            email if rng.random() < 0.8 else "",
        )
    if platform.startswith("matrix"):
        mxid = f"@{own_handle}:example.org"
        return platform, mxid, mxid, name if rng.random() < 0.6 else own_handle, ""
    if platform.startswith("irc"):
        nick = own_handle[:16]
        return platform, f"{nick}!{person}", nick, nick, ""
    bsky = f"{own_handle.replace('_', '-').replace('.', '-')}.bsky.social"
    return platform, f"did:plc:{person:024d}", bsky, name if rng.random() < 0.7 else "", ""


def load(ws_id: int, rows: list[tuple[Any, ...]]) -> list[int]:
    """COPY the identities in, then one member per identity (set-based, as ingest does); identity ids in order."""
    from django.db import connection

    now = datetime.now(UTC)
    with connection.cursor() as c:
        raw = c.cursor
        with raw.copy(
            "COPY members_identity (workspace_id, platform, external_id, handle, display_name, email, url, is_bot,"
            " first_seen_at, last_seen_at, email_key, handle_key, name_key, keyed_from) FROM STDIN"
        ) as copy:
            for i, (platform, external_id, handle, name, email) in enumerate(rows):
                seen = now - timedelta(minutes=i % 500_000)
                copy.write_row(
                    (ws_id, platform, external_id, handle, name, email, "", False, seen, seen, "", "", "", "")
                )
        c.execute(
            "INSERT INTO members_member (workspace_id, display_name, origin_identity_id, is_bot, is_staff,"
            " first_seen_at, last_seen_at, created_at, message_count)"
            " SELECT workspace_id, COALESCE(NULLIF(display_name, ''), handle), id, false, false, first_seen_at,"
            " last_seen_at, now(), 1 FROM members_identity WHERE workspace_id = %s AND member_id IS NULL",
            [ws_id],
        )
        c.execute(
            "UPDATE members_identity i SET member_id = m.id FROM members_member m"
            " WHERE m.origin_identity_id = i.id AND i.workspace_id = %s",
            [ws_id],
        )
        c.execute("SELECT id FROM members_identity WHERE workspace_id = %s ORDER BY id", [ws_id])
        ids = [r[0] for r in c.fetchall()]
        c.execute("ANALYZE members_identity")
        c.execute("ANALYZE members_member")
    return ids


def evaluate(ws_id: int, identity_ids: list[int], person_of: list[int], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Pairwise precision and recall of suggestions (member pairs) against the ground truth, per threshold; and
    recall over the *resolvable* true pairs: those whose two identities share any evidence at all (an address, a
    handle key or a numbered variant of it, a similar name of two words). The headline is the recall over all."""
    from communa.members.models import Identity, MergeSuggestion

    member_of_identity = dict(Identity.objects.filter(workspace_id=ws_id).values_list("id", "member_id"))
    person_by_member = {}
    row_of_member = {}
    for identity_id, person, row in zip(identity_ids, person_of, rows, strict=True):
        person_by_member[member_of_identity[identity_id]] = person
        row_of_member[member_of_identity[identity_id]] = row
    members_by_person: dict[int, list[int]] = defaultdict(list)
    for member_id, person in person_by_member.items():
        members_by_person[person].append(member_id)
    true = [pair for members in members_by_person.values() for pair in itertools.combinations(sorted(members), 2)]
    resolvable = {pair for pair in true if shares_evidence(row_of_member[pair[0]], row_of_member[pair[1]])}
    scored = list(MergeSuggestion.objects.filter(workspace_id=ws_id).values_list("member_a_id", "member_b_id", "score"))
    curve = {}
    for threshold in (0.5, 0.6, 0.7, 0.75, 0.8, 0.9):
        picked = [(a, b) for a, b, s in scored if s >= threshold]
        right = [(a, b) for a, b in picked if person_by_member[a] == person_by_member[b]]
        curve[threshold] = {
            "suggested": len(picked),
            "precision": len(right) / len(picked) if picked else 1.0,
            "recall": len(right) / len(true) if true else 1.0,
            "recall_resolvable": sum(1 for p in right if p in resolvable) / len(resolvable) if resolvable else 1.0,
        }
    found = {(a, b) for a, b, s in scored if s >= EXPLAIN_THRESHOLD}
    return {
        "true_pairs": len(true),
        "resolvable": len(resolvable),
        "curve": curve,
        "missed": [(row_of_member[a], row_of_member[b]) for a, b in true if (a, b) not in found],
        "wrong": [(row_of_member[a], row_of_member[b]) for a, b in found if person_by_member[a] != person_by_member[b]],
    }


EXPLAIN_THRESHOLD = 0.5


def _keys(row: tuple[Any, ...]) -> Any:
    from communa.members.resolution import keys_for

    platform, _external_id, handle, name, email = row
    return keys_for(platform=platform, handle=handle, display_name=name, email=email)


def _handle_relation(a: str, b: str) -> str:
    from communa.members.resolution import is_handle_variant

    if not a or not b:
        return "no handle key"
    if a == b:
        return "same handle key"
    if is_handle_variant(a, b) or is_handle_variant(b, a):
        return "numbered variant"
    if a.rstrip("0123456789") == b.rstrip("0123456789"):
        return "same stem, other number"
    return "different handles"


def _name_relation(a: tuple[Any, ...], b: tuple[Any, ...]) -> str:
    from communa.members.resolution import name_similarity, name_tokens

    ka, kb = _keys(a).name, _keys(b).name
    if ka and kb:
        return "same name key" if ka == kb else f"names {name_similarity(a[3], b[3]) // 10 * 10}% alike"
    ta, tb = name_tokens(a[3]) if ka or a[3] else [], name_tokens(b[3]) if kb or b[3] else []
    if ta and tb and ta[0] == tb[0]:
        return "first name only, same"
    return "no comparable names"


def shares_evidence(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether a resolver could see anything in common between two identities (ground truth aside)."""
    from communa.members.resolution import NAME_SIMILARITY_MIN, name_similarity

    ka, kb = _keys(a), _keys(b)
    if ka.email and ka.email == kb.email:
        return True
    if _handle_relation(ka.handle, kb.handle) in {"same handle key", "numbered variant"}:
        return True
    return bool(ka.name and kb.name and name_similarity(a[3], b[3]) >= NAME_SIMILARITY_MIN)


def explain(quality: dict[str, Any], limit: int = 25) -> None:
    """The missed true pairs and the wrong suggestions, by class (platforms, handles, names), with examples."""

    def kind(a: tuple[Any, ...], b: tuple[Any, ...]) -> str:
        ka, kb = _keys(a), _keys(b)
        platforms = "-".join(sorted(p.split(":")[0].split(".")[0] for p in (a[0], b[0])))
        email = "same email" if ka.email and ka.email == kb.email else ""
        return " | ".join(
            x for x in (platforms, email, _handle_relation(ka.handle, kb.handle), _name_relation(a, b)) if x
        )

    for title, pairs in (("missed true pairs", quality["missed"]), ("wrong suggestions", quality["wrong"])):
        classes: dict[str, list[Any]] = defaultdict(list)
        for a, b in pairs:
            classes[kind(a, b)].append((a[2], a[3], b[2], b[3]))
        print(f"{title}: {len(pairs):,}")
        for name, examples in sorted(classes.items(), key=lambda item: -len(item[1]))[:limit]:
            print(f"  {len(examples):>7,}  {name}   e.g. {examples[0]}")


def engagement_rows(ws_id: int) -> None:
    """A level and a main language for every member, distributed as in a real community."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "INSERT INTO members_memberengagement (member_id, workspace_id, score, score_at, score_30d_ago, level,"
            " level_since, lifecycle, lifecycle_since, activity_total, recent, updated_at)"
            " SELECT id, workspace_id, (hashint4(id::int) & 255)::float, now(), 0,"
            " CASE WHEN hashint4(id::int) & 1023 < 600 THEN 'newcomer' WHEN hashint4(id::int) & 1023 < 900"
            " THEN 'participant' WHEN hashint4(id::int) & 1023 < 1010 THEN 'regular' ELSE 'champion' END,"
            " now(), (ARRAY['new','active','at_risk','churned','returning'])[1 + (hashint4(id::int + 7) & 1023) %% 5],"
            " now(), 1, '{}'::jsonb, now() FROM members_member WHERE workspace_id = %s",
            [ws_id],
        )
        c.execute(
            "INSERT INTO members_memberfacts (member_id, workspace_id, languages, main_language, organisation,"
            " organisation_by_hand, computed_at)"
            " SELECT id, workspace_id, '{}'::jsonb, (ARRAY['en','en','en','it','es','ru','de','fr','pt','es'])"
            "[1 + (hashint4(id::int + 3) & 1023) %% 10], '', false, now() FROM members_member WHERE workspace_id = %s",
            [ws_id],
        )
        c.execute("ANALYZE members_memberengagement")
        c.execute("ANALYZE members_memberfacts")


def time_list(ws: Any, runs: int) -> tuple[list[float], str]:
    """Times the first page of the member list through saved segments; returns timings and what was measured."""
    from django.db.models import F, Prefetch

    from communa.members.models import Identity

    try:
        from communa.members import segments
    except ImportError:
        segments = None  # type: ignore[assignment]
    combos = list(itertools.product(("regular", "champion", "participant"), ("it", "es", "ru", "en", "de")))
    identities = Prefetch("identities", queryset=Identity.objects.order_by("platform", "id"))
    timings = []
    for i in range(runs):
        level, language = combos[i % len(combos)]
        started = time.perf_counter()
        if segments is not None:
            flt = segments.parse_filter({"level": [level], "main_language": [language]})
            qs = segments.filter_members(workspace=ws, flt=flt)
            what = "segment filter (members/segments.py: level + main language)"
        else:
            from communa.members.selectors import active_members

            qs = active_members(ws).filter(engagement__level=level, facts__main_language=language)
            what = "level + main language filter (segments not available)"
        order = [F("last_seen_at").desc(nulls_last=True), F("pk").desc()]
        page = list(qs.order_by(*order).prefetch_related(identities)[:51])
        timings.append((time.perf_counter() - started) * 1000)
        assert page, (level, language)
    return timings, what


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="print missed and wrong pairs by class")
    parser.add_argument(
        "--list-only",
        action="store_true",
        help="only time the member list (and print its plan) on the workspace a previous run left",
    )
    args = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("bench/members.py needs PostgreSQL (COMMUNA_DATABASE_URL)")
    call_command("migrate", verbosity=0)
    from communa.accounts.models import Workspace

    if args.list_only:
        ws = Workspace.objects.filter(slug="bench-members").first()
        if ws is None:
            sys.exit("no bench-members workspace: run without --list-only first")
        measure_list(ws, args.runs, plan=True)
        return
    ws = fresh_workspace()
    resolve(ws, args.scale, explain_misses=args.explain)
    engagement_rows(ws.pk)
    measure_list(ws, args.runs, plan=False)


def fresh_workspace() -> Any:
    from django.db import connection

    from communa.accounts.models import Workspace

    old = Workspace.objects.filter(slug="bench-members").first()
    if old is not None:  # a million rows: delete set-based, not through the ORM's cascade collector
        with connection.cursor() as c:
            for table in ("members_mergesuggestion", "members_memberengagement", "members_memberfacts"):
                c.execute(f"DELETE FROM {table} WHERE workspace_id = %s", [old.pk])
            c.execute("UPDATE members_identity SET member_id = NULL WHERE workspace_id = %s", [old.pk])
            c.execute("DELETE FROM members_member WHERE workspace_id = %s", [old.pk])
            c.execute("DELETE FROM members_identity WHERE workspace_id = %s", [old.pk])
        old.delete()
    return Workspace.objects.create(name="Bench members", slug="bench-members", time_zone="UTC")


def resolve(ws: Any, scale: float, *, explain_misses: bool) -> None:
    from communa.members.services import generate_suggestions

    t0 = time.perf_counter()
    rows, person_of = generate(scale)
    t1 = time.perf_counter()
    identity_ids = load(ws.pk, rows)
    t2 = time.perf_counter()
    print(
        f"{len(rows):,} identities of {len(set(person_of)):,} people:"
        f" generated in {t1 - t0:.1f} s, loaded in {t2 - t1:.1f} s; load average {os.getloadavg()[0]:.2f}"
    )
    result = generate_suggestions(workspace=ws)
    t3 = time.perf_counter()
    print(
        f"generate_suggestions: {t3 - t2:.1f} s ({len(rows) / (t3 - t2):,.0f} identities/s);"
        f" keyed {result.keyed:,}, suggested {result.suggested:,}, merged {result.merged:,};"
        f" load average {os.getloadavg()[0]:.2f}"
    )
    quality = evaluate(ws.pk, identity_ids, person_of, rows)
    print(
        f"true pairs: {quality['true_pairs']:,}, of which resolvable (sharing any evidence): {quality['resolvable']:,}"
    )
    for threshold, figures in quality["curve"].items():
        print(
            f"  score ≥ {threshold:.2f}: {figures['suggested']:>9,} suggested, precision {figures['precision']:.3f},"
            f" recall {figures['recall']:.3f} (over resolvable pairs {figures['recall_resolvable']:.3f})"
        )
    if explain_misses:
        explain(quality)


def measure_list(ws: Any, runs: int, *, plan: bool) -> None:
    timings, what = time_list(ws, runs)
    timings.sort()
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    print(
        f"member list, {what}: p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms (target < 150 ms);"
        f" load average {os.getloadavg()[0]:.2f}"
    )
    if plan:
        print(list_plan(ws))


def list_plan(ws: Any) -> str:
    """EXPLAIN ANALYZE of the list's main query (the first page through the "Italian regulars" segment)."""
    from django.db.models import F

    from communa.members import segments

    flt = segments.parse_filter({"level": ["regular"], "main_language": ["it"]})
    qs = segments.filter_members(workspace=ws, flt=flt)
    qs = qs.order_by(F("last_seen_at").desc(nulls_last=True), F("pk").desc())[:51]
    return str(qs.explain(analyze=True, buffers=True))


if __name__ == "__main__":
    main()
