"""REST API v1 (django-ninja): one NinjaAPI; each app contributes a router from its api.py."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Swagger
from ninja.errors import ValidationError

from communa.accounts.api import router as workspaces_router
from communa.analytics.api import router as analytics_router
from communa.api.auth import ApiTokenAuth
from communa.connectors.api import router as sources_router
from communa.inbox.api import router as conversations_router
from communa.members.api import merges_router
from communa.members.api import router as members_router
from communa.moderation.api import router as moderation_router
from communa.stream.api import router as messages_router

api = NinjaAPI(
    title="Communa API",
    version="1",
    urls_namespace="api",
    auth=ApiTokenAuth(),
    # Swagger UI comes from ninja's packaged static files ("ninja" is in INSTALLED_APPS), never a CDN;
    # no validatorUrl, or Swagger UI would send the schema to validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None}),
    description="Token-authenticated access to a workspace's sources and messages. "
    "Send `Authorization: Bearer <token>`; create tokens under your account settings or with "
    "`communa token create`. Name the workspace with the `workspace` query parameter (its slug) "
    "unless you belong to only one. Guide: docs/api.md.",
)
api.add_router("/workspaces", workspaces_router)
api.add_router("/sources", sources_router)
api.add_router("/messages", messages_router)
api.add_router("/conversations", conversations_router)
api.add_router("/members", members_router)
api.add_router("/merges", merges_router)
api.add_router("/moderation", moderation_router)
api.add_router("/analytics", analytics_router)


@api.exception_handler(PermissionDenied)
def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    """A member whose role lacks the permission: 403 in the API's JSON shape, not Django's HTML page."""
    return api.create_response(request, {"detail": _("Your role in this workspace does not allow this.")}, status=403)


def _location(error: dict[str, Any]) -> dict[str, Any]:
    """["body", "body", "name"] -> ["body", "name"]: every body parameter is named `body`, which says nothing."""
    loc = list(error.get("loc", []))
    if loc[:2] == ["body", "body"]:
        error = {**error, "loc": ["body", *loc[2:]]}
    return error


@api.exception_handler(ValidationError)
def invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """422 with one error per problem: where (`loc`), what (`msg`) and its kind (`type`)."""
    return api.create_response(request, {"detail": [_location(e) for e in exc.errors]}, status=422)
