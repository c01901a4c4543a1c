from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "communa.core"
    label = "core"
