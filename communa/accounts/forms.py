"""Forms for the account, team and invitation pages. They validate input; services do the writing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm, UsernameField
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from communa.accounts.models import User
from communa.accounts.roles import Role
from communa.accounts.services import known_time_zones

# Area/Location names only: the legacy aliases (US/Eastern, GB, Etc/GMT+3...) make the list long and confusing.
_TZ_AREAS = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/", "Pacific/")


def time_zone_choices() -> list[tuple[str, Any]]:
    zones = sorted(tz for tz in known_time_zones() if tz.startswith(_TZ_AREAS))
    default = gettext("The server's time zone (%(zone)s)") % {"zone": settings.TIME_ZONE}
    return [("", default), *((tz, tz.replace("_", " ")) for tz in zones)]


def language_choices() -> list[tuple[str, Any]]:
    return [("", _("The browser's language")), *settings.LANGUAGES]


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=language_choices, required=False)
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"language": user.language, "time_zone": user.time_zone})
        super().__init__(*args, **kwargs)
        # Keep a zone saved earlier through the API or a command selectable even if it is an alias.
        if user.time_zone and user.time_zone not in dict(time_zone_choices()):
            field = self.fields["time_zone"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [*time_zone_choices(), (user.time_zone, user.time_zone)]


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What the token is for, e.g. “dashboard sync”. You can revoke it at any time."),
    )


def role_choices(*, include_owner: bool) -> list[tuple[str, Any]]:
    return [(value, label) for value, label in Role.choices if include_owner or value != Role.OWNER]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args: Any, include_owner: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = role_choices(include_owner=include_owner)


class InvitationForm(RoleForm):
    email = forms.EmailField(
        label=_("Email (optional)"),
        required=False,
        help_text=_("If you give an address, Communa emails the link there. Anyone with the link can use it once."),
    )


class SignUpForm(UserCreationForm[User]):
    """A new account for someone who opened an invitation link; Django's password validators apply."""

    class Meta:
        model = User
        fields = ("username", "email")
        field_classes = {"username": UsernameField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"]
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("An account with this address exists already: sign in to accept the invitation.")
            )
        return email
