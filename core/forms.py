"""Forms of the core pages; Flask-WTF adds the CSRF token to each."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from core.auth import Role
from core.i18n import LANGUAGES
from core.users import MIN_PASSWORD_LENGTH


def role_choices() -> list[tuple[str, str]]:
    """Return the roles with their translated descriptions."""
    return [
        (Role.ADMIN.value, str(_l("Admin: everything, including users and settings"))),
        (Role.EDITOR.value,
         str(_l("Editor: lists, subscribers, customer events, templates, campaigns and automations, and sending"))),
        (Role.VIEWER.value, str(_l("Viewer: read-only, with statistics"))),
    ]


class LoginForm(FlaskForm):
    """Username and password."""

    username = StringField(_l("Username"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    next = HiddenField()


def _code_field(label: str) -> StringField:
    # one-time-code: phones offer the code from an SMS or app; numeric keyboard for the six digits
    return StringField(label, validators=[DataRequired(), Length(max=40)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "text", "spellcheck": "false",
                                  "autocapitalize": "off"})


class LoginCodeForm(FlaskForm):
    """The code after the password: from the authenticator app, or a recovery code."""

    code = _code_field(_l("Code from your authenticator app, or a recovery code"))


class EnrolForm(FlaskForm):
    """The first code from the app, which turns two-factor login on."""

    code = StringField(_l("Code from the app (6 digits)"), validators=[DataRequired(), Length(max=10)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class DisableTwoFactorForm(FlaskForm):
    """Password and a code, to turn two-factor login off."""

    password = PasswordField(_l("Password"), validators=[DataRequired()],
                             render_kw={"autocomplete": "current-password"})
    code = _code_field(_l("Code from your authenticator app, or a recovery code"))


class ChangePasswordForm(FlaskForm):
    """The current password and a new one, twice."""

    current = PasswordField(_l("Current password"), validators=[DataRequired()],
                            render_kw={"autocomplete": "current-password"})
    password = PasswordField(
        _l("New password (at least %(n)d characters)", n=MIN_PASSWORD_LENGTH),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, message=_l(
            "A password needs at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))],
        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class SetupForm(FlaskForm):
    """The first admin's account."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=100)])
    password = PasswordField(
        _l("Password (at least %(n)d characters)", n=MIN_PASSWORD_LENGTH),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH,
                                           message=_l("A password needs at least %(n)d characters.",
                                                      n=MIN_PASSWORD_LENGTH))],
        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(
        _l("Repeat the password"), validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )


class NewUserForm(FlaskForm):
    """A new person who logs in."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=100)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    role = SelectField(_l("Role"), choices=role_choices, default=Role.EDITOR.value)
    language = SelectField(
        _l("Language"), choices=lambda: [("", str(_l("From the browser"))), *LANGUAGES.items()]
    )


class EditUserForm(FlaskForm):
    """Role, enabled flag and an optional new password."""

    role = SelectField(_l("Role"), choices=role_choices)
    enabled = BooleanField(_l("Enabled"))
    password = PasswordField(
        _l("New password (leave empty to keep)"), validators=[Optional(), Length(min=MIN_PASSWORD_LENGTH)]
    )


class NewTokenForm(FlaskForm):
    """A new API user."""

    username = StringField(_l("API user name"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(_l("Role"), choices=role_choices, default=Role.VIEWER.value)  # least power unless chosen


class ConfirmForm(FlaskForm):
    """A button that changes something: only its CSRF token."""


class LanguageForm(FlaskForm):
    """The UI language switch."""

    language = SelectField(choices=lambda: list(LANGUAGES.items()))
