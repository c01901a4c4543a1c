"""A mail as the server holds it (RFC 5322 bytes) → the JSON-safe payload stored for it. Pure; never raises.

Mail in the wild breaks every rule, so nothing here trusts the input: headers may carry raw 8-bit bytes in
any charset, encoded words (RFC 2047) in unknown charsets or with broken base64, parts may declare charsets
Python has never heard of or lie about them (iso-8859-1 that is really windows-1252, gb2312 that is really
gb18030). Every decode falls back, and invalid bytes become U+FFFD.

What is kept: the headers normalize needs (decoded, addresses split into name and address), the text/plain
and text/html bodies (each capped at 256 KiB of UTF-8), and attachments as metadata only (name, type, size):
their content is neither stored nor opened. A forwarded mail or the original attached to a bounce
(message/rfc822) is an attachment too: its text does not leak into the body.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import quopri
import re
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

MAX_BODY_BYTES = 256 * 1024
MAX_HEADER_CHARS = 2000
MAX_ADDRESSES = 100
MAX_REFERENCES = 100
MAX_ATTACHMENTS = 100
MAX_PARTS = 500  # a mail bomb of nested parts stops being walked here

# Labels that mail software writes but Python lacks, or that lie in practice (as browsers decode them).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "x-mac-cyrillic": "mac-cyrillic",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
}
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([^?\s]*)\?=")
_BETWEEN_ENCODED_WORDS = re.compile(r"(?<=\?=)[ \t]+(?==\?)")
_SURROGATE_ESCAPE = re.compile("[\udc80-\udcff]")
_FOLD = re.compile(r"\r?\n[ \t]*")
_ANGLE_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")
_BARE_ID = re.compile(r"[^<>\s,;]+@[^<>\s,;]+")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_FIELDS = {
    "subject": "subject",
    "date": "date",
    "auto_submitted": "auto-submitted",
    "precedence": "precedence",
    "x_autoreply": "x-autoreply",
    "x_autorespond": "x-autorespond",
    "list_id": "list-id",
    "content_language": "content-language",
    "return_path": "return-path",
}


# --- charsets and headers ----------------------------------------------------------------------------


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode with the declared charset when Python knows it, else UTF-8, else windows-1252; never raises."""
    label = (charset or "").strip().strip('"').lower()
    codec = _codec(label) if label else None
    if codec is None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            codec = "cp1252"
    if codec == "cp1252":
        # Labelled Latin-1 or ASCII, but modern clients often send UTF-8 under those labels.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return data.decode(codec, "replace")


def _codec(label: str) -> str | None:
    name = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_header_value(raw: str, fallback_charset: str | None = None) -> str:
    """One header's text: unfolded, raw 8-bit bytes decoded, encoded words decoded, capped."""
    return decode_encoded_words(unfold(raw, fallback_charset)).strip()[:MAX_HEADER_CHARS]


def unfold(raw: str, fallback_charset: str | None = None) -> str:
    """A header on one line, with raw 8-bit bytes decoded (encoded words are left as they are)."""
    text = _FOLD.sub(" ", raw)
    if text.isascii() or not _SURROGATE_ESCAPE.search(text):
        return text
    # compat32 keeps raw 8-bit header bytes as surrogate escapes: recover them, then try UTF-8 (what most
    # software writes there), then the charset the mail declares for its text.
    data = text.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return decode_bytes(data, fallback_charset)


def decode_encoded_words(text: str) -> str:
    """RFC 2047 `=?charset?Q|B?…?=` words decoded; the blanks between two adjacent words are dropped."""
    if "=?" not in text:
        return text
    text = _BETWEEN_ENCODED_WORDS.sub("", text)
    return _ENCODED_WORD.sub(_decode_word, text)


