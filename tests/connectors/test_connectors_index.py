"""docs/connectors/README.md tells the truth: every registered connector is in its tables, with exactly the
capabilities and moderation actions its class declares, and links to its own page."""

from __future__ import annotations

import re
from pathlib import Path

from communa.connectors.base import Capability, ModerationAction
from communa.connectors.registry import connector_classes

DOCS = Path(__file__).resolve().parents[2] / "docs"
INDEX = DOCS / "connectors" / "README.md"
ROW = re.compile(r"^\| \[[^\]]+\]\((?P<page>[a-z]+\.md)\) \|(?P<cells>.*)\|$")

CAPABILITY_COLUMNS = [
    Capability.POLL,
    Capability.STREAM,
    Capability.WEBHOOK,
    Capability.REPLY,
    Capability.PUBLISH,
    Capability.MODERATE,
]
MODERATION_COLUMNS = [
    {ModerationAction.REMOVE_MESSAGE},
    {ModerationAction.MUTE, ModerationAction.UNMUTE},
    {ModerationAction.KICK},
    {ModerationAction.BAN, ModerationAction.UNBAN},
]


def tables() -> list[dict[str, list[str]]]:
    """Each table of the page whose rows start with a link to a connector page: page → its other cells."""
    found: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    for line in INDEX.read_text().splitlines():
        row = ROW.match(line)
        if row is None:
            current = None
            continue
        if current is None:
            current = {}
            found.append(current)
        current[row["page"]] = [cell.strip() for cell in row["cells"].split("|")]
    return found


def page_of(docs_page: str) -> str:
    return docs_page.removeprefix("connectors/")


def test_every_connector_is_listed_and_its_page_exists() -> None:
    listing, _capabilities, _moderation = tables()
    pages = {page_of(cls.docs_page) for cls in connector_classes()}
    assert set(listing) == pages
    assert sorted(page for page in pages if not (DOCS / "connectors" / page).exists()) == []


def test_the_capability_table_matches_each_connectors_flags() -> None:
    _listing, capabilities, _moderation = tables()
    documented = {
        page: {column for column, cell in zip(CAPABILITY_COLUMNS, cells, strict=True) if cell == "✓"}
        for page, cells in capabilities.items()
    }
    declared = {page_of(cls.docs_page): set(cls.capabilities) for cls in connector_classes()}
    assert documented == declared


def test_the_moderation_table_matches_each_moderating_connectors_actions() -> None:
    _listing, _capabilities, moderation = tables()
    documented = {
        page: set().union(*(actions for actions, cell in zip(MODERATION_COLUMNS, cells, strict=True) if cell[0] == "✓"))
        for page, cells in moderation.items()
    }
    declared = {
        page_of(cls.docs_page): set(cls.moderation_actions)
        for cls in connector_classes()
        if Capability.MODERATE in cls.capabilities
    }
    assert documented == declared
