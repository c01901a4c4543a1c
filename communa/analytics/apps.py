from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "communa.analytics"
    label = "analytics"
