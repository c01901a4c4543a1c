"""What a person wrote in a reply, without the quoted mail below it and without their signature.

Only what mail software marks reliably is trimmed, in any of the languages Communa speaks and a few more:
- the signature after a "-- " line (RFC 3676; "--" too when only a short signature follows);
- the quoted mail at the end: ">"-prefixed lines, with the attribution line before them ("On … wrote:",
  "Il giorno … ha scritto:", "… написал(а):", …), also when it is wrapped over two lines;
- a quote at the start of a bottom-posted reply, when the answer follows it;
- the forwarded or original mail under "-----Original Message-----" (Outlook, in its languages) or under a
  line of underscores followed by a "From:" block;
- in HTML-only mail: Gmail, Thunderbird, Apple Mail, Yahoo and Outlook quote and signature containers.
Quotes between paragraphs (an answer interleaved with the question) are kept: they are the answer's context.
When trimming would leave nothing (a forward with no comment), nothing is trimmed.
"""

from __future__ import annotations

import re
from typing import Any

import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]

_SIGNATURE = "-- "
_SHORT_SIGNATURE_LINES = 10
# The verb, then anything (German and French put the name after it: "Am … schrieb Ann:"), then the colon.
_ATTRIBUTION = re.compile(
    r"\b(wrote|writes|ha scritto|scrisse|написал|пишет|schrieb|a écrit|escribió|escreveu|schreef|napisał|skrev"
    r"|kirjoitti)[^\n]*:\s*$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{3,}\s*(original message|messaggio originale|исходное сообщение|ursprüngliche nachricht"
    r"|message d'origine|mensaje original|mensagem original|forwarded message|messaggio inoltrato"
    r"|пересылаемое сообщение|oorspronkelijk bericht)\s*-{3,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_HEADER_LINE = re.compile(r"^\s*\*?(from|da|от|von|de|van|od)\*?\s*:", re.IGNORECASE)

# HTML containers mail apps wrap quotes and signatures in (class or id, as they write them).
_HTML_QUOTES = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_signature ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_extra ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' moz-signature ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' yahoo_quoted ')]"
    " | //blockquote[@type='cite']"
)
# Outlook marks where the quoted mail starts; everything after the marker is the quote.
_HTML_QUOTE_STARTS = "//*[@id='divRplyFwdMsg' or @id='appendonsend' or @id='x_divRplyFwdMsg']"


def trim_text(text: str) -> str:
    """The reply without the trailing quote, the original-message block and the signature (see above)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = _without_leading_quote(lines)
    end = min(_signature_start(lines), _original_message_start(lines), _trailing_quote_start(lines))
    trimmed = "\n".join(lines[:end]).strip()
    return trimmed or text.strip()


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def _signature_start(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if line == _SIGNATURE:
            return index
        if line.strip() == "--" and _signature_length(lines[index + 1 :]) <= _SHORT_SIGNATURE_LINES:
            return index
    return len(lines)


def _signature_length(after: list[str]) -> int:
    """Lines of signature after a bare "--": up to a quote or an attribution, which are trimmed anyway."""
    count = 0
    for line in after:
        if _is_quote(line) or _ATTRIBUTION.search(line):
            break
        count += 1
    return count


def _original_message_start(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if _ORIGINAL_MESSAGE.match(line):
            return index
        if _UNDERSCORES.match(line) and any(_HEADER_LINE.match(after) for after in lines[index + 1 : index + 3]):
            return index
    return len(lines)


def _trailing_quote_start(lines: list[str]) -> int:
    """Where the quoted block at the end starts (its attribution included); len(lines) when there is none."""
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    start = end
    while start > 0 and (_is_quote(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    if start == end or not any(_is_quote(line) for line in lines[start:end]):
        return len(lines)
    return _attribution_start(lines, start)


def _attribution_start(lines: list[str], quote_start: int) -> int:
    """Include the "… wrote:" line (or two lines, when a client wrapped it) just above a quote."""
    previous = quote_start - 1
    if previous < 0:
        return quote_start
    if _ATTRIBUTION.search(lines[previous]):
        two_line = previous > 0 and lines[previous - 1].strip() and not _ATTRIBUTION.search(lines[previous - 1])
        wrapped = two_line and len(lines[previous].split()) <= 3
        return previous - 1 if wrapped else previous
    return quote_start


def _without_leading_quote(lines: list[str]) -> list[str]:
    """A bottom-posted reply: drop the attribution and quote at the top when the answer follows them."""
    index = 0
    if lines and _ATTRIBUTION.search(lines[0]):
        index = 1
    elif len(lines) > 1 and _ATTRIBUTION.search(lines[1]) and not _is_quote(lines[0]):
        index = 2
    if index >= len(lines) or not _is_quote(lines[index]):
        return lines
    while index < len(lines) and (_is_quote(lines[index]) or not lines[index].strip()):
        index += 1
    rest = lines[index:]
    return rest if any(line.strip() for line in rest) and not any(_is_quote(line) for line in rest) else lines


def trim_html(markup: str) -> str:
    """The HTML without the quote and signature containers mail apps mark; the input when it cannot parse."""
    if not markup.strip():
        return markup
    try:
        parser = lxml.html.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
        tree = lxml.etree.fromstring(markup.replace("\x00", "").encode("utf-8", "replace"), parser=parser)
    except Exception:  # noqa: BLE001 — lxml raises assorted types on hostile input; fall back to no trimming
        return markup
    if tree is None:
        return markup
    changed = _drop_quote_starts(tree)
    for element in tree.xpath(_HTML_QUOTES):
        if element.getparent() is not None:
            element.drop_tree()
            changed = True
    if not changed:
        return markup
    return str(lxml.html.tostring(tree, encoding="unicode"))


def _drop_quote_starts(tree: Any) -> bool:
    """Outlook's reply marker and everything after it, at its level."""
    markers = tree.xpath(_HTML_QUOTE_STARTS)
    for marker in markers:
        if marker.getparent() is None:
            continue
        for sibling in list(marker.itersiblings()):
            sibling.drop_tree()
        marker.drop_tree()
    return bool(markers)
