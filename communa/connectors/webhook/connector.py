from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from communa.connectors.base import Capability, Connector


class WebhookConnector(Connector):
    kind = "webhook"
    label = _("Webhook (signed JSON)")
    capabilities = frozenset({Capability.WEBHOOK})
