"""Sessions of people who log in.

Flask keeps a session in the browser's signed cookie, so the server cannot delete one. Each session
instead carries its user's session token (User.get_id), which the user loader checks: a new token
ends every session that holds the old one.
"""

from __future__ import annotations

import hmac

from flask_login import current_user, login_user, logout_user

from core import audit
from core.db import db, utcnow
from core.models import User, UserType, new_session_token


def log_in(user: User) -> None:
    """Start a session for a user whose password (and code, with two-factor login) was right."""
    user.last_login_at = utcnow()
    audit.record("login.succeeded", audit.user_target(user), actor=audit.as_user(user))
    db.session.commit()
    login_user(user)


def log_out() -> None:
    """End the current session, and with it every session of this user (an old cookie no longer works)."""
    if current_user.is_authenticated:
        current_user.session_token = new_session_token()
        audit.record("user.logged_out", audit.user_target(current_user))
        db.session.commit()
    logout_user()


def end_other_sessions(user: User) -> None:
    """End every session of a user except the current one, when it is theirs (after a password change)."""
    user.session_token = new_session_token()
    db.session.commit()
    if current_user.is_authenticated and current_user.id == user.id:
        login_user(user)  # this session takes the new token


def user_from_session(session_id: str) -> User | None:
    """Return the enabled person whose id and current session token this session holds, else None."""
    user_id, _sep, token = session_id.partition(":")
    user = db.session.get(User, int(user_id)) if user_id.isdigit() and token else None
    if user is None or user.type != UserType.USER or not user.enabled:
        return None
    if not hmac.compare_digest(user.session_token.encode(), token.encode()):
        return None
    return user
