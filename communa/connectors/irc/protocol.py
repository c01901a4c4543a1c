"""The IRC wire format, without I/O: parsing and writing lines, text encodings, formatting, splitting.

A line is `[@tags] [:source] COMMAND params... [:trailing]` (RFC 1459/2812 with the IRCv3 message-tags
extension), at most 512 bytes without its tags. Everything here is pure and shared by the live client
(client.py) and by `normalize`, which must read a stored line exactly as the client did.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping

LINE_LIMIT = 512  # bytes, CR LF included, tags excluded (RFC 1459 §2.3, IRCv3 message-tags)
CTCP_DELIMITER = "\x01"

# mIRC colour codes (\x03 with up to two comma-separated numbers), hex colours (\x04 RRGGBB), and the toggles
# for bold, italics, underline, strikethrough, monospace, reverse and reset.
_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_ESCAPES = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}


@dataclasses.dataclass(frozen=True, slots=True)
class Line:
    """One parsed message. `source` is `nick!user@host` (or a server name); `params` include the trailing one."""

    command: str
    params: tuple[str, ...] = ()
    source: str = ""
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def nick(self) -> str:
        """The sender's nick (the part of the source before `!`), or the server name."""
        return self.source.split("!", 1)[0]

    @property
    def userhost(self) -> str:
        """`user@host` of the sender, empty when the source is a server or a bare nick."""
        return self.source.split("!", 1)[1] if "!" in self.source else ""

    def param(self, index: int) -> str:
        return self.params[index] if len(self.params) > index else ""


class MalformedLine(ValueError):
    pass


def parse_line(text: str) -> Line:
    """Parse one line (without CR LF). Raises MalformedLine when there is no command."""
    rest = text.lstrip(" ")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw_tags, _, rest = rest[1:].partition(" ")
        tags = parse_tags(raw_tags)
        rest = rest.lstrip(" ")
    source = ""
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    middle, has_trailing, trailing = rest.partition(" :")
    if rest.startswith(":"):  # no middle parameters at all: "CMD :trailing" was split above, this is ":x"
        raise MalformedLine(f"no command in {text!r}")
    words = middle.split()
    if not words:
        raise MalformedLine(f"no command in {text!r}")
    params = words[1:] + ([trailing] if has_trailing else [])
    return Line(command=words[0].upper(), params=tuple(params), source=source, tags=tags)


def parse_tags(raw: str) -> dict[str, str]:
    """`a=1;b;c=x\\sy` → {"a": "1", "b": "", "c": "x y"} (IRCv3 escaping undone; the last duplicate wins)."""
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        tags[key] = unescape_tag_value(value)
    return tags


