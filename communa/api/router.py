"""REST API v1 (django-ninja): one NinjaAPI; each app contributes a router from its api.py."""

from __future__ import annotations

from ninja import NinjaAPI

from communa.api.auth import ApiTokenAuth

api = NinjaAPI(
    title="Communa API",
    version="1",
    urls_namespace="api",
    auth=ApiTokenAuth(),
    description="Token-authenticated access to a workspace's sources and messages. "
    "Send `Authorization: Bearer <token>`; create tokens under your account settings or with "
    "`communa token create`.",
)
