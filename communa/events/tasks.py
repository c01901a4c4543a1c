from __future__ import annotations

from django_tasks import task

from communa.events.dispatch import dispatch_pending


@task(queue_name="default")
def dispatch_events() -> int:
    return dispatch_pending()
