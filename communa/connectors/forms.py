"""The source form, generated from the connector's pydantic Config.

The Config model stays the one definition of a connector's settings: this module turns its fields into
HTML inputs, turns what was typed back into Python values, lets pydantic validate them, and puts each
pydantic error next to the field it concerns, in the reader's language.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import secrets
import types
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from django import forms
from django.conf import settings
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise
from pydantic import AnyUrl, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticUndefined

from communa.connectors.base import Capability, Connector, ConnectorConfig

CONFIG_PREFIX = "config_"

POLL_CHOICES: list[tuple[int, StrOrPromise]] = [
    (60, _("Every minute")),
    (300, _("Every 5 minutes")),
    (900, _("Every 15 minutes")),
    (1800, _("Every 30 minutes")),
    (3600, _("Every hour")),
    (6 * 3600, _("Every 6 hours")),
    (24 * 3600, _("Once a day")),
]


class Shape(enum.Enum):
    """How a Config field is typed in and read back."""

    TEXT = "text"
    SECRET = "secret"  # noqa: S105 — the name of a field shape, not a password
    BOOL = "bool"
    NUMBER = "number"
    CHOICE = "choice"
    LINES = "lines"
    JSON = "json"


@dataclasses.dataclass(frozen=True)
class ConfigField:
    """One Config field as the form sees it."""

    name: str
    shape: Shape
    info: FieldInfo
    # For choices: the submitted string → the value pydantic expects (a Literal may hold ints).
    choice_values: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> str:
        return CONFIG_PREFIX + self.name


def _unwrap_optional(annotation: Any) -> Any:
    """`X | None` → X; anything else unchanged."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_subclass(annotation: Any, parent: type) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, parent)


def _shape(annotation: Any) -> Shape:
    origin = get_origin(annotation)
    if annotation is SecretStr:
        return Shape.SECRET
    if annotation is bool:
        return Shape.BOOL
    if annotation in (int, float):
        return Shape.NUMBER
    if origin is Literal or _is_subclass(annotation, enum.Enum):
        return Shape.CHOICE
    if origin in (list, set, frozenset, tuple):
        return Shape.LINES
    if annotation in (str, date, datetime) or _is_subclass(annotation, AnyUrl):
        return Shape.TEXT
    # Nested models, dicts and anything else: edited as JSON and validated by pydantic as a whole.
    return Shape.JSON


def _choices(annotation: Any) -> dict[str, tuple[Any, str]]:
    """Submitted value → (the value pydantic expects, its label)."""
    if get_origin(annotation) is Literal:
        return {str(value): (value, str(value)) for value in get_args(annotation)}
    members: list[enum.Enum] = list(annotation)
    return {str(m.value): (m.value, str(getattr(m, "label", m.value))) for m in members}


def config_fields(config_class: type[ConnectorConfig]) -> list[ConfigField]:
    """Describe every field of a connector's Config, in declaration order."""
    described = []
    for name, info in config_class.model_fields.items():
        annotation = _unwrap_optional(info.annotation)
        shape = _shape(annotation)
        values = {key: value for key, (value, _label) in _choices(annotation).items()} if shape is Shape.CHOICE else {}
        described.append(ConfigField(name=name, shape=shape, info=info, choice_values=values))
    return described


def _label(field: ConfigField) -> str:
    # Titles and descriptions written with gettext_lazy / gettext_noop in a connector translate here.
    return gettext(field.info.title) if field.info.title else field.name.replace("_", " ").capitalize()


def _bounds(info: FieldInfo) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for constraint in info.metadata:
        # Strict bounds (gt, lt) are left to pydantic: the browser only knows inclusive ones.
        if isinstance(constraint, annotated_types.Ge):
            bounds["min_value"] = constraint.ge
        elif isinstance(constraint, annotated_types.Le):
            bounds["max_value"] = constraint.le
        elif isinstance(constraint, annotated_types.MaxLen):
            bounds["max_length"] = constraint.max_length
    return bounds


