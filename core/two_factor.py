"""Two-factor login: a TOTP code (RFC 6238, as authenticator apps make them) after the password.

A person enrols on their account page by scanning a QR code and confirming one code; they then get
recovery codes, shown once and stored hashed, each usable once instead of a code. Codes are checked
against the app's clock (core.db.utcnow), and no code is taken twice.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from core import audit
from core.crypto import cipher
from core.db import db, utcnow
from core.models import RecoveryCode, User

RECOVERY_CODES = 10
# 16 characters from 31 unambiguous ones: ~79 random bits, so SHA-256 is enough to store them.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 16
# A code of the step before or after the current one works too: a phone's clock may be 30 s off.
DRIFT_STEPS = 1
_TOTP_CODE = re.compile(r"\d{6}")


def _secret(user: User) -> str:
    return cipher("totp").decrypt((user.totp_secret or "").encode()).decode()


def pending_secret(user: User) -> str:
    """Return the secret of the enrolment in progress, making one on the first visit (a reload keeps it)."""
    if user.totp_secret is None:
        user.totp_secret = cipher("totp").encrypt(pyotp.random_base32().encode()).decode()
        db.session.commit()
    return _secret(user)


def provisioning_qr(user: User, secret: str) -> str:
    """Return the otpauth:// URI of this secret as an inline SVG QR code, for an authenticator app to scan."""
    issuer = current_app.config["KAIRAN"].company_name or "Kairan"
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=issuer)
    # omitsize: a viewBox instead of a fixed size, so the stylesheet sizes it (kairan.css .qr)
    return str(segno.make(uri, error="m").svg_inline(omitsize=True, dark="#1f2933", light="#ffffff"))


def _totp_step(user: User, code: str) -> int | None:
    """Return the time step this code belongs to, within the allowed drift, or None."""
    totp = pyotp.TOTP(_secret(user))
    now = totp.timecode(utcnow())
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _take_totp(user: User, code: str) -> bool:
    step = _totp_step(user, code)
    if step is None:
        return False
    # Conditional, so two requests with one code cannot both pass: a code (and any older one) works once.
    taken = db.session.execute(
        update(User).where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
    )
    db.session.commit()
    return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


def _recovery_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _take_recovery_code(user: User, code: str) -> bool:
    taken = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _recovery_digest(code),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    db.session.commit()
    return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


def _normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def is_totp_code(code: str) -> bool:
    """Tell a code from the app (six digits) from a recovery code."""
    return bool(_TOTP_CODE.fullmatch(_normalise(code)))


def verify(user: User, code: str) -> bool:
    """Take a login code: a current TOTP code or an unused recovery code. Either works only once."""
    if not user.two_factor:
        return False
    code = _normalise(code)
    if is_totp_code(code):
        return _take_totp(user, code)
    return len(code) == RECOVERY_CODE_LENGTH and _take_recovery_code(user, code)


def confirm(user: User, code: str) -> list[str] | None:
    """Turn two-factor login on if the code matches the pending secret; return the new recovery codes, else None."""
    if user.two_factor or user.totp_secret is None or not _take_totp(user, _normalise(code)):
        return None
    user.two_factor_since = utcnow()
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
             for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_recovery_digest(code)) for code in codes)
    audit.record("two_factor.enabled", audit.user_target(user))
    db.session.commit()
    return [f"{code[:4]}-{code[4:8]}-{code[8:12]}-{code[12:]}" for code in codes]  # readable groups


def recovery_codes_left(user: User) -> int:
    """Count a user's unused recovery codes."""
    return db.session.scalar(
        select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ) or 0


def turn_off(user: User) -> None:
    """Turn two-factor login off and forget its secret and recovery codes."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.totp_secret = None
    user.two_factor_since = None
    user.totp_last_step = None
    audit.record("two_factor.disabled", audit.user_target(user))
    db.session.commit()


def required(user: User) -> bool:
    """Tell whether this person must enrol before going on (KAIRAN_REQUIRE_2FA_ADMINS, for admins)."""
    return bool(current_app.config["KAIRAN"].require_2fa_admins and user.role == "admin" and not user.two_factor)
