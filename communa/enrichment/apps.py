from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig

# Django looks for an app's tables in `<app>.models`; here that name is the package of trained models (the
# encoder and the heads, with their contract), so the tables live in `tables.py` instead.
TABLES_MODULE = "tables"


class EnrichmentConfig(AppConfig):
    name = "communa.enrichment"
    label = "enrichment"

    def import_models(self) -> None:
        """Register the tables from `tables.py`; the web process never imports the model weights' package."""
        assert self.apps is not None  # set by the registry before it imports models
        self.models = self.apps.all_models[self.label]
        self.models_module = import_module(f"{self.name}.{TABLES_MODULE}")
