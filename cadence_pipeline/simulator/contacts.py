"""Fake contact data for simulated leads: clean records, and records that break one named rule.

No person names are generated. Email local parts are role words plus a unique token, on
invented company domains with real top-level domains. Clean emails pass
`email_validator.validate_email(..., check_deliverability=False)`, and clean phone numbers
are valid for their country according to `phonenumbers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import phonenumbers
from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS

# Failure kinds a simulated lead can carry. Each breaks one validation rule family:
# compliance (consent, opt-out, country), truth (email form, disposable domain, phone,
# placeholder, duplicate) or value (B2B business domain, company size).
FAILURE_KINDS = (
    "bad_email",
    "disposable_email",
    "missing_consent",
    "opted_out",
    "blocked_country",
    "bad_phone",
    "placeholder",
    "duplicate",
    "free_mail",
    "small_company",
)
# Kinds that need B2B fields (company, employees, business domain rule).
B2B_ONLY_KINDS = frozenset({"placeholder", "free_mail", "small_company"})

COUNTRY_WEIGHTS = {
    "US": 0.45,
    "GB": 0.15,
    "DE": 0.12,
    "FR": 0.07,
    "NL": 0.06,
    "CA": 0.08,
    "AU": 0.07,
}
BLOCKED_COUNTRY = "CN"
_TLDS = {
    "US": ".com",
    "GB": ".co.uk",
    "DE": ".de",
    "FR": ".fr",
    "NL": ".nl",
    "CA": ".ca",
    "AU": ".com.au",
}
_NAME_PREFIXES = (
    "bright",
    "north",
    "blue",
    "iron",
    "silver",
    "clear",
    "summit",
    "harbor",
    "cedar",
    "quanta",
    "granite",
    "maple",
    "orbit",
    "vertex",
    "lumen",
    "atlas",
    "copper",
    "delta",
    "ember",
    "fjord",
    "juniper",
    "kestrel",
    "meridian",
    "nimbus",
)
_NAME_SUFFIXES = (
    "field",
    "stone",
    "wave",
    "point",
    "bridge",
    "works",
    "line",
    "gate",
    "peak",
    "forge",
    "crest",
    "vale",
)
_COMPANY_KINDS = (
    "Analytics",
    "Systems",
    "Logistics",
    "Labs",
    "Health",
    "Foods",
    "Capital",
    "Robotics",
    "Software",
    "Energy",
    "Materials",
    "Retail",
)
_INDUSTRIES = (
    "software",
    "manufacturing",
    "healthcare",
    "financial_services",
    "retail",
    "logistics",
    "energy",
    "education",
)
_TITLES = (
    "Head of Operations",
    "IT Manager",
    "Procurement Lead",
    "VP Marketing",
    "Data Engineer",
    "Chief Financial Officer",
    "Operations Analyst",
    "Security Architect",
)
_ROLE_WORDS = ("ops", "it", "procurement", "marketing", "finance", "growth", "data", "security")
_CONSUMER_DOMAINS = (
    "tidewaterhome.net",
    "lanternpost.com",
    "quillbox.io",
    "harborinbox.com",
    "meadowmail.net",
    "pinecrestfamily.org",
)
_FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com")
_DISPOSABLE = tuple(
    d
    for d in ("mailinator.com", "yopmail.com", "guerrillamail.com", "10minutemail.com")
    if d in DISPOSABLE_DOMAINS
)
_PLACEHOLDERS = ("test", "asdf", "n/a", "xxx")


@dataclass(frozen=True)
class Account:
    """An invented B2B company that leads belong to."""

    account_id: str
    company: str
    domain: str
    industry: str
    employees: int
    country: str


def _phone_pool(region: str, size: int) -> list[str]:
    """Return valid E.164 mobile numbers for `region`, varied from the library's example."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    pool: list[str] = []
    for suffix in range(10_000):
        candidate = national[:-4] + f"{(suffix * 37) % 10_000:04d}"
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            pool.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        if len(pool) >= size:
            break
    return pool


