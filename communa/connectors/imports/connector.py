"""Import: messages from a file a person pushes with `communa import` (docs/connectors/import.md).

The connector reads nothing by itself (no capabilities): the command streams the file through
`connectors.imports.reader` and hands batches of rows to the ingest path, which calls `normalize` here.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from pydantic import Field

from communa.connectors.base import Connector, ConnectorConfig, NormalizedIdentity, NormalizedMessage, RawItem
from communa.connectors.imports.schemas import ImportRow


class ImportConfig(ConnectorConfig):
    platform: str = Field(
        min_length=1,
        max_length=120,
        title=gettext_noop("Platform"),
        description=gettext_noop(
            'Where the messages come from, e.g. "discourse:forum.example.com". Author ids are unique per'
            " platform, so two files with the same platform share their people."
        ),
    )


class ImportConnector(Connector):
    kind = "import"
    label = _("File import (NDJSON, CSV)")
    description = _("Bring in history from an export: a forum, a mailing list archive, a spreadsheet.")
    capabilities = frozenset()
    Config = ImportConfig
    docs_page = "connectors/import.md"

    config: ImportConfig

    def normalize(self, item: RawItem) -> list[NormalizedMessage]:
        row = ImportRow.model_validate(item.payload)
        author = NormalizedIdentity(
            platform=self.config.platform,
            external_id=row.author_id,
            handle=row.author_handle,
            display_name=row.author_name,
            email=row.author_email,
        )
        return [
            NormalizedMessage(
                external_id=row.id,
                kind=row.kind,
                text=row.text,
                title=row.title,
                created_at=row.created_at,
                author=author,
                thread_external_id=row.thread_id,
                parent_external_id=row.parent_id,
                url=row.url,
                language=row.language,
                metadata=row.metadata,
            )
        ]
