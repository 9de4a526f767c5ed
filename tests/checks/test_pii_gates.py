"""The pii engine's cheap gates (a recognizer is skipped on a text it cannot match) change no
result: each gated recognizer against itself ungated on Faker data in seven locales, and the
bounds against phonenumbers' own metadata and Presidio's own patterns."""

from __future__ import annotations

import re

import phonenumbers
import pytest

from riskaudit.checks.pii.engine import (DEFAULT_PHONE_REGIONS, Engine, count_digits, pattern_min_digits,
                                         phone_min_digits)

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")


def _corpus() -> list[str]:
    from faker import Faker

    texts: list[str] = []
    for i, loc in enumerate(LOCALES):
        fake = Faker(loc)
        fake.seed_instance(100 + i)
        for _ in range(25):
            name, phone = fake.name(), fake.phone_number()
            texts += [phone, fake.iban(), fake.credit_card_number(), fake.ssn(), fake.email(), fake.url(),
                      fake.ipv4(), fake.ipv6(), fake.mac_address(), fake.uuid4(), fake.date(),
                      fake.address().replace("\n", ", "), fake.sentence(),
                      f"Called {name} on {phone}; e-mail {fake.email()}.",
                      f"{name} lives at {fake.street_address()} since {fake.year()}."]
    # edge cases: the shortest valid numbers, other digit scripts, letters that a-z match under
    # IGNORECASE, a domain right after a dot, no digits at all
    texts += ["+500 12345", "Tel. 030 1234", "call 0301234", "ruf ０３０ １２３４５６７ an", "٠٣٠١٢٣٤٥٦٧",
              "see www.EXAMPLE.com", "visit https://ſite.com/x", "mail me: a@b.co", "no digits here.",
              "1.2.3", "3 cats", "12 34", "999", "A100000", "DE89 3704 0044 0532 0130 00", ""]
    return texts


@pytest.fixture(scope="module")
def engine():
    return Engine(None, "no model (gate test)")


@pytest.fixture(scope="module")
def corpus():
    return _corpus()


def _key(results):
    return sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in results or ())


@pytest.mark.parametrize("regex, expected", [
    (r"\d{3}-\d{4}", 7), (r"(?:\d{2}|ab)", 0), (r"[0-9]{2,5}x?", 2), (r"(?=\d{9})x", 0),
    (r"1[- ]?\d", 2), (r"\p{L}\d", 0), (r"[0-9a-f]{8}", 0), (r"(\d)\1", 1), (r"(?:\d\d){3,}|\d{4}", 4)])
def test_pattern_min_digits_reads_the_parse_tree(regex, expected):
    assert pattern_min_digits(regex) == expected


def test_every_gated_recognizer_finds_what_it_finds_ungated(engine, corpus):
    gated = [r for r in engine.analyzer.registry.recognizers if "analyze" in vars(r)]
    names = {r.name for r in gated}
    assert {"PhoneRecognizer", "CreditCardRecognizer", "IbanRecognizer", "UrlRecognizer", "EmailRecognizer"} <= names
    skipped = found = 0
    for rec in gated:
        for text in corpus:
            fast = rec.analyze(text, rec.supported_entities, None)
            slow = type(rec).analyze(rec, text, rec.supported_entities, None)
            assert _key(fast) == _key(slow), (rec.name, text)
            skipped += not fast and count_digits(text) < engine.min_digits[rec.name]
            found += bool(slow)
            for r in slow or ():  # the bound itself: every match holds that many digits
                assert count_digits(text[r.start:r.end]) >= engine.min_digits[rec.name], (rec.name, text)
    assert skipped > 100 and found > 100  # the corpus exercises both sides of the gates


def test_engine_results_equal_without_gates(corpus):
    gated, plain = Engine(None, "gated"), Engine(None, "plain")
    for rec in plain.analyzer.registry.recognizers:
        vars(rec).pop("analyze", None)  # back to the class's own analyze
    assert not any("analyze" in vars(r) for r in plain.analyzer.registry.recognizers)
    plain.min_digits = {}
    assert gated.analyze_texts(corpus) == plain.analyze_texts(corpus)
    values = [t for t in corpus if len(t) < 60]
    assert [gated.analyze_value(v) for v in values] == [plain.analyze_value(v) for v in values]
    assert sum(bool(s) for s in gated.analyze_texts(corpus)) > len(corpus) // 2


def test_phone_bound_is_below_phonenumbers_own_lengths_and_examples():
    from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

    need = phone_min_digits(DEFAULT_PHONE_REGIONS)
    assert need >= 1
    # the metadata's declared lengths (an independent field from the patterns read here)
    declared = [min(x for x in PhoneMetadata.metadata_for_region(r).general_desc.possible_length if x > 0)
                for r in DEFAULT_PHONE_REGIONS]
    assert need <= min(declared)
    # every country's shortest number with its calling code (the bound's "+" side is cruder)
    every = [PhoneMetadata.metadata_for_region(r) for r in phonenumbers.SUPPORTED_REGIONS]
    assert need <= min(len(str(md.country_code)) + min(x for x in md.general_desc.possible_length if x > 0)
                       for md in every)
    types = [t for t in vars(PhoneNumberType).values() if isinstance(t, int) and t != PhoneNumberType.UNKNOWN]
    for region in phonenumbers.SUPPORTED_REGIONS:
        for t in types:
            ex = phonenumbers.example_number_for_type(region, t)
            if ex is None:
                continue
            assert count_digits(phonenumbers.format_number(ex, PhoneNumberFormat.E164)) >= need, region
            if region in DEFAULT_PHONE_REGIONS:
                assert count_digits(phonenumbers.format_number(ex, PhoneNumberFormat.NATIONAL)) >= need, region


def test_url_and_email_patterns_need_what_their_gates_ask():
    from presidio_analyzer.predefined_recognizers import EmailRecognizer, UrlRecognizer

    for p in EmailRecognizer.PATTERNS:
        assert "[@]" in p.regex
    tld = re.compile(r"\[\.\]\(\?:\(\?:[a-z]+\)(?:\|\(\?:[a-z]+\))*\)")
    for p in UrlRecognizer.PATTERNS:
        # every URL pattern ends its host with "[.]" and a top-level domain made of letters only
        assert tld.search(p.regex), p.name
