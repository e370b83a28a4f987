"""Forms of the audience pages; Flask-WTF adds the CSRF token to each."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length


def list_type_choices() -> list[tuple[str, str]]:
    """Return list types with their meaning."""
    return [("private", str(_l("Private: only you add subscribers"))),
            ("public", str(_l("Public: shown on the subscription form")))]


def optin_choices() -> list[tuple[str, str]]:
    """Return opt-in kinds with their meaning."""
    return [("single", str(_l("Single opt-in: subscribed at once"))),
            ("double", str(_l("Double opt-in: subscribed after confirming by email")))]


def subscriber_status_choices() -> list[tuple[str, str]]:
    """Return subscriber states in the UI language."""
    return [("enabled", str(_l("Enabled"))), ("disabled", str(_l("Disabled"))),
            ("blocklisted", str(_l("Blocklisted")))]


class ListForm(FlaskForm):
    """A list's name, kind and description."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    type = SelectField(_l("Type"), choices=list_type_choices, default="private")
    optin = SelectField(_l("Opt-in"), choices=optin_choices, default="single")
    tags = StringField(_l("Tags (comma-separated)"))
    description = TextAreaField(_l("Description"))


class SubscriberForm(FlaskForm):
    """A subscriber's address, name, state and attributes (as JSON), plus lists to join."""

    email = StringField(_l("Email address"), validators=[DataRequired(), Length(max=300)])
    name = StringField(_l("Name"), validators=[Length(max=200)])
    status = SelectField(_l("Status"), choices=subscriber_status_choices, default="enabled")
    attribs = TextAreaField(_l("Attributes"), default="{}")
    lists = SelectMultipleField(_l("Add to lists"), coerce=int, choices=[])
