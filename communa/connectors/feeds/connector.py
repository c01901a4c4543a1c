from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from communa.connectors.base import Capability, Connector


class FeedsConnector(Connector):
    kind = "feeds"
    label = _("Feed (RSS, Atom, JSON Feed)")
    capabilities = frozenset({Capability.POLL})
