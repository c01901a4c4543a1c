"""Moderation rule evaluation throughput: 200 realistic rules, a multilingual message mix, one core.

    .venv/bin/python bench/moderation_rules.py [--rules 200] [--messages 30000] [--seed 7] [--core 0]

- rules (seeded): word-list rules per language (insults, slurs, threats, spam words; en, it, es, ru, fr, de,
  pt), phrase rules, RE2 patterns (invite links, shorteners, crypto wallets, phone numbers), score rules on
  toxicity and its categories, spam and sentiment, member-fact rules (new accounts, strikes, engagement),
  rate rules (floods, duplicates across channels, mention floods, raids), with all/any/not, log-only and
  disabled ones, priorities and stops: the mix a busy community runs;
- messages (seeded): chat lines in seven languages built from everyday vocabulary, with ~6% toxic words
  (some disguised: leetspeak, look-alike letters, separators, repeated letters), links, mentions, people's
  names and typos that the word-form cache has never seen, 3,000 members in 40 channels on 3 sources;
- timing: compile once (reported), warm the caches on the first 2,000 messages, then time `evaluate` with a
  live RateWindow over the rest, in this process pinned to one core (`--core`, Linux);
- the figure: messages per second, and the ratio to the issue's target of 5,000 messages/second.

Results: docs/benchmarks.md (Moderation rules).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The rule compiler's error messages are translatable, so the settings must be loaded before it is imported.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "communa.config.settings")

import django  # noqa: E402

django.setup()

from communa.moderation.rules import MessageFacts, compile_ruleset, evaluate  # noqa: E402

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None  # type: ignore[assignment]
WORD_FORMS = "in memory" if os.environ.get("COMMUNA_RULES_WORD_FORMS", "").lower() == "memory" else "streamed"

TARGET = 5000.0
LANGS = ("en", "it", "es", "ru", "fr", "de", "pt")

BAD = {
    "en": ["idiot", "moron", "stupid", "loser", "bastard", "jerk", "dumbass", "scum", "trash", "clown", "retard",
           "bitch", "asshole", "prick", "twat", "wanker", "pathetic", "worthless", "freak", "creep"],
    "it": ["idiota", "cretino", "stronzo", "coglione", "deficiente", "imbecille", "scemo", "stupido", "bastardo",
           "buffone", "pezzente", "sfigato", "testa di cazzo", "vaffanculo", "merda", "troia", "zoccola", "frocio"],
    "es": ["idiota", "imbécil", "estúpido", "gilipollas", "pendejo", "cabrón", "mierda", "puta", "tonto",
           "subnormal", "payaso", "maricón", "capullo", "inútil", "basura", "hijo de puta"],
    "ru": ["идиот", "дурак", "тупой", "урод", "придурок", "мразь", "козёл", "дебил", "кретин", "сволочь",
           "ублюдок", "скотина", "тварь", "лох", "чмо"],
    "fr": ["idiot", "connard", "crétin", "imbécile", "salaud", "débile", "abruti", "pute", "merde", "enculé",
           "bouffon", "nul", "ordure"],
    "de": ["Idiot", "Arschloch", "Trottel", "Depp", "Vollidiot", "Wichser", "Schlampe", "Penner", "Spast",
           "Hurensohn", "Mistkerl", "Dummkopf"],
    "pt": ["idiota", "imbecil", "otário", "burro", "babaca", "cretino", "porra", "merda", "vagabundo", "puta",
           "corno", "filho da puta"],
}  # fmt: skip
THREATS = {
    "en": ["kill you", "hurt you", "find where you live", "beat you up"],
    "it": ["ti ammazzo", "ti trovo", "ti faccio male", "ti spacco la faccia"],
    "es": ["te mato", "te voy a encontrar", "te parto la cara"],
    "ru": ["убью тебя", "найду тебя", "тебе конец"],
    "fr": ["je vais te tuer", "je te retrouve"],
    "de": ["ich bring dich um", "ich finde dich"],
    "pt": ["vou te matar", "vou te encontrar"],
}
SPAM = ["crypto", "bitcoin", "airdrop", "giveaway", "casino", "forex", "onlyfans", "viagra", "investment",
        "guaranteed", "profit", "telegram", "whatsapp", "promo", "followers"]  # fmt: skip
EVERYDAY = {
    "en": [
        "hi",
        "thanks",
        "the",
        "release",
        "works",
        "great",
        "but",
        "the",
        "login",
        "page",
        "is",
        "slow",
        "today",
        "can",
        "anyone",
        "help",
        "me",
        "with",
        "the",
        "new",
        "update",
        "I",
        "think",
        "we",
        "should",
        "ship",
        "it",
        "next",
        "week",
        "what",
        "do",
        "you",
        "think",
        "about",
        "the",
        "roadmap",
        "nice",
        "job",
        "everyone",
    ],
    "it": [
        "ciao",
        "grazie",
        "la",
        "nuova",
        "versione",
        "funziona",
        "bene",
        "ma",
        "il",
        "login",
        "è",
        "lento",
        "oggi",
        "qualcuno",
        "può",
        "aiutarmi",
        "con",
        "l'aggiornamento",
        "penso",
        "che",
        "dovremmo",
        "rilasciarla",
        "la",
        "prossima",
        "settimana",
        "bravi",
        "tutti",
    ],
    "es": [
        "hola",
        "gracias",
        "la",
        "nueva",
        "versión",
        "funciona",
        "bien",
        "pero",
        "el",
        "inicio",
        "de",
        "sesión",
        "va",
        "lento",
        "hoy",
        "alguien",
        "puede",
        "ayudarme",
        "con",
        "la",
        "actualización",
        "creo",
        "que",
        "deberíamos",
        "publicarla",
        "la",
        "semana",
        "que",
        "viene",
    ],
    "ru": [
        "привет",
        "спасибо",
        "новая",
        "версия",
        "работает",
        "отлично",
        "но",
        "вход",
        "сегодня",
        "медленный",
        "кто",
        "нибудь",
        "может",
        "помочь",
        "с",
        "обновлением",
        "думаю",
        "стоит",
        "выпустить",
        "на",
        "следующей",
        "неделе",
        "молодцы",
    ],
    "fr": [
        "salut",
        "merci",
        "la",
        "nouvelle",
        "version",
        "marche",
        "bien",
        "mais",
        "la",
        "connexion",
        "est",
        "lente",
        "aujourd'hui",
        "quelqu'un",
        "peut",
        "m'aider",
        "avec",
        "la",
        "mise",
        "à",
        "jour",
        "on",
        "devrait",
        "la",
        "publier",
        "la",
        "semaine",
        "prochaine",
    ],
    "de": [
        "hallo",
        "danke",
        "die",
        "neue",
        "Version",
        "läuft",
        "gut",
        "aber",
        "die",
        "Anmeldung",
        "ist",
        "heute",
        "langsam",
        "kann",
        "mir",
        "jemand",
        "mit",
        "dem",
        "Update",
        "helfen",
        "wir",
        "sollten",
        "es",
        "nächste",
        "Woche",
        "veröffentlichen",
    ],
    "pt": [
        "olá",
        "obrigado",
        "a",
        "nova",
        "versão",
        "funciona",
        "bem",
        "mas",
        "o",
        "login",
        "está",
        "lento",
        "hoje",
        "alguém",
        "pode",
        "me",
        "ajudar",
        "com",
        "a",
        "atualização",
        "acho",
        "que",
        "devemos",
        "lançar",
        "na",
        "próxima",
        "semana",
    ],
}
LINKS = ["https://github.com/acme/app/issues/42", "see docs.acme.dev/setup", "bit.ly/3xYz", "discord.gg/freeNitro",
         "t.me/cryptopump", "https://example.org/blog"]  # fmt: skip


def make_rules(count: int, rng: random.Random) -> str:  # noqa: C901 - one branch per kind of rule
    lines = [
        "version: 1",
        "languages: [en, it, es, ru, fr, de, pt]",
        "backtest_warning: 5%",
        "templates:",
        "  be-kind:",
        '    en: "Please keep it kind, {member}. Our guideline: {guideline}"',
        '    it: "Per favore, {member}, rispetta la regola: {guideline}"',
        '    es: "Por favor, {member}, respeta la norma: {guideline}"',
        '    ru: "Пожалуйста, {member}, соблюдайте правило: {guideline}"',
        '  no-links: "New accounts cannot post links yet: a moderator will review it."',
        "lists:",
    ]
    for lang, words in BAD.items():
        lines.append(f"  insults-{lang}: [{', '.join(repr(w) for w in words)}]")
    lines.append("rules:")
    kinds = ["words", "words", "words", "phrase", "regex", "score", "score_member", "member", "rate", "dup",
             "mentions", "raid", "combo", "spam"]  # fmt: skip
    for index in range(count):
        kind = kinds[index % len(kinds)]
        lang = LANGS[index % len(LANGS)]
        mode = rng.choice(["enabled"] * 8 + ["log_only", "disabled"])
        rid = f"r{index:03d}-{kind}-{lang}"
        lines += [f"  - id: {rid}", f"    name: Rule {index} ({kind}, {lang})", f"    mode: {mode}",
                  f"    priority: {rng.randint(0, 20)}", f"    guideline: Guideline {index % 12}"]  # fmt: skip
        if rng.random() < 0.1:
            lines.append("    stop: true")
        lines.append("    when:")
        if kind == "words":
            sample = rng.sample(BAD[lang], min(6, len(BAD[lang])))
            lines.append(f"      words: [{', '.join(repr(w) for w in sample)}]")
        elif kind == "phrase":
            lines.append(f"      phrases: [{', '.join(repr(p) for p in THREATS[lang])}]")
        elif kind == "regex":
            pattern = rng.choice([
                r"discord\.gg/\w+", r"t\.me/\w+", r"bit\.ly/\w+", r"\b(?:bc1|[13])[a-hj-np-z0-9]{25,39}\b",
                r"\+?\d[\d\s().-]{8,}\d", r"(?:free|gratis)\s+(?:nitro|money|soldi|dinero)", r"[!?]{6,}",
            ])  # fmt: skip
            lines.append(f"      regex: '{pattern}'")
        elif kind == "score":
            category = rng.choice(["toxicity", "insult", "threat", "identity_attack", "sexual", "spam"])
            lines.append(f'      score: {{{category}: ">= {rng.choice([0.8, 0.85, 0.9, 0.95])}"}}')
        elif kind == "score_member":
            lines += ["      all:", '        - score: {toxicity: ">= 0.6"}',
                      '        - member: {account_age_days: "< 7"}',
                      "        - not: {member: {engagement: [champion]}}"]  # fmt: skip
        elif kind == "member":
            lines += ["      all:", '        - member: {strikes: ">= 3"}', f"        - language: [{lang}]",
                      "        - list_placeholder"]  # fmt: skip
            lines[-1] = '        - score: {negative: ">= 0.7"}'
        elif kind == "rate":
            lines.append(f"      rate: {{messages: {rng.randint(5, 10)}, seconds: {rng.choice([10, 30, 60])}}}")
        elif kind == "dup":
            lines.append("      duplicates: {channels: 3, seconds: 300}")
        elif kind == "mentions":
            lines.append(f'      mentions: ">= {rng.randint(5, 10)}"')
        elif kind == "raid":
            lines.append("      raid: {new_members: 15, seconds: 60}")
        elif kind == "combo":
            lines += ["      all:", f"        - words: {{list: insults-{lang}}}",
                      "        - any:", '            - member: {first_message: true}',
                      '            - score: {insult: ">= 0.5"}',
                      f"        - platform: [{rng.choice(['matrix', 'irc', 'discourse'])}]"]  # fmt: skip
        else:
            lines += ["      all:", f"        - words: [{', '.join(rng.sample(SPAM, 5))}]",
                      '        - member: {account_age_days: "< 30"}']  # fmt: skip
        action = rng.choice([["queue"], ["remove", "warn: be-kind"], ["remove", "mute: 1h"],
                             ["queue", "tag: [spam]"], ["remove", "reply: no-links"], ["ban: 7d"],
                             ["notify: [moderators]"], ["escalate"]])  # fmt: skip
        lines.append("    actions:")
        lines += [f"      - {a}" for a in action]
    return "\n".join(lines) + "\n"


def disguise(word: str, rng: random.Random) -> str:
    trick = rng.randrange(5)
    if trick == 0:
        return word.translate(str.maketrans("aeio", "4310"))
    if trick == 1:
        return word.replace("o", "о").replace("a", "а")  # Cyrillic look-alikes
    if trick == 2:
        return ".".join(word)
    if trick == 3 and word:
        return word[0] * 4 + word[1:]
    return word.upper()


def make_messages(count: int, rng: random.Random) -> list[MessageFacts]:
    start = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    out: list[MessageFacts] = []
    at = start
    for index in range(count):
        lang = rng.choices(LANGS, weights=[40, 20, 12, 10, 7, 6, 5])[0]
        words = rng.choices(EVERYDAY[lang], k=rng.randint(3, 18))
        roll = rng.random()
        if roll < 0.06:
            bad = rng.choice(BAD[lang])
            words.insert(rng.randrange(len(words) + 1), disguise(bad, rng) if rng.random() < 0.3 else bad)
        elif roll < 0.075:
            words.append(rng.choice(THREATS[lang]))
        elif roll < 0.1:
            words += rng.sample(SPAM, 2)
        if rng.random() < 0.08:
            words.append(rng.choice(LINKS))
        if rng.random() < 0.25:  # names, typos, numbers: tokens the caches have not seen
            words.append(f"{rng.choice(['anna', 'bob', 'k', 'x', 'user'])}{rng.randint(0, 10**6)}")
        mentions = 0
        if rng.random() < 0.1:
            mentions = rng.choice([1, 1, 2, 3, 8, 12])
            words = [f"@user{rng.randint(1, 3000)}" for _ in range(min(mentions, 3))] + words
        at += timedelta(milliseconds=rng.randint(5, 400))
        member = rng.randint(1, 3000)
        toxicity = rng.random() ** 4
        out.append(
            MessageFacts(
                message_id=index,
                text=" ".join(words),
                created_at=at,
                member_id=member,
                language=lang,
                signals={
                    "toxicity": toxicity,
                    "insult": toxicity * 0.9,
                    "threat": toxicity * 0.3,
                    "identity_attack": toxicity * 0.2,
                    "sexual": toxicity * 0.1,
                    "spam": rng.random() ** 6,
                    "negative": rng.random(),
                    "positive": rng.random(),
                    "neutral": rng.random(),
                },
                source_id=1 + member % 3,
                platform=("matrix", "irc", "discourse")[member % 3],
                channel=f"room-{rng.randint(1, 40)}",
                mentions=mentions,
                account_age_days=rng.choice([0.5, 3, 20, 200, 900]),
                is_first_message=rng.random() < 0.01,
                engagement=rng.choice(["new", "casual", "regular", "champion"]),
                strikes=rng.choice([0, 0, 0, 0, 1, 2, 3, 4]),
                role="member",
                is_staff=rng.random() < 0.03,
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--core", type=int, default=0, help="pin to this CPU (Linux); -1 to not pin")
    args = parser.parse_args(argv)
    if args.core >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    rng = random.Random(args.seed)
    text = make_rules(args.rules, rng)
    started = time.perf_counter()
    compiled = compile_ruleset(text)
    compile_seconds = time.perf_counter() - started
    started = time.perf_counter()
    compile_ruleset(text)
    recompile_seconds = time.perf_counter() - started
    messages = make_messages(args.warmup + args.messages, rng)
    rate = compiled.new_rate_window()
    for facts in messages[: args.warmup]:
        evaluate(compiled, facts, rate)
    timed = messages[args.warmup :]
    matched = acted = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    for facts in timed:
        matches = evaluate(compiled, facts, rate)
        if matches:
            matched += 1
            acted += any(m.acts for m in matches)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    rate_per_second = len(timed) / cpu_seconds
    wall_rate = len(timed) / seconds
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"rules: {len(compiled.rules)} ({sum(r.mode.value != 'disabled' for r in compiled.rules)} active), "
          f"{len(text):,} characters, compiled in {compile_seconds:.2f} s the first time (loading seven word-form "
          f"dictionaries), {recompile_seconds:.2f} s after")  # fmt: skip
    print(f"messages: {len(timed):,} timed after {args.warmup:,} warm-up; {matched / len(timed):.1%} matched a rule, "
          f"{acted / len(timed):.1%} acted on")  # fmt: skip
    print(f"throughput: {rate_per_second:,.0f} messages/second of CPU time on one core "
          f"({cpu_seconds / len(timed) * 1e6:.0f} µs per message); wall clock {wall_rate:,.0f}/s "
          f"(load average {load:.1f}: other processes share the core)")  # fmt: skip
    if resource is not None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory of this process: {peak:,.0f} MB (word-form dictionaries: {WORD_FORMS})")
    print(f"ratio to the 5,000 messages/second target: {rate_per_second / TARGET:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
