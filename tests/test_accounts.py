"""Accounts: invitations, password reset and change, personal settings, API tokens and their command."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import dateformat, timezone

from communa.accounts.models import ApiToken, Invitation, Membership, User, Workspace
from communa.accounts.roles import Role
from communa.accounts.services import create_api_token, create_invitation, user_for_api_token
from communa.audit.models import AuditEntry
from tests.conftest import PASSWORD, login, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "plum orchard lantern 42"


@pytest.fixture
def invitation(workspace: Workspace, owner: User) -> Invitation:
    return create_invitation(workspace=workspace, role=Role.VOLUNTEER, invited_by=owner)


def invite_url(invitation: Invitation) -> str:
    return f"/accounts/invite/{invitation.token}/"


def role_of(workspace: Workspace, username: str) -> str | None:
    return (
        Membership.objects.filter(workspace=workspace, user__username=username).values_list("role", flat=True).first()
    )


# --- invitations --------------------------------------------------------------------------------


def test_team_page_creates_an_invitation_link(client: Client, owner: User, workspace: Workspace) -> None:
    login(client, owner)

    response = client.post("/w/acme/team/invitations/", {"role": "analyst", "email": ""})

    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.workspace, invitation.role, invitation.invited_by, invitation.email) == (
        workspace,
        "analyst",
        owner,
        "",
    )
    assert timedelta(days=6, hours=23) < invitation.expires_at - timezone.now() <= timedelta(days=7)
    page = client.get("/w/acme/team/").content.decode()
    assert f"http://127.0.0.1:8000/accounts/invite/{invitation.token}/" in page
    assert mail.outbox == []


def test_an_invitation_with_an_address_is_emailed(
    client: Client, owner: User, workspace: Workspace, django_capture_on_commit_callbacks: Any
) -> None:
    login(client, owner)

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/w/acme/team/invitations/", {"role": "manager", "email": "nina@example.org"})

    invitation = Invitation.objects.get()
    [email] = mail.outbox
    assert email.to == ["nina@example.org"]
    assert email.subject == "You are invited to Acme Community on Communa"
    assert f"http://127.0.0.1:8000/accounts/invite/{invitation.token}/" in email.body
    assert "olga invites you to Acme Community on Communa as Community manager." in email.body


def test_signed_in_user_accepts_with_one_click(client: Client, invitation: Invitation, workspace: Workspace) -> None:
    nina = make_user("nina")
    login(client, nina)

    page = client.get(invite_url(invitation))
    response = client.post(invite_url(invitation))

    assert page.status_code == 200
    assert "olga invites you to Acme Community as Volunteer moderator." in page.content.decode()
    assert (response.status_code, response["Location"]) == (302, "/w/acme/stream/")
    assert role_of(workspace, "nina") == "volunteer"
    invitation.refresh_from_db()
    assert (invitation.accepted_by, invitation.accepted_at is not None) == (nina, True)
    assert AuditEntry.objects.filter(action="invitation.accepted", actor=nina, workspace=workspace).count() == 1


def test_a_member_accepting_keeps_their_role(client: Client, invitation: Invitation, manager: User) -> None:
    login(client, manager)

    assert "Accepting keeps your current role" in client.get(invite_url(invitation)).content.decode()
    client.post(invite_url(invitation))

    assert role_of(invitation.workspace, "marco") == "manager"


def test_visitor_signs_up_and_joins(client: Client, invitation: Invitation, workspace: Workspace) -> None:
    form = client.get(invite_url(invitation))
    response = client.post(
        invite_url(invitation),
        {"username": "nina", "email": "nina@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert form.status_code == 200
    assert 'name="password1"' in form.content.decode()
    assert (response.status_code, response["Location"]) == (302, "/w/acme/stream/")
    nina = User.objects.get(username="nina")
    assert (nina.email, nina.check_password(NEW_PASSWORD)) == ("nina@example.org", True)
    assert role_of(workspace, "nina") == "volunteer"
    assert client.get("/w/acme/stream/").status_code == 200  # signed in


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"password1": "password", "password2": "password"}, "This password is too common."),
        ({"password1": "12345678901", "password2": "12345678901"}, "This password is entirely numeric."),
        ({"password2": "something else entirely"}, "The two password fields didn’t match."),
        ({"username": "OLGA"}, "A user with that username already exists."),
        ({"email": "Olga@Example.org"}, "An account with this address exists already"),
    ],
)
def test_sign_up_is_validated(client: Client, invitation: Invitation, fields: dict[str, str], error: str) -> None:
    data = {"username": "nina", "email": "nina@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}

    response = client.post(invite_url(invitation), data | fields)

    assert response.status_code == 400
    assert error in response.content.decode()
    assert User.objects.count() == 1  # olga only
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_expired_invitation_says_so_and_creates_nothing(client: Client, invitation: Invitation) -> None:
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    users = User.objects.count()

    page = client.get(invite_url(invitation))
    posted = client.post(
        invite_url(invitation),
        {"username": "nina", "email": "nina@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert (page.status_code, posted.status_code) == (410, 410)
    assert "This invitation link expired on" in page.content.decode()
    assert User.objects.count() == users


def test_an_invitation_works_once(client: Client, invitation: Invitation, workspace: Workspace) -> None:
    login(client, make_user("nina"))
    client.post(invite_url(invitation))
    again = client.get(invite_url(invitation))

    login(client, make_user("paul"))
    page = client.get(invite_url(invitation))
    posted = client.post(invite_url(invitation))

    assert "You have already joined Acme Community with this link." in again.content.decode()
    assert (page.status_code, posted.status_code) == (410, 410)
    assert "has already been used" in page.content.decode()
    assert role_of(workspace, "paul") is None


def test_unknown_invitation_is_404(client: Client, db: None) -> None:
    response = client.get("/accounts/invite/not-a-real-token/")
    assert response.status_code == 404
    assert "This invitation link is not valid." in response.content.decode()


def test_revoked_invitation_stops_working(client: Client, owner: User, invitation: Invitation) -> None:
    login(client, owner)

    response = client.post(f"/w/acme/team/invitations/{invitation.pk}/revoke/")

    assert response.status_code == 302
    assert not Invitation.objects.exists()
    assert AuditEntry.objects.filter(action="invitation.revoked", actor=owner).count() == 1
    client.logout()
    assert client.get(invite_url(invitation)).status_code == 404


def test_team_page_lists_pending_invitations_only(client: Client, owner: User, invitation: Invitation) -> None:
    used = create_invitation(workspace=invitation.workspace, role=Role.ANALYST, invited_by=owner)
    Invitation.objects.filter(pk=used.pk).update(accepted_at=timezone.now())
    login(client, owner)

    page = client.get("/w/acme/team/").content.decode()

    assert invitation.token in page
    assert used.token not in page


# --- password reset and change ------------------------------------------------------------------


def test_password_reset_by_email(client: Client, owner: User) -> None:
    response = client.post("/accounts/password/reset/", {"email": "OLGA@example.org"})

    assert (response.status_code, response["Location"]) == (302, "/accounts/password/reset/sent/")
    [email] = mail.outbox
    assert (email.to, email.subject) == (["olga@example.org"], "Reset your Communa password")
    match = re.search(r"http://127\.0\.0\.1:8000(/accounts/password/reset/\S+/\S+/)", email.body)
    assert match is not None
    form = client.get(match.group(1), follow=True)
    assert 'name="new_password1"' in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert (done.status_code, done["Location"]) == (302, "/accounts/password/reset/done/")
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client: Client, owner: User) -> None:
    response = client.post("/accounts/password/reset/", {"email": "stranger@example.org"})
    assert (response.status_code, response["Location"]) == (302, "/accounts/password/reset/sent/")
    assert mail.outbox == []


def test_password_reset_link_works_once(client: Client, owner: User) -> None:
    client.post("/accounts/password/reset/", {"email": "olga@example.org"})
    match = re.search(r"http://127\.0\.0\.1:8000(/accounts/password/reset/\S+/\S+/)", mail.outbox[0].body)
    assert match is not None
    form = client.get(match.group(1), follow=True)
    client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    again = client.get(match.group(1), follow=True)

    assert "This link does not work any more" in again.content.decode()


def test_password_change(client: Client, owner: User) -> None:
    login(client, owner)

    wrong = client.post(
        "/accounts/password/change/",
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    right = client.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert wrong.status_code == 200  # the form again, with the error
    assert (right.status_code, right["Location"]) == (302, "/accounts/password/change/done/")
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)


# --- personal settings --------------------------------------------------------------------------


def test_language_and_time_zone_are_saved_and_applied(client: Client, owner: User, workspace: Workspace) -> None:
    login(client, owner)

    response = client.post("/accounts/settings/", {"language": "it", "time_zone": "Europe/Rome"})

    assert (response.status_code, response["Location"]) == (302, "/accounts/settings/")
    owner.refresh_from_db()
    assert (owner.language, owner.time_zone) == ("it", "Europe/Rome")
    token, _plaintext = create_api_token(user=owner, name="ci")
    page = client.get("/accounts/settings/", HTTP_ACCEPT_LANGUAGE="es")
    assert page["Content-Language"] == "it"
    rome = dateformat.format(timezone.localtime(token.created_at, ZoneInfo("Europe/Rome")), "c")
    assert f'datetime="{rome}"' in page.content.decode()
    assert timezone.get_current_timezone_name() == "UTC"  # reset after the request


def test_empty_preferences_follow_the_browser(client: Client, owner: User) -> None:
    login(client, owner)
    client.post("/accounts/settings/", {"language": "", "time_zone": ""})

    assert client.get("/accounts/settings/", HTTP_ACCEPT_LANGUAGE="es")["Content-Language"] == "es"


@pytest.mark.parametrize("data", [{"language": "tlh", "time_zone": ""}, {"language": "", "time_zone": "Mars/Olympus"}])
def test_bad_preferences_are_refused(client: Client, owner: User, data: dict[str, str]) -> None:
    login(client, owner)

    response = client.post("/accounts/settings/", data)

    assert response.status_code == 400
    owner.refresh_from_db()
    assert (owner.language, owner.time_zone) == ("", "")


# --- API tokens ---------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_stored_as_a_digest(client: Client, owner: User) -> None:
    login(client, owner)

    created = client.post("/accounts/settings/tokens/", {"name": "dashboard sync"})

    assert created.status_code == 200
    plaintext = re.search(r'value="(cmn_[^"]+)"', created.content.decode())
    assert plaintext is not None
    token = ApiToken.objects.get()
    assert (token.name, token.prefix, token.user) == ("dashboard sync", plaintext.group(1)[:12], owner)
    assert plaintext.group(1) not in token.digest
    later = client.get("/accounts/settings/").content.decode()
    assert plaintext.group(1) not in later
    assert "dashboard sync" in later
    assert f"{token.prefix}…" in later
    assert user_for_api_token(plaintext.group(1)) == owner


def test_a_token_works_until_revoked(client: Client, owner: User, workspace: Workspace) -> None:
    token, plaintext = create_api_token(user=owner, name="ci")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    assert client.get("/api/v1/workspaces", **headers).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None

    login(client, owner)
    revoked = client.post(f"/accounts/settings/tokens/{token.pk}/revoke/")

    assert (revoked.status_code, revoked["Location"]) == (302, "/accounts/settings/")
    response = client.get("/api/v1/workspaces", **headers)
    assert (response.status_code, response.json()) == (401, {"detail": "Unauthorized"})
    assert "ci" not in client.get("/accounts/settings/").context["tokens"].values_list("name", flat=True)
    assert [e.action for e in AuditEntry.objects.filter(actor=owner, workspace=None).order_by("pk")] == [
        "api_token.created",
        "api_token.revoked",
    ]


def test_nobody_revokes_someone_elses_token(client: Client, owner: User, manager: User) -> None:
    token, plaintext = create_api_token(user=owner, name="mine")
    login(client, manager)

    response = client.post(f"/accounts/settings/tokens/{token.pk}/revoke/")

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert user_for_api_token(plaintext) == owner


def test_an_inactive_users_token_is_rejected(client: Client, owner: User) -> None:
    _token, plaintext = create_api_token(user=owner, name="ci")
    User.objects.filter(pk=owner.pk).update(is_active=False)

    assert client.get("/api/v1/workspaces", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 401


def test_token_command_creates_lists_and_revokes(owner: User) -> None:
    out, err = StringIO(), StringIO()

    call_command("token", "create", "--user", "olga", "--name", "backup script", stdout=out, stderr=err)

    plaintext = out.getvalue().strip()
    assert plaintext.startswith("cmn_")
    assert "cannot show it again" in err.getvalue()
    assert user_for_api_token(plaintext) == owner
    token = ApiToken.objects.get(name="backup script")

    listing = StringIO()
    call_command("token", "list", "--user", "olga", stdout=listing)
    assert listing.getvalue().startswith(f"{token.pk}\tbackup script\t{token.prefix}…\t")
    assert plaintext not in listing.getvalue()

    call_command("token", "revoke", "--user", "olga", "--id", str(token.pk), stdout=StringIO())
    assert user_for_api_token(plaintext) is None


def test_token_command_refuses_unknown_users_and_tokens(owner: User) -> None:
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("token", "create", "--user", "ghost", "--name", "x")
    with pytest.raises(CommandError, match="olga has no live token with id 999"):
        call_command("token", "revoke", "--user", "olga", "--id", "999")
    assert not ApiToken.objects.exists()


def test_settings_page_links_to_the_api_docs(client: Client, owner: User) -> None:
    login(client, owner)
    assert 'href="/api/v1/docs"' in client.get("/accounts/settings/").content.decode()
