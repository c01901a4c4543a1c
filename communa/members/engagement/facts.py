"""Profile facts worked out from messages, the pure part: time zone estimate and organisation.

Time zone: people write in their waking hours. The hours (UTC) of a member's messages are compared with a
typical day (quiet at night, busy mornings and evenings) shifted by every offset from -11 to +14 hours; the
best match is the estimate. Shown as "estimated", and only with enough messages to tell.

Organisation: the domain of a work email address. Free-mail providers say nothing about an employer, and
reserved example domains (RFC 2606) are not anybody's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

MIN_MESSAGES_FOR_TIME_ZONE = 8
MIN_CONFIDENCE = 0.3  # below, the hours say nothing clear (shift work, bots, people everywhere)
# Relative activity by local hour, 0 h to 23 h: a typical day of people writing online.
TYPICAL_DAY = (2, 1, 0.5, 0.3, 0.3, 0.5, 1.5, 3.5, 5.5, 6, 6, 6, 6, 5.5, 5.5, 5.5, 5.5, 6, 7, 8, 8, 7, 5, 3)
OFFSETS = range(-11, 15)

FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.it", "yahoo.es", "yahoo.fr", "yahoo.de", "yahoo.co.uk",
    "ymail.com", "outlook.com", "outlook.it", "outlook.es", "outlook.fr", "outlook.de", "hotmail.com", "hotmail.it",
    "hotmail.es", "hotmail.fr", "hotmail.de", "hotmail.co.uk", "live.com", "live.it", "msn.com", "icloud.com",
    "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "pm.me", "gmx.com", "gmx.de", "gmx.net", "web.de",
    "t-online.de", "freenet.de", "mail.ru", "bk.ru", "inbox.ru", "list.ru", "yandex.ru", "yandex.com", "ya.ru",
    "rambler.ru", "libero.it", "virgilio.it", "tiscali.it", "alice.it", "tin.it", "fastwebnet.it", "orange.fr",
    "free.fr", "laposte.net", "wanadoo.fr", "sfr.fr", "terra.com.br", "uol.com.br", "bol.com.br", "sapo.pt",
    "telefonica.net", "qq.com", "163.com", "126.com", "zoho.com", "fastmail.com", "hey.com", "tutanota.com",
    "tuta.io", "mail.com", "seznam.cz", "wp.pl", "o2.pl", "interia.pl", "yahoo.co.jp", "naver.com", "duck.com",
})  # fmt: skip
RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".local")


def estimate_utc_offset(hours: Counter[int]) -> tuple[int | None, float | None]:
    """(offset in hours east of UTC, confidence 0-1) from message counts per UTC hour; (None, None) when
    there are too few messages, (None, confidence) when the hours fit no offset clearly."""
    total = sum(hours.values())
    if total < MIN_MESSAGES_FOR_TIME_ZONE:
        return None, None
    observed = [hours.get(h, 0) / total for h in range(24)]
    norm = sum(TYPICAL_DAY)
    fits: dict[int, float] = {}
    for offset in OFFSETS:
        # A message at UTC hour h was written at local hour h + offset.
        fits[offset] = sum(observed[h] * math.log(TYPICAL_DAY[(h + offset) % 24] / norm) for h in range(24))
    best = max(fits, key=lambda o: (fits[o], -abs(o)))
    mean = sum(fits.values()) / len(fits)
    # How much better than a random offset the best one fits, against how much better it would fit if the
    # member kept exactly the typical day: 0 for activity spread evenly over the clock, 1 for a typical day.
    typical = [v / norm for v in TYPICAL_DAY]
    perfect = sum(p * math.log(p) for p in typical)
    confidence = round(
        max(0.0, min(1.0, (fits[best] - mean) / (perfect - _mean_fit(typical)))) * min(1.0, total / 40), 2
    )
    return (best if confidence >= MIN_CONFIDENCE else None), confidence


def _mean_fit(typical: list[float]) -> float:
    """The average fit of the typical day against itself shifted by every offset."""
    logs = [math.log(p) for p in typical]
    return sum(sum(typical[h] * logs[(h + o) % 24] for h in range(24)) for o in range(24)) / 24


def email_domain(email: str) -> str:
    local, at, domain = email.strip().lower().rpartition("@")
    return domain.strip(".") if at and local and "." in domain else ""


def organisation_from_emails(emails: Iterable[str]) -> str:
    """The most used work domain among a member's addresses, or ""."""
    domains = Counter(
        domain
        for domain in (email_domain(e) for e in emails)
        if domain and domain not in FREE_MAIL and not domain.endswith(RESERVED_SUFFIXES)
    )
    return domains.most_common(1)[0][0] if domains else ""
