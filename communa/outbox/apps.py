from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "communa.outbox"
    label = "outbox"