class ContactFactory:
    """Creates contact fields for simulated leads from one seeded random generator."""

    def __init__(self, rng: np.random.Generator, accounts: int) -> None:
        self.rng = rng
        self.phones = {
            region: _phone_pool(region, 40) for region in (*COUNTRY_WEIGHTS, BLOCKED_COUNTRY)
        }
        self.countries = list(COUNTRY_WEIGHTS)
        weights = np.array(list(COUNTRY_WEIGHTS.values()))
        self.country_weights = weights / weights.sum()
        self.accounts = self._make_accounts(accounts)
        # Zipf-like account weights: a few large accounts produce many leads.
        ranks = np.arange(1, len(self.accounts) + 1)
        account_weights = 1.0 / ranks**0.6
        self.account_weights = account_weights / account_weights.sum()
        self._issued: list[str] = []
        self._counter = 0

    def _make_accounts(self, count: int) -> list[Account]:
        accounts: list[Account] = []
        used: set[str] = set()
        while len(accounts) < count:
            prefix = _NAME_PREFIXES[self.rng.integers(len(_NAME_PREFIXES))]
            suffix = _NAME_SUFFIXES[self.rng.integers(len(_NAME_SUFFIXES))]
            kind = _COMPANY_KINDS[self.rng.integers(len(_COMPANY_KINDS))]
            stem = f"{prefix}{suffix}{kind.lower()}"
            if stem in used:
                continue
            used.add(stem)
            country = self.countries[self.rng.choice(len(self.countries), p=self.country_weights)]
            domain = stem + _TLDS[country]
            if domain in DISPOSABLE_DOMAINS:
                continue
            accounts.append(
                Account(
                    account_id=f"ACCT-{len(accounts) + 1:05d}",
                    company=f"{prefix.title()}{suffix} {kind}",
                    domain=domain,
                    industry=_INDUSTRIES[self.rng.integers(len(_INDUSTRIES))],
                    employees=int(np.clip(self.rng.lognormal(5.0, 1.3), 12, 60_000)),
                    country=country,
                )
            )
        return accounts

    def _token(self) -> str:
        self._counter += 1
        return f"{np.base_repr(self._counter, 36).lower()}{self.rng.integers(36 * 36):03d}"

    def _pick(self, values: tuple[str, ...] | list[str]) -> str:
        return values[int(self.rng.integers(len(values)))]

    def _phone(self, country: str) -> str:
        return self._pick(self.phones[country])

    def _duplicate_of(self) -> str | None:
        """Return an earlier clean email restyled (case, plus-addressing), or None if none yet."""
        if not self._issued:
            return None
        email = self._pick(self._issued)
        local, _, domain = email.partition("@")
        if self.rng.random() < 0.5:
            return f"{local.upper()}@{domain}"
        return f"{local}+{self._pick(('promo', 'news', 'event'))}@{domain}"

    def b2b(self, failure: str | None) -> dict[str, Any]:
        """Return B2B contact fields that pass every rule, or break the one named by `failure`."""
        account = self.accounts[self.rng.choice(len(self.accounts), p=self.account_weights)]
        email = f"{self._pick(_ROLE_WORDS)}.{self._token()}@{account.domain}"
        fields: dict[str, Any] = {
            "email": email,
            "phone": self._phone(account.country),
            "country": account.country,
            "company": account.company,
            "industry": account.industry,
            "employees": account.employees,
            "title": self._pick(_TITLES),
            "email_opt_out": False,
            "consent": True,
            "account_id": account.account_id,
        }
        self._apply_failure(fields, failure, email)
        return fields

    def b2c(self, failure: str | None) -> dict[str, Any]:
        """Return B2C contact fields (no company data) that pass, or break `failure`."""
        country = self.countries[self.rng.choice(len(self.countries), p=self.country_weights)]
        email = f"member.{self._token()}@{self._pick(_CONSUMER_DOMAINS)}"
        fields: dict[str, Any] = {
            "email": email,
            "phone": self._phone(country),
            "country": country,
            "email_opt_out": False,
            "consent": True,
        }
        self._apply_failure(fields, failure, email)
        return fields

    def _apply_failure(self, fields: dict[str, Any], failure: str | None, email: str) -> None:
        local, _, domain = email.partition("@")
        if failure == "duplicate":
            duplicate = self._duplicate_of()
            # NOTE: the very first lead of a run cannot be a duplicate; it breaks consent instead.
            if duplicate is None:
                failure = "missing_consent"
            else:
                fields["email"] = duplicate
                return
        if failure is None:
            self._issued.append(email)
        elif failure == "bad_email":
            stem = domain.split(".")[0]
            fields["email"] = f"{local}.{domain}" if self.rng.random() < 0.5 else f"{local}@{stem}"
        elif failure == "disposable_email":
            fields["email"] = f"{local}@{self._pick(_DISPOSABLE)}"
        elif failure == "missing_consent":
            fields["consent"] = False
        elif failure == "opted_out":
            fields["email_opt_out"] = True
        elif failure == "blocked_country":
            fields["country"] = BLOCKED_COUNTRY
            fields["phone"] = self._phone(BLOCKED_COUNTRY)
        elif failure == "bad_phone":
            fields["phone"] = self._pick(("12345", "+1 555 01", "000000"))
        elif failure == "placeholder":
            fields["company"] = self._pick(_PLACEHOLDERS)
        elif failure == "free_mail":
            fields["email"] = f"{local}@{self._pick(_FREE_MAIL)}"
        elif failure == "small_company":
            fields["employees"] = int(self.rng.integers(1, 10))
        else:
            raise ValueError(f"unknown failure kind {failure!r}; expected one of {FAILURE_KINDS}")
