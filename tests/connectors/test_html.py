"""communa.core.html: HTML from platforms reduced to plain text a reader would see."""

from __future__ import annotations

import pytest

from communa.core.html import html_to_text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("", ""),
        ("   \n ", ""),
        ("plain words", "plain words"),
        ("Fish &amp; chips &mdash; &#8364;5 &lt;cheap&gt;", "Fish & chips — €5 <cheap>"),
        ("<p>One</p><p>Two<br>lines</p>", "One\n\nTwo\nlines"),
        ("<ul><li>apples</li><li><b>pears</b> too</li></ul>", "• apples\n• pears too"),
        ('<ol start="3"><li>third</li><li>fourth</li></ol>', "3. third\n4. fourth"),
        ("<pre>line 1\n  line 2\nline 3</pre>", "line 1\nline 2\nline 3"),
        ("<p>unclosed <b>bold <i>and italic", "unclosed bold and italic"),
        ('<a href="https://example.org" onclick="steal()">a link</a>', "a link"),
        ("<p>x\u00a0y</p>", "x y"),
    ],
)
def test_readable_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    "markup",
    [
        "<script>alert('pwned')</script>",
        "<style>body { color: red }</style>",
        "<head><title>page title</title><meta name=x content=y></head>",
        "<!-- a comment -->",
        "<template><p>template</p></template>",
        "<noscript>enable javascript</noscript>",
        '<iframe src="https://evil.example">frame fallback</iframe>',
        "<?php echo 'x'; ?>",
    ],
)
def test_what_a_reader_never_sees_is_dropped(markup: str) -> None:
    assert html_to_text(f"<p>before</p>{markup}<p>after</p>") == "before\n\nafter"


def test_a_whole_document_gives_its_body() -> None:
    page = (
        "<!DOCTYPE html><html><head><title>Newsletter</title><style>p{}</style></head>"
        "<body><h1>March news</h1><p>Meetup on <em>Friday</em>.</p></body></html>"
    )

    assert html_to_text(page) == "March news\n\nMeetup on Friday."


def test_broken_characters_never_raise() -> None:
    assert html_to_text("<p>lone \ud800 surrogate and \x00 nul</p>") == "lone ? surrogate and nul"


def test_hundreds_of_unclosed_tags_keep_the_text_after_them() -> None:
    """Mail HTML from some editors nests an unclosed <font> per line: the default parser stops at 256."""
    messy = "<p>start</p>" + "<font>x " * 1000 + "<p>the end</p>"

    assert html_to_text(messy).endswith("the end")


def test_hostile_depth_and_size_do_not_raise() -> None:
    deep = "<div>" * 5000 + "deep" + "</div>" * 5000
    big = "<p>" + "word " * 200_000 + "</p>"

    assert html_to_text(deep) == ""  # past libxml2's hard limit: dropped, never a crash
    assert html_to_text(big) == ("word " * 200_000).strip()
