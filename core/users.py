"""Services for users and API tokens: create, authenticate, change, delete."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from werkzeug.security import check_password_hash, generate_password_hash

from core import audit, shared_config
from core.auth import Role
from core.db import db
from core.errors import KairanError, LastAdminError, NotAChoiceError, NotFoundError, UsernameTakenError, ValidationError
from core.models import User, UserType, new_session_token

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,99}$")
MIN_PASSWORD_LENGTH = 10  # NIST SP 800-63B asks for at least 8; we ask a little more
# werkzeug's scrypt (n=2**15, r=8, p=1); checked against this when the user is unknown,
# so a wrong username costs as much time as a wrong password (no user enumeration).
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_username(username: str) -> str:
    """Validate a username and return its stored (lower-case) form."""
    name = (username or "").strip().lower()
    if not USERNAME_PATTERN.match(name):
        raise ValidationError(
            str(_l("A username is 1 to 100 letters, digits or . _ @ - and starts with a letter or digit.")),
            field="username")
    return name


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError(str(_l("A password needs at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)),
                              field="password")


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise NotAChoiceError(str(_l("Unknown role %(role)s: use admin, editor or viewer.", role=role)),
                              field="role") from None


def _new(username: str, user_type: UserType, role: str) -> User:
    name = normalise_username(username)
    if db.session.scalar(select(User.id).where(User.username == name)) is not None:
        raise UsernameTakenError(name)
    return User(username=name, type=user_type, role=_role(role), enabled=True)


def create_user(username: str, password: str, role: str, language: str | None = None) -> User:
    """Create a person who logs in with a password."""
    user = _new(username, UserType.USER, role)
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    user.language = language or None
    db.session.add(user)
    db.session.commit()
    return user


def create_api_user(username: str, role: str) -> tuple[User, str]:
    """Create an API user and return it with its token, which is shown this once only."""
    user = _new(username, UserType.API, role)
    token = secrets.token_urlsafe(24)
    user.token_hash = _token_digest(token)
    db.session.add(user)
    db.session.commit()
    return user, token


def rotate_token(user: User) -> str:
    """Give an API user a new token; the old one stops working at once."""
    token = secrets.token_urlsafe(24)
    user.token_hash = _token_digest(token)
    audit.record("token.rotated", audit.user_target(user))
    db.session.commit()
    return token


def authenticate_password(username: str, password: str) -> User | None:
    """Return the enabled user with this username and password, or None, in constant-ish time."""
    name = (username or "").strip().lower()
    user = db.session.scalar(select(User).where(User.username == name, User.type == UserType.USER))
    if user is None or user.password_hash is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.enabled:
        return None
    return user


_API_USERS = "api_users"  # the shared view (core/shared_config.py): each API user's columns, by username
# A change to these makes every process read its API users again: who they are, their role, their token.
_CREDENTIALS = (User.username, User.type, User.role, User.enabled, User.token_hash, User.password_hash, User.language)


def authenticate_token(username: str, token: str) -> User | None:
    """Return the enabled API user whose token this is, or None.

    Each process holds its API users' rows until a user changes (an integration calls at its own rate, and a
    token is checked on every call); the token itself is checked against the held digest every time.
    """
    name = username.strip().lower()
    held: dict[str, dict[str, Any]] = shared_config.view(_API_USERS, dict)
    if name in held:
        user: User | None = _attached(held[name])
    else:  # an unknown name is not held: names sent at random must not grow the view
        user = db.session.scalar(select(User).where(User.username == name, User.type == UserType.API))
        if user is not None:
            held[name] = {key: getattr(user, key) for key in _COLUMN_KEYS}
    return user if user is not None and _takes(user.token_hash, user.enabled, token) else None


def held_token_role(app: Flask, username: str, token: str) -> tuple[Role, int] | None:
    """The role of the enabled API user whose token this is, as this process holds its API users, and the
    shared configuration's count they are held under; None when this process does not hold that user (or the
    token is wrong): then Flask's authentication decides. For fast paths (automations/event_api.py)."""
    kept = shared_config.held(app, _API_USERS)
    if kept is None:
        return None
    count, users = kept
    columns = users.get(username.strip().lower())
    if columns is None or not _takes(columns["token_hash"], columns["enabled"], token):
        return None
    return Role(columns["role"]), count


