"""Every connector Communa knows, in one explicit dict. Adding one: a folder, one line here, one docs page."""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

from communa.connectors.base import Connector

CONNECTORS: dict[str, str] = {
    "feeds": "communa.connectors.feeds.connector.FeedsConnector",
    "webhook": "communa.connectors.webhook.connector.WebhookConnector",
    "import": "communa.connectors.imports.connector.ImportConnector",
    "matrix": "communa.connectors.matrix.connector.MatrixConnector",
    "email": "communa.connectors.email.connector.EmailConnector",
    "irc": "communa.connectors.irc.connector.IrcConnector",
    "bluesky": "communa.connectors.bluesky.connector.BlueskyConnector",
}


class UnknownConnector(KeyError):
    pass


@cache
def connector_class(kind: str) -> type[Connector]:
    if kind not in CONNECTORS:
        raise UnknownConnector(kind)
    cls: type[Connector] = import_string(CONNECTORS[kind])
    return cls


def connector_classes() -> list[type[Connector]]:
    return [connector_class(kind) for kind in CONNECTORS]
