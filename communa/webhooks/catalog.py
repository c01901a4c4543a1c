"""The domain events a webhook endpoint can subscribe to. Adding one: a line here and the subscriber line
for the event in events/subscribers.py (communa.webhooks.tasks.on_event)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

WEBHOOK_EVENTS: dict[str, str | Promise] = {
    "conversation.created": _("A conversation was opened"),
    "conversation.assigned": _("A conversation was assigned"),
    "conversation.first_response": _("A conversation got its first response"),
    "conversation.resolved": _("A conversation was resolved"),
    "conversation.reopened": _("A conversation was reopened"),
    "sla.breached": _("A response target was missed"),
    "question.escalated": _("A question went unanswered too long"),
}

PING = "webhook.ping"  # sent by "Send a test event"; not a domain event, never subscribed to
