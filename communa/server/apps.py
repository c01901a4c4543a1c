from django.apps import AppConfig


class ServerConfig(AppConfig):
    name = "communa.server"
    label = "server"

    def ready(self) -> None:
        from communa.server import checks  # noqa: F401  (registers the system checks)
