"""Text normalisation and the email key used for duplicate detection."""

from __future__ import annotations

import hashlib

import pytest

from cadence_pipeline.governance.normalise import (
    clean_text,
    email_key,
    is_blank,
    normalise_country_name,
    normalise_email,
    normalise_label,
    normalise_text,
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_full_width_letters_become_ascii() -> None:
    assert normalise_text("ＡＣＭＥ　Ｌｔｄ") == "acme ltd"


def test_zero_width_characters_removed() -> None:
    for char in ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"):
        assert normalise_text(f"Ac{char}me") == "acme", repr(char)


def test_no_break_spaces_become_spaces() -> None:
    for char in ("\u00a0", "\u202f", "\u2007"):
        assert normalise_text(f"Acme{char}Labs") == "acme labs", repr(char)


def test_whitespace_collapsed_and_trimmed() -> None:
    assert normalise_text("  Acme \t\n Labs  ") == "acme labs"


def test_case_folded() -> None:
    assert normalise_text("STRASSE") == normalise_text("straße")
    assert normalise_text("VP Marketing") == "vp marketing"


def test_none_is_empty_text() -> None:
    assert normalise_text(None) == ""


def test_clean_text_keeps_case() -> None:
    assert clean_text("\ufeffＯps\u200b.Team\u00a0") == "Ops.Team"


def test_label_separators_unified() -> None:
    assert normalise_label("Financial_Services") == "financial services"
    assert normalise_label("financial-services") == "financial services"
    assert normalise_label(" Financial  Services ") == "financial services"


def test_country_name_punctuation_dropped() -> None:
    assert normalise_country_name("U.S.") == "us"
    assert normalise_country_name("United\u00a0Kingdom") == "united kingdom"


@pytest.mark.parametrize("value", [None, "", "   ", "\u200b", "\u00a0\u200b "])
def test_blank_values(value: object) -> None:
    assert is_blank(value)


@pytest.mark.parametrize("value", ["x", False, 0, True])
def test_non_blank_values(value: object) -> None:
    assert not is_blank(value)


def test_email_lower_cased() -> None:
    assert normalise_email("Ops.Team@Brightfield.COM") == "ops.team@brightfield.com"


def test_email_plus_tag_removed() -> None:
    assert normalise_email("ops.team+promo@brightfield.com") == "ops.team@brightfield.com"


def test_email_gmail_dots_removed() -> None:
    assert normalise_email("o.p.s.team@gmail.com") == "opsteam@gmail.com"


def test_email_googlemail_maps_to_gmail() -> None:
    assert normalise_email("ops.team+x@googlemail.com") == "opsteam@gmail.com"


def test_email_dots_kept_for_other_providers() -> None:
    assert normalise_email("o.p.s@outlook.com") == "o.p.s@outlook.com"
    assert normalise_email("o.p.s@brightfield.com") == "o.p.s@brightfield.com"


def test_email_zero_width_space_inside_removed() -> None:
    assert normalise_email("ops\u200b.team@bright\u200bfield.com") == "ops.team@brightfield.com"


def test_email_full_width_and_no_break_space() -> None:
    assert normalise_email("\u00a0ＯＰＳ@brightfield.com\u00a0") == "ops@brightfield.com"


@pytest.mark.parametrize(
    "value", [None, "", "no-at-sign", "@brightfield.com", "ops@", "+tag@x.com"]
)
def test_email_without_address_form(value: str | None) -> None:
    assert normalise_email(value) is None
    assert email_key(value) is None


def test_email_key_is_sha256_of_canonical_address() -> None:
    assert email_key("Ops.Team+news@Brightfield.com") == sha256("ops.team@brightfield.com")


def test_email_key_equal_for_same_mailbox() -> None:
    keys = {
        email_key("first.last@gmail.com"),
        email_key("FirstLast+promo@gmail.com"),
        email_key("f.i.r.s.t.l.a.s.t@googlemail.com"),
        email_key("first\u200blast@ｇｍａｉｌ.com"),
    }
    assert keys == {sha256("firstlast@gmail.com")}


def test_email_key_differs_for_dotted_business_address() -> None:
    assert email_key("first.last@brightfield.com") != email_key("firstlast@brightfield.com")
