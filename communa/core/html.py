"""HTML from platforms (feed entries, emails) reduced to plain text that is safe to store and to show.

Communa stores text as typed and escapes it when rendering, so "safe" here means: nothing of the markup
survives as markup, nothing invisible to a reader survives as text (scripts, styles, the document head,
comments, embedded frames), entities are decoded, and the layout a reader relies on is kept as plain
line breaks (paragraphs, list items, the lines of a code block).

Cleaning and layout are html-text's (on lxml's forgiving HTML parser and lxml-html-clean's cleaner); this
module only adds what plain text for a community inbox needs on top: deep trees, no <head>, list bullets,
and the line breaks of <pre> blocks. Trees deeper than libxml2's hard limit (2048 levels, only seen in
hostile input) lose what follows the limit; nothing raises.
"""

from __future__ import annotations

import html
import re
from typing import Any

import html_text
import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]

# Elements whose content a reader never sees in a browser, dropped with everything inside them.
_INVISIBLE = ("head", "title", "template", "noscript", "iframe")
_BULLET = "• "
_INVISIBLE_BLOCK = re.compile(r"<(script|style|head|template)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def html_to_text(markup: str) -> str:
    """Return the readable text of an HTML fragment or document; never raises on malformed input."""
    if not markup or not markup.strip():
        return ""
    # lxml refuses lone surrogates (broken JSON escapes, bad decoders); replace them rather than fail.
    markup = markup.encode("utf-8", "replace").decode("utf-8")
    tree = _clean_tree(markup)
    if tree is None:
        return _tidy(_strip_tags(markup))
    _mark_list_items(tree)
    _keep_preformatted_lines(tree)
    return _tidy(html_text.etree_to_text(tree))


def _clean_tree(markup: str) -> Any:
    """Parse and strip scripts, styles, comments and frames; None when lxml cannot make a tree of it."""
    try:
        tree = _parse(markup)
        # Before the cleaner: it unwraps some of these (iframe) and would leave their fallback text behind.
        _drop_invisible(tree)
        return html_text.cleaner.clean_html(tree)
    except Exception:  # noqa: BLE001 — lxml raises assorted types on hostile input; text must never crash
        return None


def _parse(markup: str) -> Any:
    """lxml's forgiving HTML parser, allowed deep trees: broken mail HTML nests hundreds of unclosed tags,
    and the default depth limit (256) would silently drop everything after them."""
    parser = lxml.html.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)  # parsers are per thread
    root = lxml.etree.fromstring(markup.replace("\x00", "").encode("utf-8"), parser=parser)
    return root if root is not None else lxml.etree.fromstring(b"<html/>", parser=parser)


def _drop_invisible(tree: Any) -> None:
    for element in list(tree.iter(*_INVISIBLE)):
        element.drop_tree()


def _mark_list_items(tree: Any) -> None:
    """Give list items a visible marker: a bullet, or their number in an ordered list."""
    for item in tree.iter("li"):
        parent = item.getparent()
        marker = _BULLET
        if parent is not None and parent.tag == "ol":
            siblings = [child for child in parent if child.tag == "li"]
            marker = f"{_ordered_start(parent) + siblings.index(item)}. "
        item.text = marker + (item.text or "")


def _ordered_start(ordered_list: Any) -> int:
    start = str(ordered_list.get("start") or "1").strip()
    return int(start) if start.isdigit() else 1


def _keep_preformatted_lines(tree: Any) -> None:
    """html-text collapses all whitespace; turn the newlines inside <pre> into <br> so lines survive."""
    for block in list(tree.iter("pre")):
        for node in [block, *block.iterdescendants()]:
            _split_lines(node, "text")
            if node is not block:
                _split_lines(node, "tail")


def _split_lines(node: Any, attribute: str) -> None:
    """Replace newlines in `node.text` (or `node.tail`) by <br> elements at the same place."""
    value = getattr(node, attribute)
    if not value or "\n" not in value:
        return
    first, *rest = value.split("\n")
    setattr(node, attribute, first)
    if attribute == "text":
        parent, index = node, 0
    else:
        parent, index = node.getparent(), node.getparent().index(node) + 1
    for offset, line in enumerate(rest):
        br = parent.makeelement("br")
        br.tail = line
        parent.insert(index + offset, br)


def _strip_tags(markup: str) -> str:
    """Last resort when no tree can be built: drop invisible blocks and tags, decode entities."""
    markup = _INVISIBLE_BLOCK.sub(" ", markup)
    return html.unescape(_TAG.sub(" ", markup))


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()
