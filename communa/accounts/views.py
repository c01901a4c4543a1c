"""Account pages: the signed-in user's own settings, API tokens, and invitation links."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from communa.accounts import services
from communa.accounts.forms import ApiTokenForm, PreferencesForm, SignUpForm
from communa.accounts.models import ApiToken, Invitation, Membership, User
from communa.accounts.selectors import active_api_tokens, invitation_by_token


def _signed_in_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # guaranteed by @login_required
    return user


def _render_settings(request: HttpRequest, status: int = 200, **context: Any) -> HttpResponse:
    user = _signed_in_user(request)
    context.setdefault("preferences_form", PreferencesForm(user=user))
    context.setdefault("token_form", ApiTokenForm())
    context["tokens"] = active_api_tokens(user=user)
    return render(request, "accounts/settings.html", context, status=status)


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """The user's own settings: language, time zone and API tokens. POST saves the preferences."""
    user = _signed_in_user(request)
    if request.method != "POST":
        return _render_settings(request)
    form = PreferencesForm(request.POST, user=user)
    if not form.is_valid():
        return _render_settings(request, status=400, preferences_form=form)
    services.set_preferences(
        user=user, language=form.cleaned_data["language"], time_zone=form.cleaned_data["time_zone"]
    )
    messages.success(request, _("Your settings are saved."))
    return redirect("accounts:settings")


@login_required
@require_POST
def create_token(request: HttpRequest) -> HttpResponse:
    """Create a token and show it in this response only: it is stored as a digest and cannot be shown again."""
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _render_settings(request, status=400, token_form=form)
    token, plaintext = services.create_api_token(user=_signed_in_user(request), name=form.cleaned_data["name"])
    return _render_settings(request, new_token=token, new_token_plaintext=plaintext)


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = services.revoke_api_token(user=_signed_in_user(request), token_id=token_id)
    except ApiToken.DoesNotExist as exc:
        raise Http404 from exc
    messages.success(request, _("The token “%(name)s” no longer works.") % {"name": token.name})
    return redirect("accounts:settings")


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Join a workspace from an invitation link: one click when signed in, a sign-up form otherwise."""
    found = invitation_by_token(token)
    if found is None or not found.is_usable:
        return _unusable_invitation(request, found)
    if request.user.is_authenticated:
        return _accept_signed_in(request, found)
    return _sign_up(request, found)


def _unusable_invitation(request: HttpRequest, found: Invitation | None) -> HttpResponse:
    user = request.user
    joined = found is not None and found.accepted_by_id is not None and found.accepted_by_id == user.pk
    status = 404 if found is None else 410
    return render(request, "accounts/invitation_unusable.html", {"invitation": found, "joined": joined}, status=status)


def _accept_signed_in(request: HttpRequest, found: Invitation) -> HttpResponse:
    user = _signed_in_user(request)
    member = Membership.objects.filter(workspace=found.workspace, user=user).first()
    if request.method == "POST":
        try:
            services.accept_invitation(token=found.token, user=user)
        except services.InvitationError as exc:
            return render(request, "accounts/invitation_unusable.html", {"error": str(exc)}, status=410)
        return _enter_workspace(request, found)
    return render(request, "accounts/invitation_accept.html", {"invitation": found, "membership": member})


def _sign_up(request: HttpRequest, found: Invitation) -> HttpResponse:
    form = SignUpForm(request.POST or None, initial={"email": found.email})
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.sign_up_with_invitation(
                token=found.token,
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except services.InvitationError as exc:
            return render(request, "accounts/invitation_unusable.html", {"error": str(exc)}, status=410)
        login(request, membership.user)
        return _enter_workspace(request, found)
    status = 400 if form.is_bound else 200
    return render(request, "accounts/invitation_signup.html", {"invitation": found, "form": form}, status=status)


def _enter_workspace(request: HttpRequest, found: Invitation) -> HttpResponse:
    request.session["workspace"] = found.workspace.slug
    messages.success(request, _("Welcome to %(workspace)s.") % {"workspace": found.workspace.name})
    return redirect("stream:index", workspace=found.workspace.slug)
