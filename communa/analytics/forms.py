"""Forms of the analytics pages: the dashboard scope (range, comparison, filters), goals, report schedules."""

from __future__ import annotations

import dataclasses
import zoneinfo
from datetime import date, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import validate_email
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from communa.analytics import metrics as registry
from communa.analytics.metrics import Unit
from communa.analytics.models import Goal
from communa.analytics.reporting.models import Period, ReportSchedule
from communa.analytics.selectors import DateRange, Filters

# Range presets, as community tools offer them; "custom" takes since/until.
PRESETS: dict[str, int] = {"7d": 7, "28d": 28, "90d": 90, "12m": 365}
PRESET_LABELS = {
    "7d": _("7 days"),
    "28d": _("28 days"),
    "90d": _("90 days"),
    "12m": _("12 months"),
}
DEFAULT_PRESET = "28d"
MAX_DAYS = 3 * 366


@dataclasses.dataclass(frozen=True)
class Scope:
    """What a dashboard shows: a range, whether to compare it with the previous one, and the filters."""

    range: DateRange
    preset: str = DEFAULT_PRESET
    compare: bool = True
    source: int | None = None
    language: str | None = None
    segment: int | None = None

    @property
    def filters(self) -> Filters:
        return Filters(source_id=self.source, language=self.language, segment_id=self.segment)

    @property
    def is_filtered(self) -> bool:
        return self.filters != Filters()

    def query(self, **overrides: Any) -> QueryDict:
        """The scope as a query string (links between pages keep it; presets replace the range)."""
        custom = self.preset == "custom"
        values: dict[str, Any] = {
            "range": self.preset,
            "since": self.range.start.isoformat() if custom else None,
            "until": self.range.end.isoformat() if custom else None,
            "compare": None if self.compare else "0",
            "source": self.source,
            "language": self.language,
            "segment": self.segment,
        }
        values.update(overrides)
        query = QueryDict(mutable=True)
        for key, value in values.items():
            if value not in (None, ""):
                query[key] = str(value)
        return query


