from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "communa.ingest"
    label = "ingest"
