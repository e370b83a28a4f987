"""The REST API's base: token auth as listmonk has it, JSON errors, paging, health, OpenAPI."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy import Select, func, select

from core import audit, health, queues, stored_settings
from core.auth import PUBLIC, Permission, public, require
from core.db import db, utcnow
from core.errors import PermissionDeniedError
from core.inputs import ID_MAX, INT64_MAX, int_arg, json_body
from core.models import User
from core.users import authenticate_token

API_PREFIX = "/api/"
WEBHOOK_PREFIX = "/webhooks/"  # listmonk's bounce webhooks: API credentials, API answers
API_PATHS = (API_PREFIX, WEBHOOK_PREFIX)
DEFAULT_PER_PAGE = 20  # listmonk's default
MAX_PER_PAGE = 1000  # larger pages go through per_page=all, which the caller asks for explicitly
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bp = Blueprint("api", __name__, url_prefix="/api")


def is_api_request() -> bool:
    """Tell whether the current request is for the REST API."""
    return request.path.startswith(API_PATHS) or request.path == API_PREFIX.rstrip("/")


def credentials(header: str) -> tuple[str, str] | None:
    """Return the username and token of ``token user:token`` or HTTP Basic ``user:token``, else None."""
    scheme, _sep, value = header.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    elif scheme.lower() != "token":
        return None
    username, sep, token = value.strip().partition(":")
    if not sep or not username or not token:
        return None
    return username, token


def user_from_authorization(header: str) -> User | None:
    """Return the API user named by ``token user:token`` or HTTP Basic ``user:token``, else None."""
    given = credentials(header)
    return authenticate_token(*given) if given is not None else None


# A shop's integration with a wrong token retries at its own rate: the log keeps the first refusal per client
# address and username in each window, not every one (the log is append-only, so no entry can count later ones).
LOGIN_FAILED_WINDOW = timedelta(minutes=10)
# Atomic in Redis, so every web process shares the window: start one (and say so) unless one began less than
# the window ago on the app's clock. KEYS[1]: the window's key; ARGV: now and the window, in seconds.
_FIRST_IN_WINDOW = """
local started = tonumber(redis.call('GET', KEYS[1]))
if started and tonumber(ARGV[1]) - started < tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


def _first_failure_in_window(username: str) -> bool:
    """Tell whether this refusal is the first from this address for this username in the window."""
    who = hashlib.sha256(f"{request.remote_addr}\0{username}".encode()).hexdigest()
    window = int(LOGIN_FAILED_WINDOW.total_seconds())
    try:
        return bool(queues.redis().eval(_FIRST_IN_WINDOW, 1, f"kairan:audit:api_login_failed:{who}",
                                        utcnow().timestamp(), window))
    except RedisError:
        return True  # without Redis, every refusal is recorded rather than none


def record_failed_login(header: str) -> None:
    """Record refused API credentials (``api.login_failed``), the first per address and username in a window,
    in its own commit: the refused request answers 403."""
    given = credentials(header)
    username = given[0].strip().lower() if given is not None else ""
    if _first_failure_in_window(username):
        audit.record("api.login_failed", audit.Target("user", None, username or None))
        db.session.commit()


def load_user_from_request(req: Any) -> User | None:
    """Flask-Login request loader: API routes authenticate with the Authorization header."""
    header = req.headers.get("Authorization")
    if not header or not is_api_request():
        return None
    user = user_from_authorization(header)
    g.api_token_user = user
    return user


def authenticate_api() -> None:
    """Refuse API calls without valid credentials before any view runs (listmonk answers 403)."""
    if not is_api_request():
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "kairan_permission", None) == PUBLIC:
        return
    if not current_user.is_authenticated:
        if "Authorization" in request.headers:
            record_failed_login(request.headers["Authorization"])
        raise PermissionDeniedError(_("invalid API credentials"))
    # A browser session may read the API (the UI's own scripts); changes need a token,
    # because the API takes no CSRF token.
    if request.method not in SAFE_METHODS and g.get("api_token_user") is None:
        raise PermissionDeniedError(_("Changes through the API need an API token."))


