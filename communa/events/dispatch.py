from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from communa.events.models import DomainEvent
from communa.events.subscribers import SUBSCRIBERS

logger = logging.getLogger(__name__)
Subscriber = Callable[[DomainEvent], None]


@cache
def _subscriber(path: str) -> Subscriber:
    func: Subscriber = import_string(path)
    return func


def dispatch_pending(*, limit: int = 500, subscribers: dict[str, list[str]] | None = None) -> int:
    """Hand undispatched events to their subscribers, oldest first; return how many were dispatched.

    The claim (a conditional UPDATE on dispatched_at) makes one worker win each event even when several
    dispatchers run at once.
    """
    table = SUBSCRIBERS if subscribers is None else subscribers
    count = 0
    pending = list(DomainEvent.objects.filter(dispatched_at=None).order_by("id")[:limit])
    for event in pending:
        with transaction.atomic():
            if not DomainEvent.objects.filter(pk=event.pk, dispatched_at=None).update(dispatched_at=timezone.now()):
                continue  # another worker claimed it
            for path in table.get(event.name, []):
                _subscriber(path)(event)
        count += 1
    return count
