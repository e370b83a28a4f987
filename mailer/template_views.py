"""UI pages for email layouts (templates): the list, the editor with its preview, the default, deleting one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import escape

from core.auth import Permission, require
from core.forms import ConfirmForm
from core.refusals import showing_refusal
from core.validation import choice
from core.web import can
from mailer.gallery import copy_language, get_starter, layout_source
from mailer.layouts import all_templates, delete_template, get_template, preview_layout, save_template, set_default
from mailer.models import Template, TemplateType
from mailer.views import preview_response, save_posted

bp = Blueprint("templates", __name__, url_prefix="/templates")


@bp.get("/")
@require(Permission.TEMPLATES_READ)
def index() -> Any:
    """List the email layouts."""
    return render_template("mailer/templates.html", templates=all_templates(), form=ConfirmForm())


def _editor(template: Template | None, values: dict[str, Any], status: int = 200) -> Any:
    return render_template("mailer/template_edit.html", template=template, values=values, form=ConfirmForm(),
                           types=list(TemplateType)), status


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<int:template_id>", methods=["GET", "POST"])
@require(Permission.TEMPLATES_READ)
def edit(template_id: int | None = None) -> Any:
    """Edit a layout; saving checks it and names the line of an error."""
    template = get_template(template_id) if template_id else None
    if request.method == "GET":
        values = {"name": template.name, "type": template.type.value, "subject": template.subject,
                  "body": template.body} if template else _new_layout()
        return _editor(template, values)
    if not can(Permission.TEMPLATES_WRITE):
        abort(403)
    values = request.form.to_dict()
    with showing_refusal():
        saved = save_posted(lambda: save_template(template, values))
        flash(_("Template “%(name)s” saved.", name=saved.name), "success")
        return redirect(url_for("templates.edit", template_id=saved.id))
    return _editor(template, values, 400)


def _new_layout() -> dict[str, Any]:
    """A new layout's fields: the plain layout, or one made from a starter picked in the gallery."""
    layouts = Path(current_app.root_path) / "templates" / "mailer" / "layouts"
    values = {"type": "campaign", "body": (layouts / "plain.html").read_text(encoding="utf-8")}
    if request.args.get("starter"):
        with showing_refusal():
            starter, lang = get_starter(request.args["starter"]), copy_language(request.args.get("lang"))
            values.update(name=starter.name(lang), body=layout_source(starter, lang))
    return values


@bp.post("/preview")
@require(Permission.TEMPLATES_READ)
def preview() -> Any:
    """Render a layout being edited around a sample body (the editor posts it into a sandboxed frame)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with showing_refusal(flash_it=False) as attempt:  # the frame shows why the layout cannot render
        kind = choice(TemplateType, request.form.get("type"), "type", TemplateType.CAMPAIGN)
        return preview_response(preview_layout(request.form.get("body", ""), kind))
    return preview_response(f"<p style='font-family:sans-serif;color:#b00020'>{escape(attempt.message)}</p>")


@bp.post("/<int:template_id>/default")
@require(Permission.TEMPLATES_WRITE)
def make_default(template_id: int) -> Any:
    """Make a layout the default."""
    if ConfirmForm().validate_on_submit():
        set_default(get_template(template_id))
        flash(_("Default layout changed."), "success")
    return redirect(url_for("templates.index"))


@bp.post("/<int:template_id>/delete")
@require(Permission.TEMPLATES_WRITE)
def delete(template_id: int) -> Any:
    """Delete a layout (not the default, not one in use)."""
    if ConfirmForm().validate_on_submit():
        with showing_refusal():
            delete_template(get_template(template_id))
            flash(_("Template deleted."), "success")
    return redirect(url_for("templates.index"))
