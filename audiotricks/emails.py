"""Email addresses: the one normalised form they are stored, compared and looked up in.

:func:`normalise_email` is the only place that decides it; registration stores its result, and
login, ``find_user`` and the ``flask users`` commands look addresses up through
:func:`email_lookup_keys`, which uses it. The form is what ``email-validator`` returns as
``normalized`` (no DNS lookups), lower-cased:

- the local part (before the ``@``) is Unicode NFC, so the composed and decomposed spellings of
  ``josé`` are one address; it is *not* folded further (NFKC): full-width letters (U+FF41 and
  on) stay distinct from ASCII ones. The receiving server owns the local part, and
  compatibility folding could merge two real mailboxes and send one user's mail (a reset link)
  to another's;
- the domain is stored in Unicode (``bücher.de``): the IDNA ASCII spelling ``xn--bcher-kva.de`` and
  full-width letters are mapped to it (UTS-46, the same mapping DNS resolution applies);
- the local part is at most 64 characters (RFC 5321), the whole address at most 254.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

EMAIL_MAX = 254
LOCAL_PART_MAX = 64


class InvalidEmail(ValueError):
    """Not an address the service accepts; the message is safe to show (it quotes no value)."""


def normalise_email(value: str) -> str:
    """The stored form of ``value``; InvalidEmail when it is not a valid address."""
    trimmed = value.strip()
    if len(trimmed) > EMAIL_MAX:
        raise InvalidEmail(f"Must be at most {EMAIL_MAX} characters.")
    try:
        validated = validate_email(trimmed, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidEmail("Not a valid email address.") from None
    # Lower-casing can change a character's composition (İ becomes i + a combining dot): NFC again.
    normalised = unicodedata.normalize("NFC", validated.normalized.lower())
    local_part = normalised.rpartition("@")[0]
    if len(local_part) > LOCAL_PART_MAX:
        raise InvalidEmail(f"The part before the @ must be at most {LOCAL_PART_MAX} characters.")
    if len(normalised) > EMAIL_MAX:
        raise InvalidEmail(f"Must be at most {EMAIL_MAX} characters.")
    return normalised


def email_lookup_keys(value: str) -> tuple[str, ...]:
    """The stored values an address typed at login can match, the most exact first.

    Normally just the normalised form. Rows stored before normalisation existed that the upgrade
    had to leave as they were (their normalised form was taken by another row, or they are not
    valid under today's rules) are stored trimmed and lower-cased: that spelling is tried first,
    so each of two such colliding accounts is still found by the spelling it registered with.
    """
    legacy = value.strip().lower()
    try:
        normalised = normalise_email(value)
    except InvalidEmail:
        return (legacy,)
    return (legacy,) if normalised == legacy else (legacy, normalised)
