from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "communa.moderation"
    label = "moderation"
