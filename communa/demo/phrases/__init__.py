"""Phrase banks for the demo community, one module per language, all written for Communa.

A bank holds the pieces the generator assembles into messages: ways to open and close a question, what
people ask about each product (and how peers and staff answer), complaints, praise, feature requests,
small talk, staff announcements, spam, and the scripted lines of heated threads. Templates may use the
slots in `SLOTS`; `tests/test_demo.py` formats every template of every bank to keep them valid.
"""

from __future__ import annotations

from communa.demo.phrases import de, en, es, fr, it, pt, ru
from communa.demo.phrases.base import Bank

BANKS: dict[str, Bank] = {
    bank.language: bank for bank in (en.BANK, it.BANK, es.BANK, ru.BANK, fr.BANK, de.BANK, pt.BANK)
}
