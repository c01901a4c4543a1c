from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "communa.webhooks"
    label = "webhooks"
