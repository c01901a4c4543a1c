"""Roles: what each may do on pages and in the API, and the owner rules of the team page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from communa.accounts.models import Invitation, Membership, User, Workspace
from communa.accounts.roles import ROLE_PERMS, Perm, Role
from communa.accounts.services import TeamError, add_member, change_role, create_api_token, remove_member
from communa.audit.models import AuditEntry
from communa.connectors.models import Source
from tests.conftest import login, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def contributor(workspace: Workspace) -> User:
    user = make_user("carla")
    add_member(workspace=workspace, user=user, role=Role.CONTRIBUTOR)
    return user


@pytest.fixture
def team(owner: User, manager: User, volunteer: User, analyst: User, contributor: User) -> dict[str, User]:
    return {"owner": owner, "manager": manager, "volunteer": volunteer, "analyst": analyst, "contributor": contributor}


def membership(workspace: Workspace, user: User) -> Membership:
    return Membership.objects.get(workspace=workspace, user=user)


def roles(workspace: Workspace) -> dict[str, str]:
    return dict(Membership.objects.filter(workspace=workspace).values_list("user__username", "role"))


def test_each_role_has_exactly_its_permissions() -> None:
    read = {Perm.VIEW_STREAM, Perm.VIEW_MEMBERS, Perm.VIEW_ANALYTICS}
    assert ROLE_PERMS[Role.OWNER] == set(Perm)
    assert ROLE_PERMS[Role.MANAGER] == set(Perm) - {Perm.MANAGE_WORKSPACE}
    assert ROLE_PERMS[Role.MODERATOR] == read | {Perm.MODERATE, Perm.MODERATE_HARSH, Perm.REPLY}
    assert ROLE_PERMS[Role.VOLUNTEER] == {Perm.VIEW_STREAM, Perm.MODERATE}
    assert ROLE_PERMS[Role.CONTRIBUTOR] == {Perm.VIEW_STREAM, Perm.DRAFT}
    assert ROLE_PERMS[Role.ANALYST] == read


# --- pages --------------------------------------------------------------------------------------

PAGE_ACCESS = {
    "/w/acme/stream/": {"owner": 200, "manager": 200, "volunteer": 200, "analyst": 200, "contributor": 200},
    "/w/acme/sources/": {"owner": 200, "manager": 200, "volunteer": 403, "analyst": 403, "contributor": 403},
    "/w/acme/team/": {"owner": 200, "manager": 200, "volunteer": 403, "analyst": 403, "contributor": 403},
    "/w/acme/team/audit/": {"owner": 200, "manager": 200, "volunteer": 403, "analyst": 403, "contributor": 403},
}


@pytest.mark.parametrize("path", sorted(PAGE_ACCESS))
def test_pages_by_role(client: Client, team: dict[str, User], path: str) -> None:
    for persona, expected in PAGE_ACCESS[path].items():
        login(client, team[persona])
        assert client.get(path).status_code == expected, (persona, path)


@pytest.mark.parametrize("persona", ["volunteer", "analyst", "contributor"])
def test_roles_without_manage_team_cannot_change_the_team(
    client: Client, team: dict[str, User], workspace: Workspace, persona: str
) -> None:
    login(client, team[persona])
    target = membership(workspace, team["analyst"])
    before = (roles(workspace), Invitation.objects.count(), AuditEntry.objects.count())

    responses = [
        client.post(f"/w/acme/team/members/{target.pk}/role/", {"role": Role.MANAGER}),
        client.post(f"/w/acme/team/members/{target.pk}/remove/"),
        client.post("/w/acme/team/invitations/", {"role": Role.OWNER}),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert (roles(workspace), Invitation.objects.count(), AuditEntry.objects.count()) == before


def test_the_services_enforce_manage_team_too(workspace: Workspace, volunteer: User, analyst: User) -> None:
    with pytest.raises(PermissionDenied):
        change_role(
            workspace=workspace, actor=volunteer, membership_id=membership(workspace, analyst).pk, role=Role.MANAGER
        )
    assert membership(workspace, analyst).role == Role.ANALYST


# --- owner rules --------------------------------------------------------------------------------


def test_a_manager_cannot_grant_the_owner_role(client: Client, workspace: Workspace, team: dict[str, User]) -> None:
    login(client, team["manager"])
    before = roles(workspace)

    response = client.post(f"/w/acme/team/members/{membership(workspace, team['analyst']).pk}/role/", {"role": "owner"})
    invite = client.post("/w/acme/team/invitations/", {"role": "owner"})

    assert (response.status_code, invite.status_code) == (400, 400)
    assert "Only an owner can grant or remove the owner role." in response.content.decode()
    assert roles(workspace) == before
    assert not Invitation.objects.exists()


def test_a_manager_cannot_demote_or_remove_an_owner(
    client: Client, workspace: Workspace, team: dict[str, User]
) -> None:
    login(client, team["manager"])
    olga = membership(workspace, team["owner"])
    before = (roles(workspace), AuditEntry.objects.count())

    demoted = client.post(f"/w/acme/team/members/{olga.pk}/role/", {"role": "analyst"})
    removed = client.post(f"/w/acme/team/members/{olga.pk}/remove/")

    assert (demoted.status_code, removed.status_code) == (400, 400)
    assert (roles(workspace), AuditEntry.objects.count()) == before


def test_the_team_page_offers_the_owner_role_only_to_owners(client: Client, team: dict[str, User]) -> None:
    login(client, team["manager"])
    assert '<option value="owner"' not in client.get("/w/acme/team/").content.decode()
    login(client, team["owner"])
    assert '<option value="owner"' in client.get("/w/acme/team/").content.decode()


def test_a_manager_manages_everyone_else(client: Client, workspace: Workspace, team: dict[str, User]) -> None:
    login(client, team["manager"])

    changed = client.post(
        f"/w/acme/team/members/{membership(workspace, team['volunteer']).pk}/role/", {"role": "moderator"}
    )
    removed = client.post(f"/w/acme/team/members/{membership(workspace, team['analyst']).pk}/remove/")

    assert (changed.status_code, removed.status_code) == (302, 302)
    assert roles(workspace) == {"olga": "owner", "marco": "manager", "vera": "moderator", "carla": "contributor"}
    entries = list(AuditEntry.objects.filter(actor=team["manager"]).order_by("pk"))
    assert [(e.action, e.target_label, e.data) for e in entries] == [
        ("membership.role_changed", "vera", {"from": "volunteer", "to": "moderator"}),
        ("membership.removed", "andrea", {"role": "analyst"}),
    ]
    assert all(e.workspace == workspace for e in entries)


def test_an_owner_grants_ownership_and_the_new_owner_may_demote_the_first(
    client: Client, workspace: Workspace, team: dict[str, User]
) -> None:
    login(client, team["owner"])
    assert (
        client.post(
            f"/w/acme/team/members/{membership(workspace, team['manager']).pk}/role/", {"role": "owner"}
        ).status_code
        == 302
    )

    login(client, team["manager"])
    demoted = client.post(f"/w/acme/team/members/{membership(workspace, team['owner']).pk}/role/", {"role": "manager"})

    assert demoted.status_code == 302
    assert (roles(workspace)["marco"], roles(workspace)["olga"]) == ("owner", "manager")


def test_the_last_owner_can_never_be_demoted_or_removed(
    client: Client, workspace: Workspace, team: dict[str, User]
) -> None:
    login(client, team["owner"])
    olga = membership(workspace, team["owner"])
    before = (roles(workspace), AuditEntry.objects.count())

    demoted = client.post(f"/w/acme/team/members/{olga.pk}/role/", {"role": "manager"})
    removed = client.post(f"/w/acme/team/members/{olga.pk}/remove/")

    assert (demoted.status_code, removed.status_code) == (400, 400)
    assert "at least one owner" in demoted.content.decode()
    assert (roles(workspace), AuditEntry.objects.count()) == before


def test_with_two_owners_one_may_leave_but_not_both(workspace: Workspace, owner: User, manager: User) -> None:
    change_role(workspace=workspace, actor=owner, membership_id=membership(workspace, manager).pk, role=Role.OWNER)

    remove_member(workspace=workspace, actor=owner, membership_id=membership(workspace, owner).pk)
    with pytest.raises(TeamError):
        change_role(workspace=workspace, actor=manager, membership_id=membership(workspace, manager).pk, role="analyst")

    assert roles(workspace) == {"marco": "owner"}


def test_unknown_role_is_refused(client: Client, workspace: Workspace, team: dict[str, User]) -> None:
    login(client, team["owner"])
    response = client.post(f"/w/acme/team/members/{membership(workspace, team['analyst']).pk}/role/", {"role": "god"})
    assert response.status_code == 400
    assert roles(workspace)["andrea"] == "analyst"


# --- API ----------------------------------------------------------------------------------------

EVERYONE = ("owner", "manager", "volunteer", "analyst", "contributor")
READ = dict.fromkeys(EVERYONE, 200)
API_ACCESS = {
    ("get", "/api/v1/sources"): READ,
    ("get", "/api/v1/sources/{id}"): READ,
    ("get", "/api/v1/messages"): READ,
    ("post", "/api/v1/sources"): {"owner": 201, "manager": 201, "volunteer": 403, "analyst": 403, "contributor": 403},
    ("patch", "/api/v1/sources/{id}"): {
        "owner": 200,
        "manager": 200,
        "volunteer": 403,
        "analyst": 403,
        "contributor": 403,
    },
}


def _call(client: Client, user: User, method: str, path: str, source: Source) -> Any:
    _token, plaintext = create_api_token(user=user, name="roles")
    url = path.format(id=source.pk)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    if method == "get":
        return client.get(url, **headers)
    body = {"kind": "fake", "name": f"{user.username}'s"} if method == "post" else {"name": f"{user.username}'s"}
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json", **headers)


@pytest.mark.parametrize(("method", "path"), sorted(API_ACCESS))
def test_api_by_role(client: Client, team: dict[str, User], fake_source: Source, method: str, path: str) -> None:
    for persona, expected in API_ACCESS[(method, path)].items():
        before = sorted(Source.objects.values_list("pk", "name"))
        response = _call(client, team[persona], method, path, fake_source)
        assert response.status_code == expected, (persona, response.content)
        if expected == 403:
            assert response.json() == {"detail": "Your role in this workspace does not allow this."}
            assert sorted(Source.objects.values_list("pk", "name")) == before


def test_a_manager_who_steps_down_leaves_the_team_page(
    client: Client, workspace: Workspace, team: dict[str, User]
) -> None:
    login(client, team["manager"])

    demoted = client.post(
        f"/w/acme/team/members/{membership(workspace, team['manager']).pk}/role/", {"role": "analyst"}
    )
    assert (demoted.status_code, demoted["Location"]) == (302, "/")

    left = client.post(f"/w/acme/team/members/{membership(workspace, team['volunteer']).pk}/remove/")
    assert left.status_code == 403  # an analyst now
    assert roles(workspace)["marco"] == "analyst"


def test_a_manager_may_leave(client: Client, workspace: Workspace, team: dict[str, User]) -> None:
    login(client, team["manager"])

    response = client.post(f"/w/acme/team/members/{membership(workspace, team['manager']).pk}/remove/")

    assert (response.status_code, response["Location"]) == (302, "/")
    assert "marco" not in roles(workspace)


def test_team_page_queries_do_not_grow_with_the_team(
    client: Client, workspace: Workspace, team: dict[str, User], django_assert_max_num_queries: Any
) -> None:
    for n in range(10):
        add_member(workspace=workspace, user=make_user(f"extra{n}"), role=Role.VOLUNTEER)
    login(client, team["owner"])

    with django_assert_max_num_queries(8):
        response = client.get("/w/acme/team/")

    assert response.status_code == 200
    assert response.content.decode().count("Remove extra") == 10
