from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "communa.events"
    label = "events"
