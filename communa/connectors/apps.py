from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "communa.connectors"
    label = "connectors"
