from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from communa.connectors.base import Connector


class ImportConnector(Connector):
    kind = "import"
    label = _("File import (NDJSON, CSV)")
    capabilities = frozenset()
