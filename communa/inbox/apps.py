from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "communa.inbox"
    label = "inbox"
