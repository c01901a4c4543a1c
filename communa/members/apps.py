from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "communa.members"
    label = "members"
