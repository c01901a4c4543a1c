"""API tenancy: which workspace a request is about, and whether the caller may act in it.

Every workspace-scoped endpoint calls `api_workspace` first, so the API keeps the promise the pages keep:
an outsider gets 404 (not even existence leaks), a member whose role lacks the permission gets 403.
Also here: GET /workspaces, and the error schemas every router documents.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from ninja import P, Router, Schema
from ninja.errors import AuthenticationError, ValidationError
from ninja.params import QueryEx

from communa.accounts.access import access_workspace
from communa.accounts.models import User, Workspace
from communa.accounts.roles import ROLE_PERMS, Perm
from communa.accounts.selectors import memberships_of

router = Router(tags=["workspaces"])


class ErrorOut(Schema):
    detail: str


class ValidationErrorOut(Schema):
    detail: list[dict[str, Any]]


# Documented on every workspace-scoped operation (401 is added by the bearer authentication itself).
ERRORS: dict[int, type[Schema]] = {403: ErrorOut, 404: ErrorOut, 422: ValidationErrorOut}

WorkspaceParam = QueryEx[
    str | None,
    P(description="The workspace's slug. Optional when you belong to exactly one workspace."),
]


def invalid(loc: list[str | int], msg: str) -> ValidationError:
    """A 422 in the same shape as ninja's own validation errors, so clients parse one format."""
    return ValidationError([{"type": "value_error", "loc": loc, "msg": msg}])


def api_user(request: Any) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise AuthenticationError
    return user


def api_workspace(request: Any, slug: str | None, perm: Perm) -> Workspace:
    """The workspace named by `slug` (or the caller's only one) if the caller's role grants `perm`."""
    user = api_user(request)
    if not slug:
        slugs = list(memberships_of(user=user).values_list("workspace__slug", flat=True)[:2])
        if len(slugs) != 1:
            reason = _("you belong to several workspaces") if slugs else _("you do not belong to any workspace")
            raise invalid(["query", "workspace"], _("Name the workspace by its slug: %(reason)s.") % {"reason": reason})
        slug = slugs[0]
    return access_workspace(user, slug, perm)


class WorkspaceOut(Schema):
    slug: str
    name: str
    time_zone: str
    role: str
    permissions: list[str]


@router.get("", response=list[WorkspaceOut], summary="List my workspaces")
def list_workspaces(request: Any) -> list[WorkspaceOut]:
    """The workspaces you belong to, with your role and what it lets you do in each."""
    return [
        WorkspaceOut(
            slug=m.workspace.slug,
            name=m.workspace.name,
            time_zone=m.workspace.time_zone,
            role=m.role,
            permissions=sorted(ROLE_PERMS.get(m.role, frozenset())),
        )
        for m in memberships_of(user=api_user(request))
    ]
