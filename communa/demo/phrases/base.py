"""The shapes of a phrase bank (see the package docstring)."""

from __future__ import annotations

import dataclasses

# Every placeholder a template may use; the generator fills all of them for each message.
SLOTS = ("grinder", "setting", "temp", "days", "order", "version", "ratio", "grams", "name", "batch", "staff")


@dataclasses.dataclass(frozen=True, slots=True)
class Topic:
    """One subject, in one language: thread titles, ways to raise it, and ways peers and staff answer."""

    titles: tuple[str, ...]
    openings: tuple[str, ...]
    answers: tuple[str, ...]
    staff_answers: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Announcement:
    title: str
    text: str
    replies: tuple[str, ...]  # what members say under this announcement (besides the generic replies)


@dataclasses.dataclass(frozen=True, slots=True)
class Script:
    """A heated thread, line by line: two people disagree, it turns personal, the last line is an insult."""

    title: str
    lines: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Bank:
    """Everything one language needs. Partial banks (fr, de, pt) leave the rarer parts empty."""

    language: str
    greetings: tuple[str, ...]  # start of a question ("" included: many people skip it)
    sign_offs: tuple[str, ...]  # end of a question
    answer_openers: tuple[str, ...]
    thanks: tuple[str, ...]  # the asker, once an answer worked
    still_stuck: tuple[str, ...]  # the asker, when it did not
    me_too: tuple[str, ...]  # someone else with the same problem
    questions: dict[str, Topic]
    complaints: dict[str, Topic]
    praise: tuple[str, ...]
    praise_replies: tuple[str, ...]
    feature_requests: tuple[Topic, ...]
    plus_ones: tuple[str, ...]
    chatter: tuple[str, ...]  # small talk that starts a chat exchange
    chatter_replies: tuple[str, ...]
    announcements: dict[str, Announcement]
    announcement_replies: tuple[str, ...]
    email_greetings: tuple[str, ...]
    email_sign_offs: tuple[str, ...]
    staff_greeting: str  # how the team opens a reply by email, with {name}
    staff_sign_off: str  # and signs it, with {staff}
    spam: tuple[str, ...] = ()
    heated: tuple[Script, ...] = ()
    moderator_notes: tuple[str, ...] = ()
    insults: tuple[str, ...] = ()
