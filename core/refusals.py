"""How a page shows a refusal: the one place a UI view catches a domain error.

An API call lets the error propagate (core/web.py answers it with its status and ``{"message": …}``). A page
runs its action inside ``showing_refusal``: a refusal rolls back what was half done and is shown under the
form field it names (``KairanError.field``), else under the field the view says, else as a flashed message;
the view then renders its form again from what was posted, so nothing typed is lost.

    form = UserForm()
    if form.validate_on_submit():
        with showing_refusal(form, "username"):
            create_user(...)
            return redirect(url_for("users.index"))
    return render_template("users.html", form=form), 400
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import flash, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import Field

from core.auth import has_permission
from core.db import db
from core.errors import FieldsRefusedError, KairanError


@dataclass
class Attempt:
    """What an action inside ``showing_refusal`` came to: the refusal it met, if any (already shown)."""

    error: KairanError | None = None

    @property
    def refused(self) -> bool:
        """Tell whether the action was refused."""
        return self.error is not None

    @property
    def message(self) -> str | None:
        """The refusal's message, or None when the action went through."""
        return self.error.message if self.error is not None else None


@contextmanager
def showing_refusal(form: FlaskForm | None = None, field: str | None = None, *,
                    flash_it: bool = True) -> Iterator[Attempt]:
    """Run the block; a domain error it raises is rolled back, shown, and kept in the Attempt yielded.

    Shown under ``form``'s field the error names, else under ``field``, else flashed (unless ``flash_it`` is
    false: the caller shows ``attempt.error`` itself, e.g. inside a preview frame).
    """
    attempt = Attempt()
    try:
        yield attempt
    except KairanError as error:
        db.session.rollback()  # nothing half-saved; the page renders what was posted, not the session's objects
        attempt.error = error
        for name, message in _messages(error):
            target = _field(form, name) or _field(form, field)
            if target is not None:
                target.errors = [*target.errors, message]
            elif flash_it:
                flash(linked(message, error), "error")


def problems(form: FlaskForm) -> list[tuple[str, str, str]]:
    """A refused form's problems for its error summary (macros.html): (field id, label, message) in its order."""
    return [(f.id, f.label.text, message) for f in form if f.errors and f.type != "CSRFTokenField"
            for message in f.errors]


def field_messages(error: KairanError | None, fields: Collection[str]) -> dict[str, str]:
    """A refusal's messages by field, for a form that is no WTForms form (its ``fields``); any other is flashed."""
    shown: dict[str, str] = {}
    if error is None:
        return shown
    for name, message in _messages(error):
        if name is not None and name in fields:
            shown.setdefault(name, message)
        else:
            flash(linked(message, error), "error")
    return shown


def linked(message: str, error: KairanError) -> str | Markup:
    """The message with the phrases its error links (``KairanError.links``) as links, for a page: only those the
    signed-in user may open."""
    shown = escape(message)
    for link in error.links:
        if current_user.is_authenticated and has_permission(current_user.role, link.permission):
            shown = shown.replace(escape(link.phrase),
                                  Markup('<a href="{}">{}</a>').format(url_for(link.endpoint), link.phrase))
    return shown if shown != escape(message) else message


def _messages(error: KairanError) -> list[tuple[str | None, str]]:
    if isinstance(error, FieldsRefusedError):
        return list(error.errors.items())
    return [(error.field, error.message)]


def _field(form: FlaskForm | None, name: str | None) -> Field | None:
    return form[name] if form is not None and name and name in form else None