class ScopeForm(forms.Form):
    range = forms.ChoiceField(
        label=_("Range"),
        required=False,
        choices=[*PRESET_LABELS.items(), ("custom", _("Custom"))],
    )
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    compare = forms.ChoiceField(
        label=_("Compare with"),
        required=False,
        choices=[("1", _("Previous period")), ("0", _("No comparison"))],
    )
    source = forms.TypedChoiceField(label=_("Source"), required=False, coerce=int, empty_value=None)
    language = forms.ChoiceField(label=_("Language"), required=False)
    segment = forms.TypedChoiceField(label=_("Segment"), required=False, coerce=int, empty_value=None)

    def __init__(
        self,
        data: QueryDict,
        *,
        sources: list[tuple[int, str]],
        languages: list[tuple[str, str]],
        segments: list[tuple[int, str]],
    ) -> None:
        super().__init__(data)
        self.fields["source"].choices = [("", _("All sources")), *sources]  # type: ignore[attr-defined]
        self.fields["language"].choices = [("", _("All languages")), *languages]  # type: ignore[attr-defined]
        self.fields["segment"].choices = [("", _("Everyone")), *segments]  # type: ignore[attr-defined]

    def scope(self, *, today: date) -> Scope:
        """The scope asked for; a value that is not valid falls back to the default instead of failing."""
        self.is_valid()
        data = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        preset = data.get("range") or DEFAULT_PRESET
        since, until = data.get("since"), data.get("until")
        if preset == "custom" or (since and until and not self.data.get("range")):
            preset = "custom"
            until = min(until or today, today)
            since = since or until - timedelta(days=PRESETS[DEFAULT_PRESET] - 1)
            if since > until:
                since, until = until, since
            since = max(since, until - timedelta(days=MAX_DAYS - 1))
            rng = DateRange(start=since, end=until)
        else:
            rng = DateRange(start=today - timedelta(days=PRESETS[preset] - 1), end=today)
        return Scope(
            range=rng,
            preset=preset,
            compare=data.get("compare") != "0",
            source=data.get("source"),
            language=data.get("language") or None,
            segment=data.get("segment"),
        )


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class RecipientsField(forms.CharField):
    """Email addresses, one per line or separated by commas."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]

    def validate(self, value: Any) -> None:
        if not value:
            raise forms.ValidationError(_("Enter at least one email address."))
        for address in value:
            try:
                validate_email(address)
            except forms.ValidationError as exc:
                raise forms.ValidationError(
                    _("“%(address)s” is not an email address."), params={"address": address}
                ) from exc
        if len(value) > 50:
            raise forms.ValidationError(_("Send to at most 50 addresses."))


class ScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    recipients = RecipientsField(label=_("Recipients"), help_text=_("One email address per line."))
    time_zone = forms.ChoiceField(label=_("Time zone"))
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    hour = forms.TypedChoiceField(
        label=_("Send at"), coerce=int, choices=[(h, f"{h:02d}:00") for h in range(24)], initial=8
    )

    class Meta:
        model = ReportSchedule
        fields = ("name", "period", "recipients", "time_zone", "hour", "language", "enabled")
        help_texts = {
            "period": _("Weekly reports go out on Mondays for the week before; monthly ones on the 1st."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = time_zone_choices()  # type: ignore[attr-defined]
        if self.instance.pk:
            self.initial["recipients"] = "\n".join(self.instance.recipients)
        self.fields["period"].choices = Period.choices  # type: ignore[attr-defined]


class GenerateReportForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=Period.choices)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class ShareForm(forms.Form):
    days = forms.TypedChoiceField(
        label=_("Link works for"),
        coerce=int,
        initial=14,
        choices=[(1, _("1 day")), (7, _("7 days")), (14, _("14 days")), (30, _("30 days")), (90, _("90 days"))],
    )


def goal_metric_choices() -> list[tuple[str, str]]:
    return [(m.key, str(m.label)) for m in registry.METRICS if m.goal]


def to_display(value: float | None, unit: str) -> float | None:
    """A stored value as typed in the goal form: percentages for fractions, hours for durations."""
    if value is None:
        return None
    if unit == Unit.PERCENT:
        return round(value * 100, 2)
    if unit == Unit.SECONDS:
        return round(value / 3600, 2)
    return value


def from_display(value: float, unit: str) -> float:
    if unit == Unit.PERCENT:
        return value / 100
    if unit == Unit.SECONDS:
        return value * 3600
    return value


class GoalForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=200, help_text=_("For example: “First response under 2 h by March”.")
    )
    metric = forms.ChoiceField(label=_("Metric"))
    comparison = forms.ChoiceField(label=_("Goal"), choices=Goal.Comparison.choices, initial=Goal.Comparison.AT_LEAST)
    target = forms.FloatField(
        label=_("Target"),
        help_text=_("In the metric's unit: a percentage for shares (40 for 40%), hours for response times."),
    )
    deadline = forms.DateField(label=_("Deadline"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, goal: Goal | None = None, today: date | None = None, **kwargs: Any) -> None:
        self.goal = goal
        self.today = today
        if goal is not None and "initial" not in kwargs:
            unit = registry.get(goal.metric).unit
            kwargs["initial"] = {
                "name": goal.name,
                "metric": goal.metric,
                "comparison": goal.comparison,
                "target": to_display(goal.target, unit),
                "deadline": goal.deadline,
            }
        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = goal_metric_choices()  # type: ignore[attr-defined]
        if goal is not None:
            # The metric of a goal is what its history means: change it by creating another goal.
            self.fields["metric"].disabled = True

    def clean_deadline(self) -> date:
        deadline: date = self.cleaned_data["deadline"]
        start = self.goal.start if self.goal else self.today
        if start is not None and deadline <= start:
            raise forms.ValidationError(_("Choose a deadline after %(day)s."), params={"day": start.isoformat()})
        return deadline

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        metric = data.get("metric")
        target = data.get("target")
        if metric in registry.BY_KEY and target is not None:
            unit = registry.get(metric).unit
            if unit == Unit.PERCENT and not 0 <= target <= 100:
                self.add_error("target", _("Enter a percentage between 0 and 100."))
            elif target < 0:
                self.add_error("target", _("Enter a number of zero or more."))
            else:
                data["stored_target"] = from_display(target, unit)
        return data
