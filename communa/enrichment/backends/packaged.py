"""The trained models shipped with Communa (communa.enrichment.models): one encoder, one head per task."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from communa.enrichment.models import Encoder, Head

logger = logging.getLogger(__name__)


class PackagedModels:
    def encoder(self) -> Encoder | None:
        from communa.enrichment import models

        try:
            return models.load_encoder()
        except (ImportError, OSError) as exc:
            # Weights missing from this installation: every model signal stays "not available".
            logger.warning("enrichment: the sentence encoder is not available (%s)", exc)
            return None

    def head(self, task: str, workspace_id: int | None) -> Head | None:
        from communa.enrichment import models

        return models.load_head(task, workspace_id)