def _takes(token_hash: str | None, enabled: bool, token: str) -> bool:
    """Whether an API user with this digest and enabled flag takes this token."""
    return token_hash is not None and enabled and hmac.compare_digest(token_hash, _token_digest(token))


_COLUMN_KEYS = tuple(attribute.key for attribute in inspect(User).column_attrs)


def _attached(columns: dict[str, Any]) -> User:
    """A held row as this session's user, with no query (as if loaded: clean, unchanged)."""
    user = User(**columns)
    make_transient_to_detached(user)
    return db.session.merge(user, load=False)


# A user added, deleted or changed in who they are or may do changes what every process holds.
shared_config.count_changes_of(User, *_CREDENTIALS)


def get_user(user_id: int) -> User:
    """Return a user by id or raise NotFoundError."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFoundError(str(_l("No such user.")))
    return user


def list_users() -> list[User]:
    """Return every user and API user, people first."""
    return list(db.session.scalars(select(User).order_by(User.type.desc(), User.username)))


def _admins_left(excluding: User) -> int:
    return db.session.scalar(
        select(func.count(User.id)).where(
            User.role == Role.ADMIN, User.type == UserType.USER, User.enabled.is_(True), User.id != excluding.id
        )
    ) or 0


def update_user(user: User, *, role: str, enabled: bool, password: str | None = None) -> None:
    """Change a user's role, enabled flag or password, keeping at least one admin who can log in."""
    new_role = _role(role)
    if user.type == UserType.USER and user.role == Role.ADMIN and (new_role != Role.ADMIN or not enabled):
        if _admins_left(user) == 0:
            raise LastAdminError()
    if password:
        set_password(user, password)
    user.role = new_role
    user.enabled = enabled
    db.session.commit()


def set_password(user: User, password: str) -> None:
    """Give a person a new password; their sessions end (the caller keeps its own: core.sessions)."""
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    user.session_token = new_session_token()
    db.session.commit()


def set_language(user: User, language: str | None) -> None:
    """Remember the UI language a user chose."""
    user.language = language
    db.session.commit()


def delete_user(user: User) -> None:
    """Delete a user or API user, keeping at least one admin who can log in."""
    if user.type == UserType.USER and user.role == Role.ADMIN and _admins_left(user) == 0:
        raise LastAdminError()
    db.session.delete(user)
    db.session.commit()


def has_admin() -> bool:
    """Tell whether a person with the admin role exists (else the setup page is open)."""
    return db.session.scalar(
        select(User.id).where(User.type == UserType.USER, User.role == Role.ADMIN).limit(1)
    ) is not None


def ensure_first_admin(username: str | None, password: str | None) -> User | None:
    """Create the first admin from KAIRAN_ADMIN_USER/PASSWORD when no admin exists yet; return it, or None when
    they are unset, an admin exists, or another process created one meanwhile (several web machines starting)."""
    if not username or not password or has_admin():
        return None
    try:
        return create_user(username, password, Role.ADMIN)
    except KairanError as error:
        db.session.rollback()
        raise ValidationError(str(_l("KAIRAN_ADMIN_USER and KAIRAN_ADMIN_PASSWORD cannot make the first admin: "
                                     "%(reason)s", reason=error.message))) from None
    except IntegrityError:  # the same name, inserted by another process since has_admin() looked
        db.session.rollback()
        return None


def admin_exists() -> bool:
    """Tell whether an admin exists, first creating the one KAIRAN_ADMIN_USER/PASSWORD name when none does:
    with them set, no web machine ever offers the setup page, whoever comes first."""
    settings = current_app.config["KAIRAN"]
    return has_admin() or ensure_first_admin(settings.admin_user, settings.admin_password) is not None
