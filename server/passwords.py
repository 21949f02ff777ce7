"""Password hashing (argon2id) and the password policy (MLPS level 3: length, 3 classes)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.errors import ValidationFailed

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
