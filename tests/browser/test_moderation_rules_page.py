"""The moderation rules page as laid out in a real browser: no stray list numbers, no empty band.

Playwright drives Debian's Chromium (/usr/bin/chromium); see test_stream_browser.py for the conventions.
"""

from __future__ import annotations

from typing import Any

import pytest

from communa.accounts.models import User, Workspace
from communa.moderation import services
from tests.browser.test_stream_browser import browser, page, sign_in  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RULES = """\
rules:
  - id: no-insults
    name: No insults
    when:
      words: [idiot]
    actions: [queue]
"""


def test_versions_have_no_list_numbers_and_the_editor_starts_at_the_top_of_its_card(
    page: Any,  # noqa: F811 - the fixture imported above
    workspace: Workspace,
    manager: User,
) -> None:
    first = services.save_rule_set(workspace=workspace, text=RULES, modes={}, actor=manager, comment="First")
    services.save_rule_set(workspace=workspace, text=RULES, modes={}, actor=manager, comment="Second")
    services.activate_rule_set(workspace=workspace, rule_set=first, actor=manager)
    sign_in(page, manager)
    page.goto("/w/acme/moderation/rules/")

    versions = page.locator("ol.version-list")
    assert versions.locator("li > a").all_inner_texts() == ["Version 2", "Version 1"]
    assert versions.evaluate("ol => getComputedStyle(ol).listStyleType") == "none"
    # The empty live region of the check takes no room: the label is the first thing below the card's padding.
    gap = page.evaluate(
        """() => {
            const card = document.querySelector('.rule-check').closest('.card');
            const label = card.querySelector('label[for="id_text"]');
            return label.getBoundingClientRect().top - card.getBoundingClientRect().top
                - parseFloat(getComputedStyle(card).paddingTop) - parseFloat(getComputedStyle(card).borderTopWidth);
        }"""
    )
    assert gap == pytest.approx(0, abs=1)
    # The status row keeps its button beside the badge (a <form> inside a <p> would push it onto its own row).
    badge = page.get_by_text("Live: version 1").bounding_box()
    button = page.get_by_role("button", name="Turn automatic moderation off").bounding_box()
    assert abs(button["y"] + button["height"] / 2 - (badge["y"] + badge["height"] / 2)) < 4

    # A failed check fills the live region; it shows above the editor.
    page.locator("textarea[name=text]").fill(RULES.replace("words:", "wordz:"))
    page.get_by_role("button", name="Check", exact=True).click()
    assert page.get_by_role("alert").inner_text().startswith("Line 5, column 7")
