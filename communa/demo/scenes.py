"""The kinds of conversation the demo history is made of, from an ordinary question to a spam wave.

Every scene writes posts through `History.post`, which drops anything that would lie in the future: a
question asked an hour ago simply has not been answered yet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from communa.demo.history import History, Post, bank
from communa.demo.people import SUPPORT_SIGNATURES, Person, Role, launch_day
from communa.demo.phrases import en
from communa.demo.phrases.base import Bank, Topic

ROOT_KIND = {"forum": "post", "matrix": "chat", "email": "email", "irc": "chat", "bsky": "post"}
REPLY_KIND = {"forum": "comment", "matrix": "chat", "email": "email", "irc": "chat", "bsky": "post"}
TITLED = frozenset({"forum", "email"})
# (fastest, slowest) minutes before a reply, by source: chat is quick, the mailbox is not.
PEER_DELAY = {"forum": (12, 1800), "matrix": (1, 120), "irc": (1, 30), "bsky": (5, 600), "email": (60, 2000)}
TEAM_DELAY = {"forum": (40, 1500), "matrix": (8, 300), "irc": (5, 200), "bsky": (20, 700), "email": (90, 2900)}

QUESTION_SOURCES = ("forum", "email", "matrix", "bsky")
COMPLAINT_SOURCES = ("forum", "email", "bsky", "matrix")
PRAISE_SOURCES = ("bsky", "forum", "matrix")
FEATURE_SOURCES = ("forum", "matrix")
CHATTER_SOURCES = ("matrix", "irc", "forum")

CATEGORY_BY_LANGUAGE = {
    "it": "Italiano",
    "es": "Español",
    "ru": "Русский",
    "fr": "Français",
    "de": "Deutsch",
    "pt": "Português",
}
CATEGORY_BY_TOPIC = {
    "kettle": "Kettles & Scales",
    "scale_pairing": "Kettles & Scales",
    "firmware": "Kettles & Scales",
    "warranty": "Orders & Support",
    "shipping": "Orders & Support",
    "outage": "Orders & Support",
    "praise": "Feedback",
    "feature": "Feedback",
    "chatter": "Brewing",
    "announcement": "Announcements",
}
REACTIONS = ("👍", "👍", "☕", "❤️", "😂", "🙏", "🎉", "👀")
REACTION_COUNTS = (0, 0, 0, 0, 0, 0, 0, 1, 1, 2)  # most posts get none, a few get several


# --- building blocks ------------------------------------------------------------------------------


def category(language: str, subject: str) -> str:
    """Forum category: announcements first, then one category per language, English split by subject."""
    if subject == "announcement":
        return "Announcements"
    return CATEGORY_BY_LANGUAGE.get(language) or CATEGORY_BY_TOPIC.get(subject, "Grinders")


def start(
    h: History, *, source: str, author: Person, at: datetime, text: str, language: str, title: str, subject: str
) -> Post | None:
    """Open a thread. Only the forum and the mailbox have titles; the forum files it in a category."""
    metadata = {"category": category(language, subject)} if source == "forum" else {}
    return h.post(
        source=source,
        author=author,
        at=at,
        kind=ROOT_KIND[source],
        text=text,
        language=language,
        title=title if source in TITLED else "",
        metadata=metadata,
    )


def reply(h: History, parent: Post, author: Person, text: str, *, at: datetime | None = None) -> Post | None:
    """Answer `parent`. IRC has no threads, so there the reply addresses the person by nick instead."""
    source = parent.source
    team = author.role is not Role.MEMBER
    low, high = (TEAM_DELAY if team else PEER_DELAY)[source]
    when = at or h.later(parent.at, low, high)
    if source == "irc":
        nick = parent.author.accounts["irc"].handle
        return h.post(
            source=source, author=author, at=when, kind="chat", text=f"{nick}: {text}", language=parent.language
        )
    if source == "bsky" and parent.author is not author:
        text = f"@{parent.author.accounts['bsky'].handle} {text}"
    title = f"Re: {parent.thread.title}" if source == "email" else ""
    return h.post(
        source=source,
        author=author,
        at=when,
        kind=REPLY_KIND[source],
        text=text,
        language=parent.language,
        title=title,
        parent=parent,
    )


def starter(h: History, day: int, sources: Sequence[str], language: str = "") -> tuple[Person, str] | None:
    """Someone active by `day` with an account on one of `sources` (weighted by how active people are)."""
    people = [
        p
        for p in h.people
        if p.role is Role.MEMBER and p.joined_day <= day and (not language or p.language == language)
        if any(s in p.accounts for s in sources)
    ]
    person = h.pick(people)
    if person is None:
        return None
    return person, h.rng.choice([s for s in sources if s in person.accounts])


def peer(h: History, post: Post, *, exclude: Sequence[Person] = ()) -> Person | None:
    """Another member who speaks the thread's language and is on its source."""
    day = h.day_of(post.at)
    return h.pick(h.members_on(post.source, day, language=post.language, exclude=[post.author, *exclude]))


