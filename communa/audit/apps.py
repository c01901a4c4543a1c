from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "communa.audit"
    label = "audit"
