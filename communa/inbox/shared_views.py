"""Shared views: a filter of the list, named and shown to everyone in the workspace who has an inbox, beside the
built-in views ("All open", "Mine", …). Personal views stay in the person's browser (static/inbox/inbox.js).

Anyone with an inbox may share a view; its author, or a role that may reply for the workspace (Perm.REPLY), may
remove it. The query is normalized through InboxFilter, so a view can only ever hold a filter the list understands.
What a shared view shows still depends on who looks: a volunteer sees only their own and their teams' rows in it.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.http import urlencode
from django.utils.translation import gettext

from communa.accounts.models import User, Workspace
from communa.accounts.roles import Perm, role_has
from communa.audit.services import record
from communa.inbox.listing import InboxFilter
from communa.inbox.models import SharedView
from communa.inbox.selectors import forget_picker_options, inbox_scope
from communa.inbox.services import InboxError, user_in_workspace

MAX_NAME = 40
MAX_VIEWS = 30  # the row of views stays readable


def share_view(*, workspace: Workspace, actor: User, name: str, params: dict[str, str]) -> SharedView:
    """Share the filter `params` (a query string's values) under `name`."""
    membership = user_in_workspace(workspace=workspace, user=actor)
    if membership is None or inbox_scope(membership.role) is None:
        raise PermissionError("not allowed")
    name = " ".join(name.split())
    if not name:
        raise InboxError(gettext("A shared view needs a name."))
    if len(name) > MAX_NAME:
        raise InboxError(gettext("A view's name is at most %(n)d characters.") % {"n": MAX_NAME})
    if SharedView.objects.filter(workspace=workspace).count() >= MAX_VIEWS:
        raise InboxError(gettext("This workspace already has %(n)d shared views: remove one first.") % {"n": MAX_VIEWS})
    query = urlencode(InboxFilter.from_query(params).params())
    try:
        with transaction.atomic():
            view = SharedView.objects.create(workspace=workspace, name=name, query=query, created_by=actor)
            record(workspace=workspace, actor=actor, action="inbox.view_shared", target=view, data={"query": query})
            transaction.on_commit(lambda: forget_picker_options(workspace_id=workspace.pk))
    except IntegrityError as exc:
        raise InboxError(gettext("There is already a shared view with that name.")) from exc
    return view


def remove_view(*, view: SharedView, actor: User) -> None:
    """Remove a shared view: its author, or a role that replies for the workspace."""
    membership = user_in_workspace(workspace=view.workspace_id, user=actor)
    if membership is None or inbox_scope(membership.role) is None:
        raise PermissionError("not allowed")
    if view.created_by_id != actor.pk and not role_has(membership.role, Perm.REPLY):
        raise PermissionError("not allowed")
    workspace_id = view.workspace_id
    with transaction.atomic():
        record(
            workspace=view.workspace, actor=actor, action="inbox.view_removed", target=view, data={"name": view.name}
        )
        view.delete()
        transaction.on_commit(lambda: forget_picker_options(workspace_id=workspace_id))