def _widget_attrs(field: ConfigField) -> dict[str, str]:
    attrs: dict[str, str] = {}
    if field.info.examples:
        attrs["placeholder"] = str(field.info.examples[0])
    return attrs


def _text_field(field: ConfigField, annotation: Any, common: dict[str, Any]) -> forms.Field:
    attrs = _widget_attrs(field)
    bounds = _bounds(field.info)
    if _is_subclass(annotation, AnyUrl):
        attrs.setdefault("placeholder", "https://")
        return forms.CharField(widget=forms.URLInput(attrs=attrs), **common)
    if annotation is date:
        return forms.CharField(widget=forms.DateInput(attrs={**attrs, "type": "date"}), **common)
    return forms.CharField(widget=forms.TextInput(attrs=attrs), max_length=bounds.get("max_length"), **common)


def _form_field(field: ConfigField, *, secret_stored: bool) -> forms.Field:
    annotation = _unwrap_optional(field.info.annotation)
    common: dict[str, Any] = {
        "label": _label(field),
        "help_text": gettext(field.info.description) if field.info.description else "",
        # pydantic decides what is required; an empty input means "use the default".
        "required": False,
    }
    match field.shape:
        case Shape.SECRET:
            return _secret_field(field, common, secret_stored=secret_stored)
        case Shape.BOOL:
            return forms.BooleanField(**common)
        case Shape.NUMBER:
            kind = forms.IntegerField if annotation is int else forms.FloatField
            return kind(**common, **{k: v for k, v in _bounds(field.info).items() if k != "max_length"})
        case Shape.CHOICE:
            blank = [] if field.info.is_required() else [("", "—")]
            options = [(key, label) for key, (_value, label) in _choices(annotation).items()]
            return forms.ChoiceField(choices=blank + options, **common)
        case Shape.LINES:
            common["help_text"] = common["help_text"] or gettext("One per line.")
            return forms.CharField(widget=forms.Textarea(attrs={**_widget_attrs(field), "rows": 4}), **common)
        case Shape.JSON:
            common["help_text"] = _join_help(common["help_text"], gettext("As JSON."))
            return forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}), **common)
        case _:
            return _text_field(field, annotation, common)


def _secret_field(field: ConfigField, common: dict[str, Any], *, secret_stored: bool) -> forms.Field:
    if secret_stored:
        common["help_text"] = _join_help(common["help_text"], gettext("A value is stored; leave blank to keep it."))
    # render_value=False: a stored or just-typed secret never travels back to the browser.
    widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
    return forms.CharField(widget=widget, strip=True, **common)


def _join_help(*parts: str) -> str:
    return " ".join(part for part in parts if part)


# --- reading the typed values back ---------------------------------------------------------------------


def _typed_value(field: ConfigField, value: Any) -> tuple[bool, Any]:
    """(present, value) for pydantic; `present` False leaves the key out so the default applies."""
    if field.shape is Shape.BOOL:
        return True, bool(value)
    if field.shape is Shape.LINES:
        return True, [line.strip() for line in str(value or "").splitlines() if line.strip()]
    if value is None or value == "":
        return False, None
    if field.shape is Shape.CHOICE:
        return True, field.choice_values.get(str(value), value)
    if field.shape is Shape.JSON:
        return True, json.loads(value)
    return True, value


def _initial_value(field: ConfigField, value: Any) -> Any:
    """A stored value as the input shows it (lists one per line, JSON pretty-printed)."""
    if value is None:
        return ""
    if field.shape is Shape.LINES:
        return "\n".join(str(item) for item in value)
    if field.shape is Shape.JSON:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return value


# --- pydantic errors in the reader's language ----------------------------------------------------------


def _plural(ctx: dict[str, Any], key: str) -> int:
    return int(ctx.get(key) or 0)


