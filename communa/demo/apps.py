from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "communa.demo"
    label = "demo"