def paginate(stmt: Select[Any], serialize: Callable[[list[Any]], list[dict[str, Any]]],
             total: int | None = None) -> dict[str, Any]:
    """Run a select with listmonk's paging parameters and return its paged ``data`` object.

    ``serialize`` gets the whole page, so it can load related data for all rows in one query.
    ``total``, when the caller can count faster than counting ``stmt``'s rows, is used as it is.
    """
    page = int_arg("page", 1)
    if request.args.get("per_page") == "all":
        per_page = 0  # listmonk reports per_page 0 for "all"
    else:
        per_page = min(int_arg("per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    if total is None:
        total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    offset = (page - 1) * per_page
    if offset > INT64_MAX:  # past any table's last row, and past what an OFFSET can say: an empty page
        results = []
    else:
        results = serialize(list(db.session.scalars(stmt.limit(per_page).offset(offset) if per_page else stmt)))
    return {
        "results": results,
        "search": "",
        "query": request.args.get("query", ""),
        "total": total,
        "per_page": per_page,
        "page": page,
    }


@bp.get("/health")
@public
def health_check() -> Any:
    """Say that the API answers.
    ---
    get:
      tags: [health]
      summary: Liveness, as listmonk answers it.
      security: []
      responses:
        200:
          description: The API is up.
          content:
            application/json:
              schema: {type: object, properties: {data: {type: boolean}}}
    """
    return jsonify(data=True)


@bp.get("/health/detail")
@public
def health_detail() -> Any:
    """Report each component's state.
    ---
    get:
      tags: [health]
      summary: Database, Redis, workers, SMTP and queue lengths.
      description: Anonymous callers get only each component's ok flag; signed-in users and API users get details.
      security: []
      responses:
        200:
          description: Every component is healthy.
        503:
          description: At least one component is failing; see its detail.
    """
    components = health.run_checks()
    ok = all(c.ok for c in components.values())
    if current_user.is_authenticated:
        shown = {name: asdict(c) for name, c in components.items()}
    else:
        # Details name hosts, paths and errors (a URL may carry a password): signed-in users only.
        shown = {name: {"ok": c.ok} for name, c in components.items()}
    return jsonify(data={"ok": ok, "components": shown}), 200 if ok else 503


@bp.get("/settings")
@require(Permission.SETTINGS_MANAGE)
def settings_get() -> Any:
    """List the settings an admin may edit in the browser, with their values in force.
    ---
    get:
      tags: [settings]
      summary: Each editable setting's variable, value in force and source (a variable set in the environment wins).
      responses:
        200:
          description: The settings.
          content:
            application/json:
              schema: {type: object, properties: {data: {type: array, items: {$ref: '#/components/schemas/Setting'}}}}
        403: {$ref: '#/components/responses/Error'}
    """
    return jsonify(data=[row.as_dict() for row in stored_settings.shown()])


@bp.put("/settings")
@require(Permission.SETTINGS_MANAGE)
def settings_put() -> Any:
    """Change settings; they hold from the next campaign on, on every host, with no restart.
    ---
    put:
      tags: [settings]
      summary: Store the given values (an empty one puts the default back).
      description: Refused, naming it, when a setting is unknown, is set in the environment, or has a bad value.
      requestBody:
        content:
          application/json:
            schema: {type: object, additionalProperties: {type: string}, example: {KAIRAN_COMPANY_NAME: 回覧商事}}
      responses:
        200:
          description: The settings, as GET lists them.
          content:
            application/json:
              schema: {type: object, properties: {data: {type: array, items: {$ref: '#/components/schemas/Setting'}}}}
        400: {$ref: '#/components/responses/Error'}
        403: {$ref: '#/components/responses/Error'}
    """
    stored_settings.save(json_body())
    return jsonify(data=[row.as_dict() for row in stored_settings.shown()])


@bp.get("/openapi.json")
@public
def openapi() -> Any:
    """Serve the OpenAPI document, generated from the API routes' docstrings.
    ---
    get:
      tags: [meta]
      summary: This document.
      security: []
      responses:
        200:
          description: OpenAPI 3 document.
    """
    return jsonify(build_openapi(current_app))


def build_openapi(app: Flask) -> dict[str, Any]:
    """Build the OpenAPI document from every route under /api."""
    spec = APISpec(
        title="Kairan API",
        version="1.0.0",
        openapi_version="3.0.3",
        info={"description": "Compatible with listmonk's API; Kairan's own additions beside it."},
        plugins=[FlaskPlugin()],
        security=[{"basicAuth": []}, {"tokenAuth": []}],
    )
    spec.components.security_scheme("basicAuth", {"type": "http", "scheme": "basic"})
    spec.components.security_scheme(
        "tokenAuth",
        {"type": "apiKey", "in": "header", "name": "Authorization",
         "description": "`token api_user:token`"},
    )
    spec.components.schema(
        "Error", {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
    )
    spec.components.response("Error", {
        "description": "Refused; the message says why (400 invalid input or unknown id, 403 credentials "
                       "or permission, 409 duplicate).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
    # listmonk's paging, the same on every paged route: its parameters and the page's envelope (a route adds
    # the type of its results with allOf).
    spec.components.parameter("page", "query", {"schema": {"type": "integer", "minimum": 1}})
    spec.components.parameter("per_page", "query", {
        "schema": {"type": "string"}, "description": f'A number (default {DEFAULT_PER_PAGE}, at most '
                                                     f'{MAX_PER_PAGE}), or "all".'})
    spec.components.parameter("order", "query", {"schema": {"type": "string", "enum": ["asc", "desc"]}})
    spec.components.schema("Page", {"type": "object", "properties": {
        "results": {"type": "array", "items": {"type": "object"}}, "search": {"type": "string"},
        "query": {"type": "string"}, "total": {"type": "integer"},
        "per_page": {"type": "integer", "description": "0 when per_page=all."}, "page": {"type": "integer"}}})
    spec.components.response("RateLimited", {
        "description": "Too many attempts from this address: wait a minute.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
    spec.components.schema("Setting", {"type": "object", "properties": {
        "name": {"type": "string"}, "value": {"type": "string"}, "label": {"type": "string"},
        "source": {"type": "string", "enum": ["environment", "stored", "default"]}, "editable": {"type": "boolean"}}})
    for name, schema in app.extensions.get("kairan_api_schemas", {}).items():
        spec.components.schema(name, schema)
    with app.test_request_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if rule.rule.startswith(API_PATHS):
                spec.path(view=app.view_functions[rule.endpoint], app=app)
    return _with_input_answers(spec.to_dict())


def _with_input_answers(document: dict[str, Any]) -> dict[str, Any]:
    """Add what the input layer (core.inputs) answers before any view runs, on every route it applies to.

    Every route refuses NUL in its URL, query or form (400). The ``<int:…>`` converter matches ids from 0 to
    ID_MAX only, so on a route with an id in its path a negative, fractional or larger id, or one that is not
    a number, matches no route (404).
    """
    for item in document["paths"].values():
        for operation in item.values():
            operation.setdefault("responses", {}).setdefault("400", {"$ref": "#/components/responses/Error"})
            path_ids = [p for p in operation.get("parameters", []) if p.get("in") == "path"
                        and p.get("schema", {}).get("type") == "integer"]
            for parameter in path_ids:
                parameter["schema"] = {**parameter["schema"], "minimum": 0, "maximum": ID_MAX}
            if path_ids:
                operation.setdefault("responses", {}).setdefault("404", {
                    "description": "No such route: an id that is not a whole number from 0 to "
                                   f"{ID_MAX} (an id no row can have).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    return document


def register_schema(app: Flask, name: str, schema: dict[str, Any]) -> None:
    """Add a named schema to the OpenAPI document (packages describe their own bodies)."""
    app.extensions.setdefault("kairan_api_schemas", {})[name] = schema


def init_app(app: Flask) -> None:
    """Register the API base and its authentication."""
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # UTF-8 JSON, as listmonk sends: 会員, not \u4f1a\u54e1
    app.register_blueprint(bp)
    app.before_request(authenticate_api)