def compose(h: History, b: Bank, opening: str, source: str, author: Person) -> str:
    """A first message as people write it: an email is a letter, a chat line is short, a post in between."""
    body = h.fill(opening)
    if source == "email":
        greeting, sign_off = h.rng.choice(b.email_greetings), h.rng.choice(b.email_sign_offs)
        return f"{greeting}\n\n{body}\n\n{h.fill(sign_off, name=author.first_name)}"
    if source == "bsky":
        return f"@aurora.example {body}"
    if source in {"matrix", "irc"}:
        return body
    return " ".join(part for part in (h.say(b.greetings), body, h.say(b.sign_offs)) if part)


def team_text(h: History, b: Bank, text: str, parent: Post, team: Person) -> str:
    """How the team writes: an email reply is a signed letter from the support mailbox."""
    if parent.source != "email":
        return h.fill(text, name=parent.thread.author.first_name)
    signature = SUPPORT_SIGNATURES.get(parent.language, "Giulia")
    greeting = h.fill(b.staff_greeting, name=parent.thread.author.first_name)
    return f"{greeting}\n\n{h.fill(text)}\n\n{h.fill(b.staff_sign_off, staff=signature)}"


def peer_answer_text(h: History, b: Bank, topic: Topic, asker: Person) -> str:
    opener = h.say(b.answer_openers, name=asker.first_name)
    return f"{opener} {h.say(topic.answers)}".strip()


# --- ordinary days --------------------------------------------------------------------------------


def threads_on(h: History, day: int) -> int:
    """How many threads start on `day`: a growing community, busier weekends, a launch-week rush."""
    launch = launch_day(h.days)
    mean = 6.5 * (0.55 + 0.9 * day / h.days)
    if h.day_start(day).weekday() >= 5:
        mean *= 1.2
    if day == launch:
        mean *= 4
    elif launch < day <= launch + 4:
        mean *= 1.8
    return max(1, round(h.rng.gauss(mean, mean * 0.2)))


def ordinary_day(h: History, day: int) -> None:
    scenes: tuple[Callable[[History, int], None], ...] = (question, complaint, praise, feature_request, chatter)
    weights = (38, complaint_weight(h, day), 12, 6, 25)
    for _ in range(threads_on(h, day)):
        h.rng.choices(scenes, weights=weights)[0](h, day)


def in_burr_wave(h: History, day: int) -> bool:
    return 0.68 * h.days <= day <= 0.92 * h.days


def in_shipping_wave(h: History, day: int) -> bool:
    return 0.30 * h.days <= day <= 0.50 * h.days


def complaint_weight(h: History, day: int) -> int:
    return 6 + (14 if in_burr_wave(h, day) else 0) + (10 if in_shipping_wave(h, day) else 0)


def question(h: History, day: int) -> None:
    found = starter(h, day, QUESTION_SOURCES)
    if found is None:
        return
    asker, source = found
    launch = launch_day(h.days)
    topic = "vela2" if launch <= day <= launch + 6 and h.rng.random() < 0.5 else ""
    ask(h, day=day, asker=asker, source=source, topic=topic)


def ask(h: History, *, day: int, asker: Person, source: str, topic: str = "", unanswered: bool = False) -> Post | None:
    """A member asks; usually someone answers (more and more often a peer), sometimes nobody does."""
    b = bank(asker.language)
    key = topic if topic in b.questions else h.rng.choice(list(b.questions))
    subject = b.questions[key]
    root = start(
        h,
        source=source,
        author=asker,
        at=h.moment(day, asker),
        language=b.language,
        subject=key,
        text=compose(h, b, h.rng.choice(subject.openings), source, asker),
        title=h.say(subject.titles),
    )
    if root is None:
        return None
    h.facts.questions.append(root)
    if unanswered or h.rng.random() < 0.08:
        h.facts.unanswered.append(root)
        return root
    answer_question(h, root, b, subject)
    return root


