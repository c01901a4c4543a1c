from __future__ import annotations

from django import template
from django.core.exceptions import ObjectDoesNotExist
from django.utils.functional import Promise

from communa.enrichment.presentation import CORRECTION_MENU, Badge, badges
from communa.enrichment.presentation import current_labels as presentation_current_labels
from communa.enrichment.tables import MessageSignals
from communa.stream.models import Message

register = template.Library()


def signals_of(message: Message) -> MessageSignals | None:
    """The message's signals as loaded with it (select_related("signals")), or None before enrichment."""
    try:
        signals: MessageSignals = message.signals
    except ObjectDoesNotExist:
        return None
    return signals


@register.simple_tag
def signal_badges(message: Message) -> list[Badge]:
    """`{% signal_badges m as badges %}`: the message's signal badges, none before it is analysed."""
    signals = signals_of(message)
    if signals is None:
        return []
    return badges(signals, message_language=message.language, has_text=bool(message.text or message.title))


@register.simple_tag
def current_labels(message: Message) -> dict[str, str]:
    """`{% current_labels m as current %}`: task → the label the message has now (model or moderator)."""
    signals = signals_of(message)
    return presentation_current_labels(signals) if signals is not None else {}


@register.simple_tag
def correction_menu() -> list[tuple[str, str | Promise, list[tuple[str, str | Promise]]]]:
    """`{% correction_menu as menu %}`: each task with the labels a moderator can give it."""
    return CORRECTION_MENU
