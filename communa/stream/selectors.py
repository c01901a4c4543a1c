from __future__ import annotations

from django.core.cache import cache

from communa.accounts.models import Workspace
from communa.core.pagination import Page, paginate_newest_first
from communa.stream.filters import MessageFilter, filter_messages
from communa.stream.models import Message


def message_page(*, workspace: Workspace, flt: MessageFilter, cursor: str | None, limit: int = 50) -> Page[Message]:
    qs = filter_messages(workspace=workspace, flt=flt).select_related(
        "source", "identity", "member", "thread", "signals"
    )
    return paginate_newest_first(qs, cursor=cursor, limit=limit)


def get_message(*, workspace: Workspace, message_id: int) -> Message:
    """Raises Message.DoesNotExist for another workspace's message: callers turn that into a 404."""
    return Message.objects.select_related("source", "identity", "member", "thread", "signals").get(
        workspace=workspace, pk=message_id
    )


LANGUAGES_CACHE_SECONDS = 600


def languages_in_use(*, workspace: Workspace) -> list[str]:
    """The languages a workspace's messages are in, for the filter menu.

    A DISTINCT over every message is a full scan on a large community, so the answer is cached for ten
    minutes: a language that appears for the first time shows up in the menu a little later.
    """

    def compute() -> list[str]:
        rows = Message.objects.filter(workspace=workspace).exclude(language="").values_list("language", flat=True)
        return sorted(set(rows.distinct()))

    languages = cache.get_or_set(f"stream:languages:{workspace.pk}", compute, LANGUAGES_CACHE_SECONDS)
    return list(languages or [])
