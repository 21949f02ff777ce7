"""Password hashing (argon2id), the password policy (MLPS level 3: length, 3 classes),
and the per-user secret every API token carries a digest of."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.infra.errors import ValidationFailed

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    """Hash `password` for storage."""
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether `password` matches `stored_hash` (False for a malformed hash)."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)


def check_policy(password: str) -> None:
    """Raise ValidationFailed unless the password is long and mixes three character classes."""
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if len(password) < MIN_LENGTH or classes < 3:
        raise ValidationFailed(
            f"密码至少{MIN_LENGTH}位，并包含大写字母、小写字母、数字、符号中的至少三类。",
            code="weak_password",
        )
    if _common(password):
        raise ValidationFailed("这个密码太常见，容易被猜中，请换一个。", code="common_password")


# Passwords that meet the rules above and are still among the first an attacker tries:
# keyboard walks, "password"/"admin"/"qwerty" with a year or a digit run, the demo's own.
_COMMON_STEMS = (
    "password",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "admin",
    "qwerty",
    "qwer",
    "asdf",
    "zxcv",
    "abc",
    "welcome",
    "iloveyou",
    "letmein",
    "demo",
    "test",
    "woaini",
    "aa",
    "1q2w3e",
    "1qaz2wsx",
)


def _common(password: str) -> bool:
    """Whether `password` is a common stem plus digits and symbols (Admin@123, Demo@2026,
    P@ssw0rd2024!, 1qaz@WSX...)."""
    lowered = password.lower()
    core = lowered.strip("0123456789!@#$%^&*._-+=?~")
    return core in _COMMON_STEMS or lowered.replace("@", "").replace("!", "") in {
        "1qaz2wsx",
        "1qazwsx",
        "1qaz2wsx3edc",
        "qwer1234",
        "asdf1234",
        "zxcv1234",
    }


def rotate_token_secret(user) -> None:
    """A new token secret: every API token issued to `user` before stops working (a
    password change, a reset, a sign-out)."""
    user.token_secret = secrets.token_hex(16)


# Letters and digits that cannot be misread on paper (no 0/O, 1/l/I).
_READABLE = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def one_time() -> str:
    """A first password handed to a new user on paper, changed at the first sign-in:
    three groups of four readable characters (e.g. `Kx7m-P2qd-9Wz4`), within the policy."""
    while True:
        groups = ["".join(secrets.choice(_READABLE) for _ in range(4)) for _ in range(3)]
        password = "-".join(groups)
        if any(c.isupper() for c in password) and any(c.isdigit() for c in password):
            return password