def answer_question(h: History, root: Post, b: Bank, subject: Topic) -> None:
    peer_share = 0.2 + 0.8 * h.day_of(root.at) / h.days  # the community learns to answer itself
    helper = peer(h, root) if root.source != "email" and h.rng.random() < peer_share else None
    first = answer(h, root, b, subject, helper)
    if first is None:
        h.facts.unanswered.append(root)
        return
    (h.facts.peer_answered if first.author.role is Role.MEMBER else h.facts.staff_answered).append(root)
    follow_up(h, root, first, b, subject)
    if root.source != "email" and h.rng.random() < 0.3 and (other := peer(h, root, exclude=[first.author])):
        reply(h, root, other, h.say(b.me_too) if h.rng.random() < 0.5 else peer_answer_text(h, b, subject, other))


def answer(h: History, parent: Post, b: Bank, subject: Topic, helper: Person | None) -> Post | None:
    if helper is not None:
        return reply(h, parent, helper, peer_answer_text(h, b, subject, parent.thread.author))
    team = h.team_for(parent.source, parent.language)
    if team is None:
        return None
    return reply(h, parent, team, team_text(h, b, h.rng.choice(subject.staff_answers), parent, team))


def follow_up(h: History, root: Post, first: Post, b: Bank, subject: Topic) -> None:
    """The asker comes back: it worked, or it didn't and someone (often the team) tries again."""
    draw = h.rng.random()
    name = first.author.first_name
    if draw < 0.55:
        reply(h, first, root.author, h.say(b.thanks, name=name))
    elif draw < 0.75 and (stuck := reply(h, first, root.author, h.say(b.still_stuck))):
        helper = None if h.rng.random() < 0.6 else peer(h, root, exclude=[first.author])
        if (second := answer(h, stuck, b, subject, helper)) and h.rng.random() < 0.6:
            reply(h, second, root.author, h.say(b.thanks, name=second.author.first_name))


def complaint(h: History, day: int) -> None:
    found = starter(h, day, COMPLAINT_SOURCES)
    if found is None:
        return
    author, source = found
    b = bank(author.language)
    if not b.complaints:
        ask(h, day=day, asker=author, source=source)
        return
    complain(h, day=day, author=author, source=source, key=complaint_topic(h, day, b))


def complaint_topic(h: History, day: int, b: Bank) -> str:
    if in_burr_wave(h, day) and "burrs" in b.complaints and h.rng.random() < 0.8:
        return "burrs"
    if day > 0.68 * h.days and h.rng.random() < 0.3:
        return "burrs"
    return "shipping"


def complain(h: History, *, day: int, author: Person, source: str, key: str, at: datetime | None = None) -> None:
    """A complaint: others chime in, the team apologises and fixes it, sometimes the author thanks them."""
    b = bank(author.language)
    subject = b.complaints[key]
    root = start(
        h,
        source=source,
        author=author,
        at=at or h.moment(day, author),
        language=b.language,
        subject=key,
        text=compose(h, b, h.rng.choice(subject.openings), source, author),
        title=h.say(subject.titles),
    )
    if root is None:
        return
    others: list[Person] = []
    for _ in range(h.rng.choice((0, 1, 1, 2, 3))):
        if source != "email" and (other := peer(h, root, exclude=others)):
            others.append(other)
            reply(h, root, other, h.say(subject.answers if h.rng.random() < 0.5 else b.me_too))
    if h.rng.random() < 0.85 and (team := h.team_for(source, root.language)):
        fix = reply(h, root, team, team_text(h, b, h.rng.choice(subject.staff_answers), root, team))
        if fix and h.rng.random() < 0.4:
            reply(h, fix, author, h.say(b.thanks, name=team.first_name))


