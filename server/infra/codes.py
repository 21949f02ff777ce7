"""Public case numbers: random, short, readable aloud and typed back without mistakes.

Crockford's base32 (no I, L, O, U), 12 characters = 60 random bits: numbers are not
sequential (they reveal neither how many reports came in nor their neighbours) and
cannot be guessed. Not a secret: the villager's private tracking link is separate.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_case_code() -> str:
    """A fresh random case number."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(text: str) -> str:
    """Turn what a person typed (dashes, spaces, lower case, O for 0) into a stored code."""
    return "".join(ch for ch in text.upper() if ch.isalnum()).translate(_READ_AS)


def display(code: str) -> str:
    """The code in groups of four, as printed: K7QM-3XPD-9R2A."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


# A village's QR token (what /q/<token> carries), 128 bits: a poster's URL cannot be
# guessed from another's.
QR_TOKEN_BYTES = 16


def new_token() -> str:
    """A fresh random token (22 URL-safe characters)."""
    return secrets.token_urlsafe(QR_TOKEN_BYTES)
