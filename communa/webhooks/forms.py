from __future__ import annotations

from django import forms
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from communa.core import netguard
from communa.webhooks.catalog import WEBHOOK_EVENTS


class EndpointForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, help_text=_("For you: the system that receives them."))
    url = forms.URLField(
        label=_("URL"),
        max_length=1000,
        validators=[URLValidator(schemes=["https", "http"])],
        assume_scheme="https",
        help_text=_("Communa POSTs each event here as JSON, signed with the endpoint's secret."),
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=list(WEBHOOK_EVENTS.items()),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one event.")},
    )
    active = forms.BooleanField(
        label=_("Active"), required=False, initial=True, help_text=_("Turned off, an endpoint receives nothing.")
    )

    def clean_url(self) -> str:
        url = str(self.cleaned_data["url"])
        try:
            netguard.check_url(url)
        except netguard.BlockedDestinationError as exc:
            raise forms.ValidationError(str(exc), code="blocked_destination") from exc
        return url