def praise(h: History, day: int) -> None:
    found = starter(h, day, PRAISE_SOURCES)
    if found is None:
        return
    author, source = found
    b = bank(author.language)
    text = h.say(b.praise)
    root = start(
        h,
        source=source,
        author=author,
        at=h.moment(day, author),
        language=b.language,
        subject="praise",
        text=f"@aurora.example {text}" if source == "bsky" else text,
        title=title_from(text),
    )
    if root is None:
        return
    for _ in range(h.rng.choice((0, 0, 1, 1, 2))):
        if other := peer(h, root):
            reply(h, root, other, h.say(b.praise_replies))
    if source == "bsky" and h.rng.random() < 0.7 and (team := h.team_for(source, root.language)):
        reply(h, root, team, h.say(b.praise_replies))


def feature_request(h: History, day: int) -> None:
    found = starter(h, day, FEATURE_SOURCES)
    if found is None:
        return
    author, source = found
    b = bank(author.language)
    if not b.feature_requests:
        praise(h, day)
        return
    idea = h.rng.choice(b.feature_requests)
    root = start(
        h,
        source=source,
        author=author,
        at=h.moment(day, author),
        language=b.language,
        subject="feature",
        text=h.say(idea.openings),
        title=h.say(idea.titles),
    )
    if root is None:
        return
    voters: list[Person] = []
    said: list[str] = []
    for _ in range(h.rng.randint(1, 6)):
        if voter := peer(h, root, exclude=voters):
            voters.append(voter)
            reply(h, root, voter, say_fresh(h, b.plus_ones if h.rng.random() < 0.6 else idea.answers, said))
    if h.rng.random() < 0.5 and (team := h.team_for(source, root.language)):
        reply(h, root, team, h.say(idea.staff_answers))


def chatter(h: History, day: int) -> None:
    found = starter(h, day, CHATTER_SOURCES)
    if found is None:
        return
    author, source = found
    b = bank(author.language)
    text = h.say(b.chatter)
    root = start(
        h,
        source=source,
        author=author,
        at=h.moment(day, author),
        language=b.language,
        subject="chatter",
        text=text,
        title=title_from(text),
    )
    if root is None:
        return
    parent, talkers, said = root, [author], [text]
    for _ in range(h.rng.randint(0, 5)):
        other = peer(h, root, exclude=talkers[-1:])
        if other is None:
            break
        talkers.append(other)
        # Chat drifts: people answer the last line as often as the first.
        parent = (
            reply(h, parent if h.rng.random() < 0.5 else root, other, say_fresh(h, b.chatter_replies, said)) or parent
        )


def say_fresh(h: History, options: Sequence[str], used: list[str]) -> str:
    """A line nobody has said yet in this thread (while there are any left): people don't echo each other."""
    line = h.say([option for option in options if option not in used] or options)
    used.append(line)
    return line


def title_from(text: str) -> str:
    """A forum title for a post that has none: its first sentence, cut at a word boundary."""
    first = text.split(". ")[0].split("! ")[0].split("? ")[0].rstrip(".!?")
    if len(first) <= 70:
        return first
    return first[:70].rsplit(" ", 1)[0] + "…"


# --- scripted scenes ------------------------------------------------------------------------------

ANNOUNCEMENT_PLAN = (
    # (announcement, when as a fraction of the window, languages)
    ("contest", 0.10, ("en",)),
    ("firmware", 0.20, ("en", "ru")),
    ("shipping_update", 0.38, ("en", "es")),
    ("launch", 0.60, ("en", "it", "es", "ru")),
    ("recall", 0.75, ("en", "it", "es", "ru")),
)


def announcements(h: History) -> None:
    for key, fraction, languages in ANNOUNCEMENT_PLAN:
        day = int(h.days * fraction)
        for language in languages:
            announce(h, key, day, language, "forum")
        announce(h, key, day, "en", "bsky")
        announce(h, key, day, "en", "matrix")


def announce(h: History, key: str, day: int, language: str, source: str, at: datetime | None = None) -> None:
    b = bank(language)
    item = b.announcements.get(key) or en.BANK.announcements[key]
    team = h.team_for(source, language)
    if team is None:
        return
    when = at or h.day_start(day) + timedelta(hours=h.rng.uniform(0.5, 3))
    text = h.fill(item.text)
    root = start(
        h,
        source=source,
        author=team,
        at=when,
        language=b.language,
        subject="announcement",
        text=text,
        title=h.fill(item.title),
    )
    if root is None:
        return
    h.facts.announcements.append(root)
    replied: list[Person] = []
    said: list[str] = []
    for _ in range(h.rng.randint(3, 10 if key == "launch" else 6)):
        if member := peer(h, root, exclude=replied):
            replied.append(member)
            options = item.replies if h.rng.random() < 0.75 else b.announcement_replies
            reply(h, root, member, say_fresh(h, options, said), at=h.later(root.at, 3, 1500))