# Each message is spelt out in a gettext/ngettext call so that makemessages finds it.
ERROR_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "missing": lambda ctx: gettext("This field is required."),
    "url_parsing": lambda ctx: gettext("Enter a full web address, such as https://example.org/feed.xml."),
    "url_scheme": lambda ctx: (
        gettext("Use an address that starts with http:// or https://.")
        if "http" in str(ctx.get("expected_schemes", ""))
        else gettext("Use an address with one of these schemes: %(schemes)s.")
        % {"schemes": ctx.get("expected_schemes")}
    ),
    "url_too_long": lambda ctx: (
        ngettext(
            "Use an address of at most %(max_length)s character.",
            "Use an address of at most %(max_length)s characters.",
            _plural(ctx, "max_length"),
        )
        % ctx
    ),
    "int_parsing": lambda ctx: gettext("Enter a whole number."),
    "int_from_float": lambda ctx: gettext("Enter a whole number."),
    "float_parsing": lambda ctx: gettext("Enter a number."),
    "greater_than_equal": lambda ctx: gettext("Enter a number of at least %(ge)s.") % ctx,
    "greater_than": lambda ctx: gettext("Enter a number greater than %(gt)s.") % ctx,
    "less_than_equal": lambda ctx: gettext("Enter a number of at most %(le)s.") % ctx,
    "less_than": lambda ctx: gettext("Enter a number less than %(lt)s.") % ctx,
    "string_too_short": lambda ctx: (
        ngettext(
            "Enter at least %(min_length)s character.",
            "Enter at least %(min_length)s characters.",
            _plural(ctx, "min_length"),
        )
        % ctx
    ),
    "string_too_long": lambda ctx: (
        ngettext(
            "Enter at most %(max_length)s character.",
            "Enter at most %(max_length)s characters.",
            _plural(ctx, "max_length"),
        )
        % ctx
    ),
    "too_short": lambda ctx: (
        ngettext(
            "Enter at least %(min_length)s line.", "Enter at least %(min_length)s lines.", _plural(ctx, "min_length")
        )
        % ctx
    ),
    "too_long": lambda ctx: (
        ngettext(
            "Enter at most %(max_length)s line.", "Enter at most %(max_length)s lines.", _plural(ctx, "max_length")
        )
        % ctx
    ),
    "literal_error": lambda ctx: gettext("Choose one of the options in the list."),
    "enum": lambda ctx: gettext("Choose one of the options in the list."),
    "string_pattern_mismatch": lambda ctx: gettext("This value does not have the expected format."),
    "date_from_datetime_parsing": lambda ctx: gettext("Enter a date as YYYY-MM-DD."),
    "date_parsing": lambda ctx: gettext("Enter a date as YYYY-MM-DD."),
    "json_invalid": lambda ctx: gettext("Enter valid JSON."),
}


def explain(error: ErrorDetails) -> str:
    """A pydantic error as a sentence for the person who typed the value (never echoing the value)."""
    message = ERROR_MESSAGES.get(error["type"])
    if message is not None:
        return message(dict(error.get("ctx") or {}))
    # A connector's own validator (ValueError) already wrote a sentence for people; drop pydantic's prefix.
    return error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")


# --- the form -------------------------------------------------------------------------------------------


