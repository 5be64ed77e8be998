"""Text normalisation for comparing lead values, and the email key used to recognise duplicates.

Values from forms, CRMs and partner files differ in ways a reader cannot see: full-width
letters, zero-width characters pasted from web pages, no-break spaces and case. Every
comparison in validation runs on the normalised form, never on the raw value.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Characters with no visible width that copy-paste leaves inside values: zero-width space,
# zero-width non-joiner, zero-width joiner, word joiner and the byte-order mark. The joiners
# carry meaning in some scripts and in emoji sequences, but not in the values compared here.
ZERO_WIDTH_CHARACTERS = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")

# No-break space, narrow no-break space and figure space. NFKC maps them to a plain space
# too; they are translated explicitly so the rule does not depend on NFKC alone.
NO_BREAK_SPACES = ("\u00a0", "\u202f", "\u2007")

_TRANSLATION = {ord(char): None for char in ZERO_WIDTH_CHARACTERS}
_TRANSLATION.update({ord(char): " " for char in NO_BREAK_SPACES})

_WHITESPACE = re.compile(r"\s+")
_LABEL_SEPARATORS = re.compile(r"[\s_\-/]+")
_NON_ALPHANUMERIC = re.compile(r"[^\w\s]+")

# Mailbox providers that ignore dots in the local part, so "a.b@gmail.com" and
# "ab@gmail.com" reach one inbox (Google documents this for Gmail addresses). Addresses at
# the alias domain are keyed under the canonical one. Other providers keep their dots.
DOT_INSENSITIVE_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}

# Separator of the plus-addressing tag ("name+tag@domain"), which most providers deliver to
# the untagged mailbox.
PLUS_TAG_SEPARATOR = "+"


def clean_text(value: str) -> str:
    """Remove invisible characters, apply NFKC and collapse whitespace, keeping case.

    Used where case matters for the check that follows (an email local part is checked
    for syntax as written), while hidden characters and width variants must not.
    """
    text = value.translate(_TRANSLATION)
    text = unicodedata.normalize("NFKC", text)
    return _WHITESPACE.sub(" ", text).strip()


def normalise_text(value: object) -> str:
    """Return the comparison form of a value: `clean_text` plus Unicode case folding.

    Case folding runs between two NFKC passes (the NFKC_Casefold form of Unicode caseless
    matching), so full-width capitals, ligatures and "ß" compare equal to their plain
    lower-case spellings. None becomes the empty string.
    """
    if value is None:
        return ""
    text = clean_text(str(value)).casefold()
    return unicodedata.normalize("NFKC", text)


def normalise_label(value: object) -> str:
    """Return the comparison form of a category label such as an industry or a role.

    Underscores, hyphens and slashes count as spaces, so "Financial_Services",
    "financial-services" and "Financial Services" are one label.
    """
    text = normalise_text(value)
    return _LABEL_SEPARATORS.sub(" ", text).strip()


def normalise_country_name(value: object) -> str:
    """Return the lookup form of a country name or code: a label without punctuation.

    "U.S.", "u.s" and "US" all become "us".
    """
    text = _NON_ALPHANUMERIC.sub("", normalise_text(value))
    return _LABEL_SEPARATORS.sub(" ", text).strip()


def is_blank(value: object) -> bool:
    """Return whether a lead value counts as missing: None, or text that normalises to ""."""
    if value is None:
        return True
    if isinstance(value, str):
        return normalise_text(value) == ""
    return False


def normalise_email(email: object) -> str | None:
    """Return the canonical address behind `email`, or None when it has no "local@domain" form.

    The address is cleaned and lower-cased. The plus-addressing tag is removed, and for
    providers that ignore dots (DOT_INSENSITIVE_DOMAINS) the dots of the local part are
    removed and the domain is mapped to its canonical name. The result identifies a mailbox
    for duplicate detection; it is not a deliverable or syntax-checked address.
    """
    if email is None:
        return None
    text = clean_text(str(email)).lower()
    local, separator, domain = text.rpartition("@")
    if not separator or not local or not domain:
        return None
    domain = domain.rstrip(".")
    local = local.split(PLUS_TAG_SEPARATOR, 1)[0]
    if domain in DOT_INSENSITIVE_DOMAINS:
        local = local.replace(".", "")
        domain = DOMAIN_ALIASES.get(domain, domain)
    if not local or not domain:
        return None
    return f"{local}@{domain}"


def email_key(email: object) -> str | None:
    """Return the SHA-256 hex digest of the canonical address, or None when there is none.

    Two records of one mailbox get the same key, so duplicates are found across weeks
    without the warehouse storing the address. The digest is unsalted, so anyone holding
    a candidate address can recompute it: treat keys as pseudonymised personal data.
    """
    canonical = normalise_email(email)
    if canonical is None:
        return None
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