HEATED_PLAN = (("en", 0.78, "forum"), ("es", 0.62, "forum"), ("ru", 0.40, "matrix"))


def heated_threads(h: History) -> None:
    """Two members disagree, it gets personal, the last line is an insult, and a moderator steps in."""
    for language, fraction, source in HEATED_PLAN:
        day = int(h.days * fraction)
        b = bank(language)
        pair = pick_pair(h, source, day, language)
        if pair is None or not b.heated:
            continue
        script = b.heated[0]
        root = start(
            h,
            source=source,
            author=pair[0],
            at=h.moment(day, pair[0]),
            language=language,
            subject="feedback",
            text=h.fill(script.lines[0]),
            title=h.fill(script.title),
        )
        if root is None:
            continue
        h.facts.heated.append(root)
        last = root
        for index, line in enumerate(script.lines[1:], start=1):
            last = reply(h, last, pair[index % 2], h.fill(line), at=h.later(last.at, 2, 45)) or last
        h.facts.abuse.append(last)
        moderate(h, last, b)


def pick_pair(h: History, source: str, day: int, language: str) -> tuple[Person, Person] | None:
    people = h.members_on(source, day, language=language)
    if len(people) < 2:
        return None
    first = h.pick(people)
    second = h.pick([p for p in people if p is not first])
    return (first, second) if first and second else None


def moderate(h: History, post: Post, b: Bank) -> None:
    moderator = h.team_for(post.source, post.language, moderators=True)
    if moderator and b.moderator_notes:
        reply(h, post, moderator, h.say(b.moderator_notes), at=h.later(post.at, 10, 120))


def identity_attack(h: History) -> None:
    """One mild identity attack (test data for moderators): a woman's question, a sexist reply, pushback."""
    day = int(h.days * 0.55)
    women = {
        "Emma",
        "Olivia",
        "Ava",
        "Sophie",
        "Grace",
        "Chloe",
        "Mia",
        "Zoe",
        "Hannah",
        "Lucy",
        "Aisha",
        "Kate",
        "Nora",
        "Maya",
        "Ruby",
    }
    askers = [p for p in h.members_on("forum", day, language="en") if p.first_name in women]
    asker = h.pick(askers)
    if asker is None:
        return
    root = ask(h, day=day, asker=asker, source="forum", topic="espresso_grind", unanswered=True)
    attacker = peer(h, root) if root else None
    if root is None or attacker is None:
        return
    h.facts.unanswered.remove(root)  # it gets real answers below
    attack = reply(h, root, attacker, en.IDENTITY_ATTACK, at=h.later(root.at, 20, 90))
    if attack is None:
        return
    h.facts.identity_attacks.append(attack)
    h.facts.abuse.append(attack)
    helpers: list[Person] = [attacker]
    for line in en.PUSHBACK:
        if helper := peer(h, root, exclude=helpers):
            helpers.append(helper)
            reply(h, root, helper, line, at=h.later(attack.at, 5, 60))
    h.facts.peer_answered.append(root)
    moderate(h, attack, en.BANK)


def insults(h: History) -> None:
    """A handful of plain insults under ordinary questions, in every language that has them."""
    for language in ("en", "it", "es", "ru"):
        b = bank(language)
        answered = [q for q in h.facts.questions if q not in h.facts.unanswered]  # an insult is no answer
        targets = [q for q in answered if q.language == language and q.source in {"forum", "matrix"}]
        for target in h.rng.sample(targets, min(len(targets), 2 if language == "en" else 1)):
            rude = peer(h, target)
            if rude and b.insults and (post := reply(h, target, rude, h.say(b.insults))):
                h.facts.abuse.append(post)


SPAM_PLAN = (("en", 0.15), ("ru", 0.42), ("en", 0.70), ("it", 0.85), ("es", 0.95))


