"""Checks on single contact values, built on maintained libraries and cached per batch.

email-validator checks address syntax and domain form without network lookups,
phonenumbers checks numbers per country, and the disposable-email-domains blocklist names
throwaway mail domains. `ContactChecks` caches domain-level results, so a batch of tens of
thousands of leads on a few thousand domains runs each domain check once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

import email_validator
import phonenumbers
from disposable_email_domains import blocklist as DISPOSABLE_BLOCKLIST
from email_validator import EmailNotValidError, validate_email
from phonenumbers.geodata.locale import LOCALE_DATA

from cadence_pipeline.governance.normalise import (
    PLUS_TAG_SEPARATOR,
    normalise_country_name,
    normalise_text,
)

# Domains reserved for documentation (RFC 2606 and RFC 6761). email-validator accepts them
# on purpose, but an address on them in lead data is a placeholder.
DOCUMENTATION_DOMAINS = ("example", "example.com", "example.net", "example.org")

# Neutral domain substituted when checking the syntax of an address on a special-use domain,
# so that the syntax rule judges the local part and the domain rule judges the name.
_SYNTAX_PROBE_DOMAIN = "example.com"

# Keyboard rows for keyboard-mash detection, read forwards and backwards.
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")
_TRAILING_DIGITS = re.compile(r"[\d._\-]+$")


def _special_use_domains() -> tuple[str, ...]:
    # email-validator documents SPECIAL_USE_DOMAIN_NAMES as a module attribute callers may edit.
    return tuple(getattr(email_validator, "SPECIAL_USE_DOMAIN_NAMES", ()))


def domain_and_parents(domain: str) -> list[str]:
    """Return `domain` and each parent domain above the top-level domain, longest first.

    "a.b.example.org" gives ["a.b.example.org", "b.example.org", "example.org"].
    """
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(max(1, len(labels) - 1))]


def looks_like_keyboard_mash(value: str) -> bool:
    """Return whether a value is keyboard mash: one repeated character, a run along a
    keyboard row, or two characters alternating.

    Only letters and digits count. The thresholds (4 characters for a repeat or a row run,
    6 for an alternation) keep short real values such as "AAA" or "IT" out.
    """
    compact = _NOT_ALPHANUMERIC.sub("", normalise_text(value))
    if len(compact) < 4:
        return False
    if len(set(compact)) == 1:
        return True
    for row in _KEYBOARD_ROWS:
        if compact in row or compact in row[::-1]:
            return True
    if len(compact) >= 6 and len(set(compact)) == 2:
        return compact == (compact[:2] * len(compact))[: len(compact)]
    return False


@functools.cache
def _builtin_country_names() -> dict[str, str]:
    """Map country names in every language phonenumbers ships, and alpha-2 codes, to codes."""
    lookup: dict[str, str] = {}
    for code, names in LOCALE_DATA.items():
        lookup[normalise_country_name(code)] = code
        for name in names.values():
            resolved = _resolve_locale_name(names, name)
            if resolved:
                lookup.setdefault(normalise_country_name(resolved), code)
    return lookup


def _resolve_locale_name(names: Mapping[str, str], name: str) -> str | None:
    # A value "*xx" in phonenumbers' locale data refers to the name under language "xx".
    # One entry refers to itself, so the chain is followed a bounded number of steps.
    for _ in range(4):
        if not name.startswith("*"):
            return name
        name = names.get(name[1:], "")
    return None


class ContactChecks:
    """Value checks for one validation run, with lookups built from its configuration."""

    def __init__(
        self,
        *,
        country_aliases: Mapping[str, str],
        extra_disposable_domains: Iterable[str],
        free_email_domains: Iterable[str],
        placeholder_values: Iterable[str],
        default_phone_region: str,
        allowed_countries: Iterable[str] = (),
    ) -> None:
        region = default_phone_region.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"validation.default_phone_region {default_phone_region!r} is not a region "
                "phonenumbers knows; use an ISO 3166-1 alpha-2 code such as US or DE"
            )
        self.default_phone_region = region
        self._countries = dict(_builtin_country_names())
        for alias, code in country_aliases.items():
            if code.upper() not in LOCALE_DATA:
                raise ValueError(
                    f"validation.country_aliases maps {alias!r} to {code!r}, which is not an "
                    "ISO 3166-1 alpha-2 code; use a code such as US or GB"
                )
            self._countries[normalise_country_name(alias)] = code.upper()
        self._disposable = set(DISPOSABLE_BLOCKLIST) | {
            domain.strip().lower() for domain in extra_disposable_domains
        }
        self._allowed_countries = {code.strip().upper() for code in allowed_countries}
        self._free_mail = {domain.strip().lower() for domain in free_email_domains}
        self._placeholders = {normalise_text(value) for value in placeholder_values}
        self._special_use = _special_use_domains()
        self._syntax_cache: dict[str, bool] = {}
        self._domain_cache: dict[str, bool] = {}

    def country_code(self, value: object) -> str | None:
        """Return the ISO alpha-2 code of a country code or name, or None if unknown."""
        return self._countries.get(normalise_country_name(value))

    def country_allowed(self, country_code: str | None) -> bool:
        """Return whether a recognised country code is in the allowed countries."""
        return country_code is not None and country_code in self._allowed_countries

    def email_syntax_ok(self, email: str) -> bool:
        """Return whether an address is well-formed, leaving the domain's form aside.

        A special-use domain such as "localhost" is replaced by a neutral one first, and
        a domain without a dot passes here, because truth.email_domain judges those.
        """
        cached = self._syntax_cache.get(email)
        if cached is not None:
            return cached
        local, separator, domain = email.rpartition("@")
        probe = email
        if separator and self._is_special_use(domain.lower()):
            probe = f"{local}@{_SYNTAX_PROBE_DOMAIN}"
        try:
            validate_email(
                probe,
                check_deliverability=False,
                globally_deliverable=False,
                test_environment=True,
                allow_smtputf8=True,
                allow_quoted_local=False,
                allow_domain_literal=False,
                allow_display_name=False,
            )
            result = True
        except EmailNotValidError:
            result = False
        self._syntax_cache[email] = result
        return result

    def email_domain_ok(self, domain: str) -> bool:
        """Return whether a domain has the form of a public mail domain.

        email-validator requires a dot, a top-level domain ending in a letter and no
        special-use name (localhost, invalid, test, local, onion, arpa). On top, the
        top-level domain must be letters (or Punycode) and not a documentation domain.
        NOTE: the top-level domain is not checked against the IANA root zone list, because
        no dependency ships it offline, so "name@company.notatld" passes this rule.
        """
        cached = self._domain_cache.get(domain)
        if cached is not None:
            return cached
        result = self._check_domain(domain)
        self._domain_cache[domain] = result
        return result

    def _check_domain(self, domain: str) -> bool:
        try:
            validated = validate_email(
                f"postmaster@{domain}",
                check_deliverability=False,
                globally_deliverable=True,
                test_environment=False,
            )
        except EmailNotValidError:
            return False
        ascii_domain = validated.ascii_domain.lower()
        top_level = ascii_domain.rsplit(".", 1)[-1]
        if not (top_level.startswith("xn--") or (top_level.isalpha() and len(top_level) >= 2)):
            return False
        return not any(
            ascii_domain == reserved or ascii_domain.endswith("." + reserved)
            for reserved in DOCUMENTATION_DOMAINS
        )

    def _is_special_use(self, domain: str) -> bool:
        domain = domain.rstrip(".")
        return any(domain == name or domain.endswith("." + name) for name in self._special_use)

    def is_disposable(self, domain: str) -> bool:
        """Return whether a domain or one of its parent domains is a disposable mail domain."""
        return any(candidate in self._disposable for candidate in domain_and_parents(domain))

    def is_free_mail(self, domain: str) -> bool:
        """Return whether a domain or one of its parent domains is a configured free-mail one."""
        return any(candidate in self._free_mail for candidate in domain_and_parents(domain))

    def phone_ok(self, phone: str, country_code: str | None) -> bool:
        """Return whether a number parses and is a valid number.

        A number without a leading "+" and country calling code is read as a number of the
        lead's country, else of the default region.
        """
        region = country_code if country_code in phonenumbers.SUPPORTED_REGIONS else None
        try:
            number = phonenumbers.parse(phone, region or self.default_phone_region)
        except phonenumbers.NumberParseException:
            return False
        return phonenumbers.is_valid_number(number)

    def is_placeholder(self, value: str) -> bool:
        """Return whether a company, title or similar value is a placeholder or keyboard mash."""
        return normalise_text(value) in self._placeholders or looks_like_keyboard_mash(value)

    def is_placeholder_local_part(self, local_part: str) -> bool:
        """Return whether an email local part is a placeholder, ignoring a plus tag and a
        trailing number ("test+1", "test123" and "test" all are)."""
        local = normalise_text(local_part).split(PLUS_TAG_SEPARATOR, 1)[0]
        stripped = _TRAILING_DIGITS.sub("", local)
        candidates = {local, stripped} - {""}
        return any(c in self._placeholders for c in candidates) or looks_like_keyboard_mash(local)
