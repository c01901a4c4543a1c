from django.apps import AppConfig


class StreamConfig(AppConfig):
    name = "communa.stream"
    label = "stream"
