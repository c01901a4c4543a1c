"""Forms for moderation pages: the rule editor, a backtest, an appeal (public), an appeal decision."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

MAX_RULES_TEXT = 200_000


class RuleSetForm(forms.Form):
    text = forms.CharField(
        label=_("Rules"),
        max_length=MAX_RULES_TEXT,
        widget=forms.Textarea(attrs={"rows": 22, "spellcheck": "false", "class": "mono rules-editor"}),
        strip=False,
    )
    comment = forms.CharField(
        label=_("What changed"), max_length=300, required=False, help_text=_("Shown in the version history.")
    )


class BacktestForm(forms.Form):
    days = forms.IntegerField(label=_("Days of history"), min_value=1, max_value=365, initial=30)


class AppealForm(forms.Form):
    statement = forms.CharField(
        label=_("Why should this decision be reviewed?"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    contact = forms.EmailField(label=_("Email for the answer (optional)"), required=False, max_length=254)


class AppealDecisionForm(forms.Form):
    response = forms.CharField(
        label=_("Answer to the member"), max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class StrikeSettingsForm(forms.Form):
    strike_days = forms.IntegerField(label=_("Strikes expire after (days)"), min_value=1, max_value=3650)


class StrikeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)
    days = forms.IntegerField(label=_("Expires after (days)"), min_value=1, max_value=3650, initial=90)
