"""Saved replies: safe variables, the member's language, shortcuts, who may edit."""

from __future__ import annotations

import pytest

from communa.accounts.models import User, Workspace
from communa.connectors.models import Source
from communa.inbox import saved_replies
from communa.inbox.models import Conversation, SavedReply
from communa.inbox.saved_replies import substitute
from communa.inbox.services import InboxError
from tests.inbox.conftest import post, triage

pytestmark = pytest.mark.django_db


def test_substitution_is_literal_and_leaves_unknown_variables() -> None:
    values = {"member_name": "Ana Lima", "first_name": "Ana"}
    links = {"faq": "https://aurora.example/faq"}
    assert substitute("Hi {first_name}, see {link:faq}.", values, links) == (
        "Hi Ana, see https://aurora.example/faq.",
        (),
    )
    assert substitute("{{first_name}} and {nope} {link:gone}", values, links) == (
        "{first_name} and {nope} {link:gone}",
        ("nope", "link:gone"),
    )
    assert substitute("{0.__class__} {member_name.upper} {", values, links) == (
        "{0.__class__} {member_name.upper} {",
        ("0.__class__", "member_name.upper"),
    )
    assert substitute("{first_name}}", values, links) == ("Ana}", ())


def test_render_in_the_members_language(workspace: Workspace, source: Source, manager: User) -> None:
    saved_replies.save_link(workspace=workspace, actor=manager, name="Shipping", url="https://acme.example/ship")
    saved = saved_replies.save_saved_reply(
        workspace=workspace,
        actor=manager,
        title="Shipping times",
        shortcut="/Shipping Times",
        body="Hi {first_name}, we ship in 2 days: {link:shipping} — {agent_name}, {workspace}",
        language="en",
        variants={
            "it": "Ciao {first_name}, spediamo in 2 giorni: {link:shipping} — {agent_name}",
            "es": "Hola {first_name}, enviamos en 2 días: {link:shipping}",
            "ru": "Здравствуйте, {first_name}! Отправляем за 2 дня: {link:shipping}",
            "de": "  ",
        },
    )
    assert saved.shortcut == "shipping-times"
    assert sorted(saved.variants.values_list("language", flat=True)) == ["es", "it", "ru"]
    triage(workspace, post(source, "m1", "ana lima", "Quando arriva?", question=True, language="it"))
    c = Conversation.objects.select_related("member").get()
    manager.first_name = "Marco"
    rendered = saved_replies.render(saved_reply=saved, conversation=c, user=manager)
    assert (rendered.text, rendered.language) == (
        "Ciao Ana, spediamo in 2 giorni: https://acme.example/ship — Marco",
        "it",
    )
    assert saved_replies.render(saved_reply=saved, conversation=c, user=manager, language="pt-BR").text == (
        "Hi Ana, we ship in 2 days: https://acme.example/ship — Marco, Acme Community"
    )
    assert saved_replies.render(saved_reply=saved, conversation=c, user=manager, language="ES-mx").language == "es"
    assert saved_replies.by_shortcut(workspace=workspace, shortcut="/SHIPPING-TIMES") == saved
    assert saved_replies.by_shortcut(workspace=workspace, shortcut="/shipping") is None  # the whole shortcut
    assert saved_replies.by_shortcut(workspace=workspace, shortcut="/shipping-times") == saved
    assert [s.pk for s in saved_replies.search(workspace=workspace, query="/ship")] == [saved.pk]


def test_shortcuts_are_unique_and_editing_needs_the_reply_permission(
    workspace: Workspace, other_workspace: Workspace, manager: User, volunteer: User, outsider: User
) -> None:
    saved_replies.save_saved_reply(workspace=workspace, actor=manager, title="Hi", shortcut="hi", body="Hello")
    with pytest.raises(InboxError, match="The shortcut /hi is already used"):
        saved_replies.save_saved_reply(workspace=workspace, actor=manager, title="Hi 2", shortcut="hi", body="Hey")
    with pytest.raises(InboxError, match="needs text"):
        saved_replies.save_saved_reply(workspace=workspace, actor=manager, title="Empty", shortcut="e", body=" ")
    for user in (volunteer, outsider):
        with pytest.raises(PermissionError):
            saved_replies.save_saved_reply(workspace=workspace, actor=user, title="X", shortcut="x", body="x")
    # Another workspace may use the same shortcut.
    saved_replies.save_saved_reply(workspace=other_workspace, actor=outsider, title="Hi", shortcut="hi", body="Yo")
    assert SavedReply.objects.filter(shortcut="hi").count() == 2
