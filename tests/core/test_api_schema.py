"""Property-based API tests generated from Kairan's own OpenAPI document (Schemathesis)."""

from __future__ import annotations

from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.users import create_api_user

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 10


def test_api_conforms_to_its_document(app: Flask) -> None:
    with app.app_context():
        user, token = create_api_user("schemathesis", "admin")
        name = user.username
    auth = {"Authorization": f"token {name}:{token}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                case.call_and_validate(headers=auth, checks=CHECKS)
            try:
                run()
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"{operation.label} [{mode}]: {str(error)[:1500]}")
    assert not failures, "\n\n".join(failures)