class SourceForm(forms.Form):
    """Name, poll interval and the connector's own settings, validated by the connector's Config."""

    name = forms.CharField(
        label=_("Name"), max_length=120, help_text=_("How this source is called in the stream and in filters.")
    )
    poll_interval = forms.TypedChoiceField(label=_("Check for new messages"), coerce=int, choices=POLL_CHOICES)

    def __init__(
        self,
        *args: Any,
        connector: type[Connector],
        current: ConnectorConfig | None = None,
        suggest_secrets: bool = False,
        **kwargs: Any,
    ) -> None:
        """`current` is the stored config when editing: it fills the inputs and keeps secrets left blank.

        `suggest_secrets` fills required secrets of a new source with a random value shown once, for shared
        secrets that the person must copy to the other system (a webhook's signing secret).
        """
        super().__init__(*args, **kwargs)
        self.connector = connector
        self.current = current
        self.config: ConnectorConfig | None = None
        self.described = config_fields(connector.Config)
        self._set_up_poll_interval()
        for field in self.described:
            self.fields[field.key] = _form_field(field, secret_stored=self._secret_stored(field.name))
            self.initial.setdefault(field.key, self._initial(field))
        if suggest_secrets and current is None and not self.is_bound:
            self._suggest_secrets()

    def _suggest_secrets(self) -> None:
        for field in self.described:
            if field.shape is Shape.SECRET and field.info.is_required():
                self.initial[field.key] = secrets.token_urlsafe(32)
                form_field = self.fields[field.key]
                # Visible on purpose, this once: it has to be copied to the sender before it is saved.
                form_field.widget = forms.TextInput(attrs={"class": "mono", "autocomplete": "off"})
                form_field.help_text = _join_help(
                    str(form_field.help_text),
                    gettext("A random secret is filled in: copy it to the sending system now. It is not shown again."),
                )

    def _set_up_poll_interval(self) -> None:
        # Streaming sources are followed live by a listener; the scheduler never polls them.
        capabilities = self.connector.capabilities
        if Capability.POLL not in capabilities or Capability.STREAM in capabilities:
            # Pushed or imported sources are never polled: the setting would only confuse.
            del self.fields["poll_interval"]
            return
        current = self.initial.get("poll_interval", settings.COMMUNA_DEFAULT_POLL_SECONDS)
        self.initial["poll_interval"] = current
        field = self.fields["poll_interval"]
        assert isinstance(field, forms.TypedChoiceField)  # narrows the type for mypy
        if current not in dict(POLL_CHOICES):
            seconds = ngettext("Every %(seconds)s second", "Every %(seconds)s seconds", current) % {"seconds": current}
            field.choices = [(current, seconds), *POLL_CHOICES]

    def _secret_stored(self, name: str) -> bool:
        return self.current is not None and getattr(self.current, name, None) is not None

    def _initial(self, field: ConfigField) -> Any:
        if field.shape is Shape.SECRET:
            return ""
        if self.current is not None:
            return _initial_value(field, self.current.model_dump(mode="json").get(field.name))
        default = field.info.get_default(call_default_factory=True)
        if default is PydanticUndefined:
            return ""
        return _initial_value(field, default.value if isinstance(default, enum.Enum) else default)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        data = self._config_data(cleaned)
        if data is None:
            return cleaned
        try:
            self.config = self.connector.Config.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                self._add_pydantic_error(error)
        return cleaned

    def _config_data(self, cleaned: dict[str, Any]) -> dict[str, Any] | None:
        """The typed values for pydantic; None when a field could not even be read (errors already added)."""
        data: dict[str, Any] = {}
        readable = True
        for field in self.described:
            if field.key in self.errors:
                readable = False
                continue
            try:
                present, value = _typed_value(field, cleaned.get(field.key))
            except json.JSONDecodeError:
                self.add_error(field.key, gettext("Enter valid JSON."))
                readable = False
                continue
            if not present and field.shape is Shape.SECRET and self._secret_stored(field.name):
                present, value = True, getattr(self.current, field.name)
            if present:
                data[field.name] = value
        return data if readable else None

    def _add_pydantic_error(self, error: ErrorDetails) -> None:
        location = error["loc"]
        described = {field.name: field for field in self.described}
        field = described.get(str(location[0])) if location else None
        if field is None:
            self.add_error(None, explain(error))
            return
        message = explain(error)
        if field.shape is Shape.LINES and len(location) > 1 and isinstance(location[1], int):
            message = gettext("Line %(number)s: %(problem)s") % {"number": location[1] + 1, "problem": message}
        if field.key not in self.errors or message not in self.errors[field.key]:
            self.add_error(field.key, message)

    def config_bound_fields(self) -> list[forms.BoundField]:
        """The connector's own inputs, for the template's "Settings" section."""
        return [self[field.key] for field in self.described]


def stored_initial(connector: type[Connector], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Initial inputs from stored settings that no longer validate (a connector upgrade), minus secrets.

    The form then shows what was saved, so the person only fixes what changed instead of starting over.
    """
    return {
        field.key: _initial_value(field, stored[field.name])
        for field in config_fields(connector.Config)
        if field.name in stored and field.shape is not Shape.SECRET
    }