def _decode_word(match: re.Match[str]) -> str:
    charset, encoding, encoded = match.group(1), match.group(2).upper(), match.group(3)
    try:
        if encoding == "B":
            data = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
        else:
            data = quopri.decodestring(encoded.replace("_", " ").encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return decode_bytes(data, charset)


# --- identifiers and addresses -------------------------------------------------------------------------


def message_ids(value: str) -> list[str]:
    """The Message-IDs in a References / In-Reply-To / Message-ID header, in order, without angle brackets."""
    found = _ANGLE_ID.findall(value) or _BARE_ID.findall(value)
    unique = list(dict.fromkeys(found))
    if len(unique) > MAX_REFERENCES:
        # Keep the root (first) and the most recent ones: the ends of a conversation are what threading needs.
        unique = [unique[0], *unique[-(MAX_REFERENCES - 1) :]]
    return unique


def addresses(value: str) -> list[dict[str, str]]:
    """`[{"name", "address"}]` from an address header (already decoded to text), skipping group syntax."""
    found = []
    for name, address in getaddresses([value])[:MAX_ADDRESSES]:
        address = address.strip()
        if "@" not in address:
            continue
        name = decode_encoded_words(name).strip().strip('"').strip()
        found.append({"name": "" if name.lower() == address.lower() else name, "address": address})
    return found


def fallback_message_id(headers: dict[str, Any], text: str, html: str) -> str:
    """A stable id for a mail without a Message-ID: the same mail always gets the same one."""
    parts = [
        str(headers.get("from")),
        str(headers.get("to")),
        str(headers.get("cc")),
        str(headers.get("date")),
        str(headers.get("subject")),
        text,
        html,
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()[:40]
    return f"{digest}@no-message-id.communa.invalid"


# --- the payload -------------------------------------------------------------------------------------


def parse_message(
    raw: bytes,
    *,
    folder: str,
    uid: int = 0,
    internal_date: datetime | None = None,
    size: int | None = None,
    truncated: bool = False,
) -> dict[str, Any]:
    """The stored payload for one mail (see the module docstring). `truncated`: only the start was fetched."""
    message = message_from_bytes(raw, policy=compat32)
    charset = _first_charset(message)
    headers = _headers(message, charset)
    body = _Body()
    body.walk(message)
    payload: dict[str, Any] = {
        "folder": folder,
        "uid": uid,
        "internal_date": internal_date.isoformat() if internal_date else "",
        "size": size if size is not None else len(raw),
        "truncated": truncated,
        "headers": headers,
        "text": body.text,
        "html": body.html,
        "text_truncated": body.text_truncated,
        "html_truncated": body.html_truncated,
        "attachments": body.attachments,
        "content_type": message.get_content_type(),
        "report_type": str(message.get_param("report-type", "") or "").lower(),
        "delivery_status": body.delivery_status,
    }
    ids = message_ids(headers["message_id"])
    payload["message_id"] = ids[0] if ids else fallback_message_id(headers, body.text, body.html)
    return payload


def _first_charset(message: Message) -> str | None:
    """The first charset a part declares: the best guess for raw 8-bit bytes in the headers."""
    for part in message.walk():
        charset = part.get_content_charset()
        if charset:
            return charset
    return None


def _headers(message: Message, charset: str | None) -> dict[str, Any]:
    raw: dict[str, str] = {}
    for name, value in message.raw_items():
        key = name.strip().lower()
        if key not in raw:  # the first occurrence counts (a forged second Subject is ignored)
            raw[key] = value if isinstance(value, str) else str(value)

    def text(name: str) -> str:
        return decode_header_value(raw[name], charset) if name in raw else ""

    headers: dict[str, Any] = {field: text(name) for field, name in _HEADER_FIELDS.items()}
    for field, name in (("from", "from"), ("sender", "sender"), ("to", "to"), ("cc", "cc"), ("reply_to", "reply-to")):
        # Split first, decode the names after: a decoded name may hold the commas that separate addresses.
        headers[field] = addresses(unfold(raw[name], charset)) if name in raw else []
    headers["message_id"] = text("message-id")
    headers["in_reply_to"] = message_ids(text("in-reply-to"))
    headers["references"] = message_ids(text("references"))
    return headers


class _Body:
    """Walks the MIME tree once, collecting the text parts and describing everything else."""

    def __init__(self) -> None:
        self.text = ""
        self.html = ""
        self.text_truncated = False
        self.html_truncated = False
        self.attachments: list[dict[str, Any]] = []
        self.delivery_status: list[dict[str, str]] = []
        self._texts: list[str] = []
        self._htmls: list[str] = []
        self._parts = 0

    def walk(self, message: Message) -> None:
        self._visit(message)
        self.text, self.text_truncated = _cap("\n\n".join(t for t in self._texts if t.strip()))
        self.html, self.html_truncated = _cap("\n".join(self._htmls))

    def _visit(self, part: Message) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            return
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            self.delivery_status = _delivery_status(part)
            return
        if part.is_multipart() and content_type != "message/rfc822":
            for child in part.get_payload():
                if isinstance(child, Message):
                    self._visit(child)
            return
        filename = _filename(part)
        disposition = part.get_content_disposition()
        if content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            decoded = decode_bytes(_content(part), part.get_content_charset())
            decoded = decoded.replace("\r\n", "\n").replace("\r", "\n")  # mail's CRLF, stored as \n
            if content_type == "text/html":
                self._htmls.append(decoded)
            elif _param(part, "format") == "flowed":
                self._texts.append(unflow(decoded, delsp=_param(part, "delsp") == "yes"))
            else:
                self._texts.append(decoded)
            return
        self._describe(part, content_type, filename, disposition)

    def _describe(self, part: Message, content_type: str, filename: str, disposition: str | None) -> None:
        if len(self.attachments) >= MAX_ATTACHMENTS:
            return
        if content_type == "message/rfc822":
            inner = part.get_payload()
            inner_message = inner[0] if isinstance(inner, list) and inner else None
            subject = inner_message.get("subject", "") if isinstance(inner_message, Message) else ""
            filename = filename or f"{decode_header_value(str(subject)) or 'message'}.eml"
            size = len(inner_message.as_bytes()) if isinstance(inner_message, Message) else 0
        else:
            size = len(_content(part))
        self.attachments.append({
            "filename": filename,
            "content_type": content_type,
            "size": size,
            "inline": disposition == "inline",
        })  # fmt: skip


def _param(part: Message, name: str) -> str:
    value = part.get_param(name, "")
    return value.strip().lower() if isinstance(value, str) else ""


def unflow(text: str, *, delsp: bool) -> str:
    """RFC 3676 format=flowed: lines ending in a space continue on the next one (at the same quote depth)."""
    lines: list[str] = []
    paragraph: str | None = None
    depth = 0
    for raw in text.replace("\r\n", "\n").split("\n"):
        line_depth = len(raw) - len(raw.lstrip(">"))
        content = raw[line_depth:]
        content = content[1:] if content.startswith(" ") else content  # space-stuffing
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if paragraph is not None and line_depth != depth:
            lines.append(_with_quote_marks(depth, paragraph))
            paragraph = None
        paragraph, depth = (paragraph or "") + content, line_depth
        if not flowed:
            lines.append(_with_quote_marks(depth, paragraph))
            paragraph = None
    if paragraph is not None:
        lines.append(_with_quote_marks(depth, paragraph))
    return "\n".join(lines)


def _with_quote_marks(depth: int, text: str) -> str:
    return f"{'>' * depth} {text}" if depth else text


def _content(part: Message) -> bytes:
    """A leaf part's bytes after its transfer encoding (lenient: broken base64 yields what it can)."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 — the stdlib raises assorted errors on broken encodings
        return b""
    return data if isinstance(data, bytes) else b""


def _filename(part: Message) -> str:
    """The part's file name (RFC 2231 or encoded words), without any path or control characters."""
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:  # noqa: BLE001 — malformed RFC 2231 parameters
        return ""
    if isinstance(name, tuple):  # an RFC 2231 value get_param could not collapse
        name = decode_bytes(str(name[2]).encode("ascii", "surrogateescape"), name[0] or None)
    name = decode_header_value(str(name))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_FILENAME.sub("", name).strip()[:255]


def _delivery_status(part: Message) -> list[dict[str, str]]:
    """Per-recipient lines of a bounce (RFC 3464): who, what happened, and the server's words."""
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        return []
    found = []
    for block in blocks[1:MAX_ADDRESSES]:  # the first block is about the reporting server
        if not isinstance(block, Message):
            continue
        recipient = str(block.get("final-recipient") or block.get("original-recipient") or "")
        found.append({
            "recipient": recipient.split(";", 1)[-1].strip()[:320],
            "action": str(block.get("action", "")).strip().lower()[:40],
            "status": str(block.get("status", "")).strip()[:40],
            "diagnostic": decode_header_value(str(block.get("diagnostic-code", "")))[:500],
        })  # fmt: skip
    return found


def _cap(text: str) -> tuple[str, bool]:
    """At most MAX_BODY_BYTES of UTF-8, cut on a character boundary; and whether it was cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= MAX_BODY_BYTES:
        return text.encode("utf-8", "replace").decode("utf-8"), False
    return data[:MAX_BODY_BYTES].decode("utf-8", "ignore"), True
