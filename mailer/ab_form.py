"""The A/B test's part of the campaign editor's form: what it shows, and what it posts (as the API's ab_test)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l

from core.inputs import id_or_none
from mailer import ab
from mailer.models import ABTest

SHARES = (10, 20, 30, 40, 50, 100)  # the form's choices of a test share (the API takes any of 10–50 too)
MEASURE_LABELS = {"opens": _l("Unique opens by people"), "clicks": _l("Unique clicks by people"),
                  "conversions": _l("Conversions (purchases after a click)")}


def form_values(test: ABTest | None) -> dict[str, Any]:
    """The A/B test's part of the campaign form, from the saved test (or a new one's defaults)."""
    variants = [{"subject": v.subject or "", "from_name": v.from_name or "", "preheader": v.preheader or "",
                 "own_content": bool(v.body)} for v in test.variants] if test else []
    return {"enabled": test is not None, "count": len(variants) or 2,
            "test_share": test.test_share if test else 20, "wait_hours": test.wait_hours if test else 4,
            "measure": test.measure.value if test else "opens", "manual": test.manual if test else False,
            "variants": variants + [{} for _n in range(ab.MAX_VARIANTS - len(variants))]}


def posted(test: ABTest | None) -> dict[str, Any]:
    """The A/B test's part of a posted campaign form; each variant keeps its own content (edited on its page)."""
    form = request.form
    kept = {v.position: v for v in test.variants} if test else {}
    variants = []
    for position in range(1, ab.MAX_VARIANTS + 1):
        own = kept.get(position)
        variants.append({"subject": form.get(f"variant{position}_subject", ""),
                         "from_name": form.get(f"variant{position}_from_name", ""),
                         "preheader": form.get(f"variant{position}_preheader", ""),
                         **({"body": own.body, "body_source": own.body_source, "altbody": own.altbody,
                             "content_type": own.content_type.value if own.content_type else None} if own else {})})
    count = id_or_none(form.get("variant_count")) or 2
    return {"enabled": form.get("ab_enabled") == "on", "count": min(count, ab.MAX_VARIANTS),
            "test_share": form.get("test_share", ""), "wait_hours": form.get("wait_hours", ""),
            "measure": form.get("measure", ""), "manual": form.get("manual") == "on", "variants": variants}
