from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "communa.accounts"
    label = "accounts"