def spam_waves(h: History) -> None:
    """New accounts post the same link several times within an hour or two, then get removed."""
    for language, fraction in SPAM_PLAN:
        day = int(h.days * fraction)
        b = bank(language)
        text = h.rng.choice(b.spam or en.BANK.spam)
        first = h.day_start(day) + timedelta(hours=h.rng.uniform(0, 20))
        for _ in range(h.rng.randint(2, 4)):
            spammer = h.casting.spammer(day)
            for source in h.rng.sample(("forum", "bsky", "matrix"), 2):
                at = h.later(first, 1, 120)
                post = start(
                    h,
                    source=source,
                    author=spammer,
                    at=at,
                    language=b.language,
                    subject="chatter",
                    text=f"@aurora.example {text}" if source == "bsky" else text,  # spam tags the brand to be seen
                    title=title_from(text),
                )
                if post:
                    h.facts.spam.append(post)


def outage(h: History) -> None:
    """The app's sync service is down one morning: a burst of complaints, updates, then the all-clear."""
    day = int(h.days * 0.87)
    down = h.day_start(day).replace(hour=6, minute=10, second=0, microsecond=0)
    for _ in range(h.rng.randint(10, 16)):
        found = starter(h, day, ("bsky", "matrix", "forum"), language=h.rng.choice(("en", "en", "it", "es", "ru")))
        if found:
            at = down + timedelta(minutes=h.rng.uniform(5, 480))
            complain(h, day=day, author=found[0], source=found[1], key="outage", at=at)
    announce(h, "outage_resolved", day, "en", "forum", at=down + timedelta(hours=8, minutes=35))
    announce(h, "outage_resolved", day, "en", "bsky", at=down + timedelta(hours=8, minutes=40))


def recent_unanswered(h: History) -> None:
    """A few questions from the last day and a half that nobody has answered: the inbox's first job."""
    wanted, tries = 4, 0
    while wanted and tries < 40:
        tries += 1
        day = h.days - 1 - h.rng.randint(0, 1)
        found = starter(h, day, ("forum", "email", "matrix"))
        if found and ask(h, day=day, asker=found[0], source=found[1], unanswered=True):
            wanted -= 1


def reactions(h: History) -> None:
    """Likes on the forum and emoji reactions on Matrix, heavier on announcements and good answers."""
    for post in list(h.posts):
        if post.source not in {"forum", "matrix"} or post.kind in {"reaction", "join", "leave"}:
            continue
        if post.author.role is Role.SPAMMER:
            continue
        count = h.rng.randint(3, 12) if post.root is None and post.author.is_team else h.rng.choice(REACTION_COUNTS)
        reacted: list[Person] = [post.author]
        for _ in range(count):
            if fan := peer(h, post, exclude=reacted):
                reacted.append(fan)
                emoji = "❤️" if post.source == "forum" else h.rng.choice(REACTIONS)
                h.post(
                    source=post.source,
                    author=fan,
                    at=h.later(post.at, 2, 900),
                    kind="reaction",
                    text=emoji,
                    language="",
                    parent=post,
                )


def joins_and_leaves(h: History) -> None:
    """Room membership on Matrix and IRC: newcomers join before they speak, some leave, spammers get kicked."""
    first_seen: dict[tuple[int, str], datetime] = {}
    last_seen: dict[tuple[int, str], datetime] = {}
    for post in h.posts:
        key = (post.author.key, post.source)
        first_seen[key] = min(first_seen.get(key, post.at), post.at)
        last_seen[key] = max(last_seen.get(key, post.at), post.at)
    for person in h.people:
        for source in ("matrix", "irc"):
            if source in person.accounts and person.full_name != "Aurora Coffee":
                membership(h, person, source, first_seen.get((person.key, source)), last_seen.get((person.key, source)))


def membership(h: History, person: Person, source: str, first: datetime | None, last: datetime | None) -> None:
    if person.joined_day > 0 or (first is None and h.rng.random() < 0.3):
        joined = h.moment(person.joined_day, person)
        if first is not None and joined > first:
            joined = first - timedelta(minutes=h.rng.uniform(1, 30))
        h.post(source=source, author=person, at=joined, kind="join", text="", language="")
    leave_odds = 1.0 if person.role is Role.SPAMMER else 0.3 if source == "irc" else 0.07
    if last is not None and h.rng.random() < leave_odds:
        h.post(source=source, author=person, at=h.later(last, 5, 3000), kind="leave", text="", language="")