def unescape_tag_value(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append(_TAG_UNESCAPES.get(following, following))  # an unknown escape is the character itself
    return "".join(out)


def escape_tag_value(value: str) -> str:
    return "".join(_TAG_ESCAPES.get(char, char) for char in value)


def format_line(command: str, *params: str, tags: Mapping[str, str] | None = None) -> str:
    """Write a line (without CR LF). Only the last parameter may hold spaces or start with a colon."""
    for param in params:
        if "\r" in param or "\n" in param or "\0" in param:
            raise ValueError("an IRC parameter cannot contain CR, LF or NUL")
    words = [command]
    if params:
        *middle, last = params
        for param in middle:
            if not param or " " in param or param.startswith(":"):
                raise ValueError(f"only the last IRC parameter may be empty or hold spaces: {param!r}")
        words += [*middle, f":{last}" if not last or " " in last or last.startswith(":") else last]
    if tags:
        words.insert(0, "@" + ";".join(f"{k}={escape_tag_value(v)}" if v else k for k, v in tags.items()))
    return " ".join(words)


# --- encodings ------------------------------------------------------------------------------------------


def decode_wire(data: bytes) -> tuple[str, str]:
    """Bytes of one line → (text, encoding), losslessly: UTF-8 when valid, else Latin-1 (every byte one char).

    IRC has no declared encoding. Modern clients send UTF-8; older ones send their locale's legacy charset.
    The client keeps such a line as Latin-1 text so that the stored payload still holds the exact bytes
    (`text.encode("latin-1")`), and `readable_text` decides how to show it.
    """
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def readable_text(text: str, encoding: str) -> str:
    """A parameter of a stored line as a person should read it.

    For a line that was not valid UTF-8 (`encoding == "latin-1"`), this parameter's bytes are decoded again:
    as UTF-8 if they are (the bad bytes were elsewhere in the line), as UTF-8 with U+FFFD for a character
    cut at the end (clients that split long messages by bytes do that), and otherwise as Windows-1252, the
    legacy charset of Western European IRC clients (a superset of Latin-1), with U+FFFD for its 5 undefined
    bytes. Text in other legacy charsets (KOI8-R, Shift-JIS, ...) therefore reads as Western mojibake.
    """
    if encoding != "latin-1":
        return text
    data = text.encode("latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.end == len(data):
            return data.decode("utf-8", errors="replace")
    return data.decode("cp1252", errors="replace")


def strip_formatting(text: str) -> str:
    """Drop mIRC formatting (colours, bold, italics, ...): Communa stores plain text."""
    return _FORMATTING.sub("", text)


def parse_ctcp(text: str) -> tuple[str, str] | None:
    """`\\x01ACTION waves\\x01` → ("ACTION", "waves"); None for an ordinary message. The closing \\x01 is optional."""
    if not text.startswith(CTCP_DELIMITER):
        return None
    body = text[1:].removesuffix(CTCP_DELIMITER)
    command, _, argument = body.partition(" ")
    return command.upper(), argument


# --- case mapping --------------------------------------------------------------------------------------


def casefold(name: str, casemapping: str = "rfc1459") -> str:
    """Nicks and channels compare case-insensitively; by default `[]\\~` are the upper case of `{}|^`."""
    lowered = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in name)
    if casemapping == "ascii":
        return lowered
    table = {"[": "{", "]": "}", "\\": "|"} | ({"~": "^"} if casemapping != "strict-rfc1459" else {})
    return "".join(table.get(c, c) for c in lowered)


# --- outgoing text ---------------------------------------------------------------------------------------


def message_budget(*, nick: str, userhost: str, command: str, target: str) -> int:
    """How many bytes of text fit in one message as others receive it: `:nick!user@host CMD target :text\\r\\n`.

    The server relays the line with our full source in front, so that counts against the 512 bytes. When the
    bot does not know its own user@host yet, the longest usual one is assumed (10-char user, 63-char host).
    """
    source = f"{nick}!{userhost}" if userhost else f"{nick}!{'u' * 10}@{'h' * 63}"
    overhead = len(f":{source} {command} {target} :".encode()) + 2
    return LINE_LIMIT - overhead


def split_message(text: str, budget: int) -> list[str]:
    """Cut `text` into lines of at most `budget` UTF-8 bytes: at line breaks, then between words.

    A word longer than a whole line is cut between characters (never inside one). Blank lines are dropped:
    IRC cannot send an empty message.
    """
    if budget < 4:
        raise ValueError("no room for text in an IRC line")
    pieces: list[str] = []
    for paragraph in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        pieces.extend(_split_paragraph(paragraph.strip(), budget))
    return pieces


def _split_paragraph(paragraph: str, budget: int) -> Iterator[str]:
    current = ""
    for word in paragraph.split():
        candidate = f"{current} {word}" if current else word
        if _size(candidate) <= budget:
            current = candidate
            continue
        if current:
            yield current
        current = ""
        while _size(word) > budget:
            head = _cut(word, budget)
            yield head
            word = word[len(head) :]
        current = word
    if current:
        yield current


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(word: str, budget: int) -> str:
    """The longest prefix of `word` within `budget` bytes."""
    size = 0
    for index, char in enumerate(word):
        size += _size(char)
        if size > budget:
            return word[:index]
    return word
