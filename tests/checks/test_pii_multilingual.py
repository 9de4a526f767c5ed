"""pii beyond en_US: identifiers stored as numbers, text in other languages, national ids.

Oracles: python-stdnum's validators for every national id (independent of Presidio's and
riskaudit's code), Luhn from python-stdnum for card numbers, pandas for shares; valid ids
from Faker's generators or from stdnum by completing a random number with the check digit
stdnum accepts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskaudit.checks.pii import PiiChecker
from riskaudit.checks.pii.countries import sg_nric_valid
from riskaudit.checks.pii.scanner import classify, engine_for
from riskaudit.result import Status
from riskaudit.testing import run_check

N = 400


def _fake(locale="en_US", seed=5):
    from faker import Faker

    f = Faker(locale)
    f.seed_instance(seed)
    return f


@pytest.fixture(scope="module")
def engine():
    return engine_for(PiiChecker.validate_options({}), None)


def _scan(frame, **opts):
    cfg = PiiChecker.validate_options(opts)
    return {c["column"]: c for c in classify(frame, cfg, engine_for(cfg, None), np.random.default_rng(0))}


# -- identifiers stored as numbers ------------------------------------------------------------
def _cards(n, seed=5):
    f = _fake(seed=seed)
    out = []
    while len(out) < n:
        num = f.credit_card_number(str(f.random_element(["visa16", "mastercard", "amex", "discover"])))
        out.append(int(num))
    return out


def test_numeric_card_and_phone_columns_are_flagged():
    from stdnum import luhn

    cards = _cards(N)
    f = _fake("en_US", 9)
    phones = [int("".join(c for c in f.msisdn() if c.isdigit())) for _ in range(N)]
    gappy = pd.Series([float(c) if i % 10 else np.nan for i, c in enumerate(cards)])
    frame = pd.DataFrame({"col_a": np.array(cards, dtype=np.int64), "card_number": cards,
                          "with_gaps": gappy, "phone": np.array(phones, dtype=np.int64),
                          "ean": [int(_fake(seed=i).ean13()) for i in range(N)],
                          "count": np.arange(N, dtype=np.int64) * 7919,
                          "price": np.round(np.linspace(1, 500, N), 2)})
    assert frame["col_a"].dtype == np.int64 and frame["with_gaps"].dtype == np.float64
    got = _scan(frame)
    oracle = np.mean([luhn.is_valid(str(c)) for c in cards])
    assert oracle == 1.0
    for col in ("col_a", "card_number", "with_gaps"):
        assert got[col]["entity"] == "CREDIT_CARD", (col, got.get(col))
        # the sample is all of the column here: the share is the Luhn-valid share (stdnum)
        assert got[col]["share"] == pytest.approx(oracle, abs=0.02)
    assert got["phone"]["entity"] == "PHONE_NUMBER"
    # look-alikes: EAN-13 codes (one in ten passes Luhn), counts, prices
    for col in ("ean", "count", "price"):
        assert col not in got, got.get(col)


def test_a_minority_of_emails_is_a_finding_with_its_share():
    f = _fake(seed=3)
    rng = np.random.default_rng(1)
    is_mail = rng.random(N) < 0.2
    values = [f.email() if m else f.word() for m in is_mail]
    frame = pd.DataFrame({"comment_tag": values, "n": np.arange(N)})
    res = run_check(PiiChecker, data=frame)
    (fd,) = [x for x in res.findings if x.subject == "comment_tag"]
    oracle = pd.Series(values).str.contains("@").mean()
    assert 0.1 < oracle < 0.3
    assert fd.value == pytest.approx(oracle, abs=1e-9)
    assert fd.status == Status.FAIL  # the policy (fail above 1%) decides, not a 30% share rule
    assert fd.evidence["entity_shares"]["EMAIL_ADDRESS"] == pytest.approx(oracle, abs=1e-4)


@pytest.mark.parametrize("locale,region", [("en_GB", "GB"), ("de_DE", "DE"), ("fr_FR", "FR"), ("es_ES", "ES")])
def test_a_minority_of_phones_names_and_addresses_is_a_finding_with_its_share(locale, region):
    """The share rule holds for every type, not only precise ones: ~20% of the rows hold the
    entity, the rest are ordinary words; the finding carries the share and the policy fails it."""
    import phonenumbers

    f = _fake(locale, 31)
    rng = np.random.default_rng(31)
    n = 1000
    planted = rng.random(n) < 0.2
    phones = [f.phone_number() for _ in range(n)]
    frame = pd.DataFrame({
        "tag_a": [p if m else f.word() for p, m in zip(phones, planted)],
        "tag_b": [f.name() if m else f.word().capitalize() for m in planted],
        "tag_c": [f.street_address() if m else f.word() for m in planted],
    })
    res = run_check(PiiChecker, data=frame, policy={"name": "t", "checks": {"pii": {"options": {"sample_size": n}}}})
    got = {x.subject: x for x in res.findings if x.kind == "pii_detected"}
    share = float(planted.mean())
    assert 0.15 < share < 0.25
    # oracle for phones: the planted values phonenumbers itself calls valid numbers of the
    # region, written as phone numbers (a bare run of digits is no evidence: ids, timestamps)
    valid = np.array([m and not p.isdigit() and any(True for _ in phonenumbers.PhoneNumberMatcher(p, region))
                      for p, m in zip(phones, planted)])
    for col, ent, least in (("tag_a", "PHONE_NUMBER", 0.8 * valid.mean()),
                            ("tag_b", "PERSON", 0.6 * share), ("tag_c", "STREET_ADDRESS", 0.4 * share)):
        fd = got[col]
        assert fd.status == Status.FAIL  # the policy (fail above 1%) decides, not a 30% share rule
        found = fd.evidence["entity_shares"][ent]
        assert least <= found <= share + 1e-9, (col, found, share)  # no word counted
        assert fd.value == pytest.approx(found, abs=1e-4)
        assert "%" in fd.message and "0." not in fd.message.split("(")[1].split(";")[0]
        assert {"PHONE_NUMBER": "phone numbers", "PERSON": "person names",
                "STREET_ADDRESS": "street addresses"}[ent] in fd.message and ent not in fd.message


def test_dates_of_birth_stored_as_dates_are_considered():
    f = _fake(seed=4)
    frame = pd.DataFrame({"birth_date": pd.to_datetime([f.date_of_birth() for _ in range(N)])})
    got = _scan(frame)
    assert got["birth_date"]["entity"] == "DATE_OF_BIRTH"


# -- free text in other languages ----------------------------------------------------------------
GERMAN_CLEAN = [
    "Die Lieferung kam wegen des schlechten Wetters zwei Tage zu spät an.",
    "Der Kunde war mit der Qualität der Verpackung sehr zufrieden.",
    "Die Rücksendung wurde geprüft und der Betrag wird erstattet.",
    "Der Akku hält kürzer als angegeben, etwa vier Stunden.",
    "Das Lager im Nordflügel bleibt wegen der Inventur geschlossen.",
    "Bitte starten Sie den Router neu und prüfen Sie das Kabel.",
    "Die Rechnung für den Monat März liegt der Buchhaltung vor.",
    "Unser Kundendienst beantwortet Fragen zu Versand und Zahlung.",
    "Der Drucker im Büro braucht neue Patronen und Papier.",
    "Die Schrauben passen nicht zur beschriebenen Halterung.",
    "Nach dem Update startet die Anwendung deutlich schneller.",
    "Der Termin für die Wartung wurde auf nächste Woche verschoben.",
    "Die Farbe des Stoffes weicht vom Bild im Katalog ab.",
    "Im Sommer steigt die Nachfrage nach Gartenmöbeln stark an.",
    "Die Bedienungsanleitung fehlt im Karton, bitte nachsenden.",
]
FRENCH_CLEAN = [
    "Le colis est arrivé avec deux jours de retard à cause de la météo.",
    "La qualité de l'emballage était bonne et le produit fonctionne bien.",
    "Le remboursement a été traité après le retour de l'article.",
    "La batterie tient moins longtemps que prévu, environ quatre heures.",
    "L'entrepôt de Lyon est fermé pour l'inventaire annuel.",
    "Merci de redémarrer le routeur et de vérifier le câble.",
    "La facture du mois de mars a été envoyée au service comptable.",
    "Notre service client répond aux questions sur la livraison.",
    "Les vis ne correspondent pas au support décrit dans la notice.",
    "Après la mise à jour, l'application démarre plus vite.",
    "La couleur du tissu diffère de la photo du catalogue.",
    "La demande de meubles de jardin augmente fortement en été.",
    "Le magasin de Bordeaux ouvre ses portes le dimanche matin.",
    "La réunion de l'équipe est reportée à la semaine prochaine.",
    "Le mode d'emploi manque dans le carton, merci de l'envoyer.",
]


@pytest.mark.parametrize("lang,texts", [("de", GERMAN_CLEAN), ("fr", FRENCH_CLEAN)])
def test_german_and_french_sentences_without_personal_data_are_not_flagged(lang, texts):
    frame = pd.DataFrame({"notes": texts * 8})
    got = _scan(frame)
    assert got["notes"]["language"] == lang
    assert got["notes"]["rows_with_pii"] == 0, got["notes"]["evidence"]
    res = run_check(PiiChecker, data=frame)
    assert not [x for x in res.findings if x.subject == "notes"]


def test_french_names_use_the_french_pipeline_and_german_says_detection_is_limited():
    fr = pd.DataFrame({"notes": [f"Le client {n} a appelé pour sa commande." for n in
                                 ("Véronique Lefèvre", "Jean-Baptiste Morel", "Aurélie Dubois",
                                  "François Girard", "Hélène Fontaine")] * 6})
    got = _scan(fr)["notes"]
    assert got["language"] == "fr"
    assert "fr_core_news" in got["evidence"]["name_detection"]
    assert got["evidence"]["entity_counts"].get("PERSON", 0) >= 25
    de = pd.DataFrame({"notes": [f"Frau {n} hat wegen ihrer Bestellung angerufen." for n in
                                 ("Jana Förster", "Jürgen Müller", "Käthe Schröder",
                                  "Uwe Schmidt", "Bärbel Wagner")] * 6})
    got = _scan(de)["notes"]
    assert got["language"] == "de"
    assert "limited" in got["evidence"]["name_detection"] and "German" in got["evidence"]["name_detection"]
    assert got["evidence"]["entity_counts"].get("PERSON", 0) >= 24  # the lexicon, accents included


# -- national identifiers ----------------------------------------------------------------------------
def _complete(validator, stem_digits, seed, prefix="", suffix_alphabet="0123456789"):
    """A random number completed with the check character ``validator`` accepts."""
    rng = np.random.default_rng(seed)
    for _ in range(500):
        stem = prefix + "".join(str(d) for d in rng.integers(0, 10, stem_digits))
        for c in suffix_alphabet:
            if validator(stem + c):
                return stem + c
    raise AssertionError("no valid number found")


def _break(value, validator):
    """``value`` with its last character changed so that ``validator`` rejects it."""
    alphabet = "0123456789" if value[-1].isdigit() else "ABCDEFGHJKLMNPQRSTVWXYZ"
    for c in alphabet:
        bad = value[:-1] + c
        if c != value[-1] and not validator(bad):
            return bad
    raise AssertionError(value)


def _ids():
    from stdnum import luhn  # stdnum is the oracle throughout
    from stdnum.au import tfn
    from stdnum.de import idnr
    from stdnum.es import dni, nie
    from stdnum.fr import nir
    from stdnum.gb import nhs
    from stdnum.in_ import aadhaar, pan
    from stdnum.it import codicefiscale
    from stdnum.nl import bsn

    es, it, fr, nl = _fake("es_ES"), _fake("it_IT"), _fake("fr_FR"), _fake("nl_NL")
    return [
        ("ES_NIF", es.nif(), dni.is_valid, "DNI"),
        ("ES_NIE", es.nie(), nie.is_valid, "NIE"),
        ("IT_FISCAL_CODE", it.ssn(), codicefiscale.is_valid, "codice fiscale"),
        ("FR_INSEE", fr.ssn(), nir.is_valid, "numéro de sécurité sociale"),
        ("NL_BSN", nl.ssn(), bsn.is_valid, "BSN"),
        ("UK_NHS", _complete(nhs.is_valid, 8, 1, prefix="4"), nhs.is_valid, "NHS number"),
        ("DE_TAX_ID", _complete(idnr.is_valid, 10, 2, prefix=""), idnr.is_valid, "Steuer-IdNr"),
        ("IN_AADHAAR", _complete(aadhaar.is_valid, 11, 4, prefix=""), aadhaar.is_valid, "Aadhaar"),
        ("AU_TFN", _complete(tfn.is_valid, 8, 3), tfn.is_valid, "TFN"),
        # published example numbers (no check digit in these two formats: the format is the test)
        ("IN_PAN", "ABCPE1234F", pan.is_valid, "PAN"),
        ("SG_NRIC_FIN", "S1234567D", sg_nric_valid, "NRIC"),
        # the M series (foreigners from 2022): its own offset and letter table
        ("SG_NRIC_FIN", _complete(_ica_m_series_valid, 7, 5, prefix="M",
                                  suffix_alphabet="KLJNPQRTUWX"), _ica_m_series_valid, "FIN"),
        # a 12-digit Maestro card (issuer prefix 6759), Luhn from stdnum
        ("CREDIT_CARD", _complete(luhn.is_valid, 7, 6, prefix="6759"), luhn.is_valid, "card"),
    ]


def _ica_m_series_valid(value: str) -> bool:
    """ICA's published rule for M-series FINs, written as Singapore's FormSG writes it (an
    oracle independent of riskaudit's table): weights 2,7,6,5,4,3,2 plus 3, remainder r,
    check letter "KLJNPQRTUWX"[10 - r]."""
    if len(value) != 9 or value[0] != "M" or not value[1:8].isdigit():
        return False
    r = (3 + sum(int(d) * w for d, w in zip(value[1:8], (2, 7, 6, 5, 4, 3, 2)))) % 11
    return value[8] == "KLJNPQRTUWX"[10 - r]


def test_m_series_fin_uses_its_own_letter_table():
    # remainder 8 is where the M table differs from the F/G one (J instead of M)
    assert _ica_m_series_valid("M0000008J") and sg_nric_valid("M0000008J")
    assert not _ica_m_series_valid("M0000008M") and not sg_nric_valid("M0000008M")
    assert sg_nric_valid("F0000004M") and not sg_nric_valid("F0000004J")
    rng = np.random.default_rng(3)
    for digits in rng.integers(0, 10**7, 300):
        for letter in "KLJNPQRTUWX":
            fin = f"M{digits:07d}{letter}"
            assert sg_nric_valid(fin) == _ica_m_series_valid(fin)


@pytest.mark.parametrize("entity,valid,validator,word", _ids(), ids=lambda x: x if isinstance(x, str) else "")
def test_each_national_id_is_recognised_and_a_checksum_invalid_one_rejected(engine, entity, valid,
                                                                             validator, word):
    assert validator(valid), (entity, valid)  # the oracle agrees the example is valid
    if entity == "IN_PAN":
        bad = "ABCXE1234F"  # 4th letter names no holder type
    else:
        bad = _break(valid, validator)
    assert not validator(bad)
    assert entity in {s.entity for s in engine.analyze_value(valid)}
    assert entity not in {s.entity for s in engine.analyze_value(bad)}
    text_ok, text_bad = (f"Please update the {word} {v} in the file." for v in (valid, bad))
    spans_ok, spans_bad = engine.analyze_texts([text_ok, text_bad])
    assert entity in {s.entity for s in spans_ok}, (text_ok, spans_ok)
    assert entity not in {s.entity for s in spans_bad}


def test_an_italian_fiscal_code_column_and_addresses_are_their_own_types():
    it = _fake("it_IT", 8)
    de = _fake("de_DE", 8)
    frame = pd.DataFrame({"codice": [it.ssn() for _ in range(N)],
                          "anschrift": [de.street_address() for _ in range(N)],
                          "indirizzo": [it.street_address() for _ in range(N)]})
    got = _scan(frame)
    assert got["codice"]["entity"] == "IT_FISCAL_CODE"
    assert got["anschrift"]["entity"] == "STREET_ADDRESS"
    assert got["indirizzo"]["entity"] == "STREET_ADDRESS"


@pytest.mark.parametrize("locale", ["fr_FR", "de_DE", "es_ES", "en_US", "it_IT"])
def test_look_alike_columns_hold_no_personal_data(locale):
    f = _fake(locale, 13)
    rng = np.random.default_rng(13)
    frame = pd.DataFrame({
        "isbn": [f.isbn13() for _ in range(N)], "ean": [f.ean13() for _ in range(N)],
        "sku": [f.bothify("SKU-??-#####").upper() for _ in range(N)],
        "version": [f"{a}.{b}.{c}" for a, b, c in rng.integers(0, 30, (N, 3))],
        "sha1": [f.sha1() for _ in range(N)], "uuid": [f.uuid4() for _ in range(N)],
        "coordinates": [f"{f.latitude()}, {f.longitude()}" for _ in range(N)],
        "price": [f"{p:.2f} €" for p in rng.uniform(1, 999, N)],
        "plate": [f.license_plate() for _ in range(N)], "city": [f.city() for _ in range(N)],
        "isbn10": [f.isbn10() for _ in range(N)], "company": [f.company() for _ in range(N)],
        "country": [f.country() for _ in range(N)], "street_name": [f.street_name() for _ in range(N)],
        "latitude": rng.uniform(-90, 90, N), "ean_int": [int(f.ean13()) for _ in range(N)],
    })
    got = _scan(frame)
    assert got == {}, {c: (v["entity"], v["share"]) for c, v in got.items()}


def test_numeric_card_numbers_never_reach_the_report_unmasked(tmp_path):
    """Cards read from CSV as int64 are personal data for every checker: data_validity's
    outlier examples show them masked."""
    from helpers import run_cli

    cards = _cards(300, seed=21)
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"acct": cards, "amount": rng.normal(100, 10, 300).round(2),
                          "label": rng.integers(0, 2, 300)})
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    assert pd.read_csv(path)["acct"].dtype == np.int64
    out = tmp_path / "r"
    proc = run_cli("scan", "--data", str(path), "--target", "label", "--check", "pii",
                   "--check", "data_validity", "--out", str(out), "--format", "json", timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    text = (out / "report.json").read_text()
    import json

    report = json.loads(text)
    (pii,) = [c for c in report["checks"] if c["id"] == "pii"]
    assert any(f["subject"] == "acct" for f in pii["findings"])
    assert not [c for c in cards if str(c) in text]


def test_a_minority_of_card_numbers_is_found_and_ean_codes_are_not():
    from stdnum import luhn

    f = _fake(seed=17)
    cards = [str(c) for c in _cards(N, seed=17)]
    rng = np.random.default_rng(17)
    mixed = [cards[i] if rng.random() < 0.15 else f.word() for i in range(N)]
    eans = [f.ean13() for _ in range(N)]
    got = _scan(pd.DataFrame({"ref": mixed, "code": eans}))
    oracle = np.mean([v.isdigit() and luhn.is_valid(v) for v in mixed])
    assert 0.05 < oracle < 0.3
    assert got["ref"]["entity"] == "CREDIT_CARD" and got["ref"]["share"] == pytest.approx(oracle, abs=1e-4)
    # EANs: about one in ten passes Luhn by chance, as the oracle shows: not a card column
    assert 0.0 < np.mean([luhn.is_valid(e) for e in eans]) < 0.2
    assert "code" not in got


def test_dates_written_day_month_year_are_not_phone_numbers(engine):
    f = _fake("nl_NL", 23)
    dates = [f.date_of_birth().strftime("%d-%m-%Y") for _ in range(N)]
    got = _scan(pd.DataFrame({"c8": dates}))
    assert "c8" not in got  # a bare date is nobody's
    # phonenumbers takes about 3 in 10 of these for Dutch numbers; none is reported
    assert not [d for d in dates if "PHONE_NUMBER" in {s.entity for s in engine.analyze_value(d)}]
    assert "PHONE_NUMBER" in {s.entity for s in engine.analyze_value("+31 20 123 4567")}


def test_numeric_ids_and_timestamps_are_not_phone_numbers():
    rng = np.random.default_rng(29)
    ids10 = rng.integers(10**9, 10**10, N)
    frame = pd.DataFrame({"customer_id": np.arange(2_000_000_000, 2_000_000_000 + N),
                          "rand9": rng.integers(10**8, 10**9, N), "rand10": ids10,
                          "ts_ms": rng.integers(1_600_000_000_000, 1_700_000_000_000, N),
                          "order_ref": ids10.astype(str)})
    assert _scan(frame) == {}
    # the same digits under a phone column's name are phone numbers
    assert _scan(pd.DataFrame({"mobile": ids10}))["mobile"]["entity"] == "PHONE_NUMBER"


# -- quasi-identifiers ---------------------------------------------------------------------------------
def test_a_standardized_age_is_binned_before_k_anonymity_on_real_data():
    """scikit-learn's diabetes data: age and sex are standardized (fractions). Taken exactly,
    a third of the records sit in classes below k (a false alarm); binned into ten bins
    they are compared the way anyone could look a person up. The integer ages of the raw
    data are used as they are. Oracle: pandas' qcut and groupby."""
    from sklearn.datasets import load_diabetes

    from riskaudit.checks.pii.kanon import CONTINUOUS_BINS

    scaled = load_diabetes(as_frame=True, scaled=True).frame
    assert not np.all(np.mod(scaled["age"], 1) == 0)
    res = run_check(PiiChecker, data=scaled, policy={"name": "t"})
    (fd,) = [f for f in res.findings if f.kind == "reidentification_risk"]
    assert fd.evidence["quasi_identifiers"] == ["age", "sex"]
    assert fd.evidence["treatment"]["age"] == f"in {CONTINUOUS_BINS} equal-frequency bins"
    assert fd.evidence["treatment"]["sex"] == "exact values"
    assert f"age (in {CONTINUOUS_BINS} equal-frequency bins)" in fd.message and "0." not in fd.message
    deciles = pd.qcut(scaled["age"].rank(method="min"), CONTINUOUS_BINS, labels=False, duplicates="drop")
    sizes = scaled.groupby([deciles, scaled["sex"]])["age"].transform("size")
    assert fd.value == pytest.approx(float((sizes < 5).mean()), abs=1e-12)
    exact = scaled.groupby(["age", "sex"])["age"].transform("size")
    assert float((exact < 5).mean()) > 0.2 and fd.value < 0.05  # the false alarm the bins remove
    raw = load_diabetes(as_frame=True, scaled=False).frame
    res = run_check(PiiChecker, data=raw, policy={"name": "t"})
    (fd,) = [f for f in res.findings if f.kind == "reidentification_risk"]
    assert fd.evidence["treatment"] == {"age": "exact values", "sex": "exact values"}
    sizes = raw.groupby(["age", "sex"])["age"].transform("size")
    assert fd.value == pytest.approx(float((sizes < 5).mean()), abs=1e-12)


@pytest.mark.parametrize("locale,empty,template", [
    ("de_DE", "kein Kommentar", "Rückruf an {name}, {phone}"),
    ("en_GB", "no comment", "call back {name} on {phone}"),
    ("fr_FR", "sans commentaire", "rappeler {name} au {phone}"),
])
def test_sentences_among_short_values_are_searched_as_free_text(locale, empty, template):
    """Most rows are a two-word remark, a quarter a short sentence naming someone: the column
    is not free text by its median, yet its sentences are searched (in their language)."""
    f = _fake(locale, 41)
    rng = np.random.default_rng(41)
    n = 800
    planted = rng.random(n) < 0.25
    frame = pd.DataFrame({"remark": [template.format(name=f.name(), phone=f.phone_number()) if p else empty
                                     for p in planted],
                          "company": [f.company() for _ in range(n)], "job": [f.job() for _ in range(n)]})
    got = _scan(frame)
    fd = got["remark"]
    assert fd["kind"] == "free_text" and fd["language"] == locale[:2]
    share = float(planted.mean())  # oracle: the planted rows (pandas)
    assert 0.8 * share <= fd["share"] <= share + 1e-9
    assert fd["evidence"]["entity_counts"]["PERSON"] >= 0.8 * planted.sum()
    assert fd["evidence"]["sentence_rows"] == int(planted.sum()) and fd["evidence"]["rows_scanned"] == n
    # names of firms are no sentences; job titles may be, and hold next to no personal data
    # (French spaCy calls "Marine Nationale" a person: 2 rows in 800)
    assert "company" not in got and got.get("job", {"share": 0.0})["share"] <= 0.01


# -- names in English sentences ------------------------------------------------------------------------
UNKNOWN_NAMES = ["Kazuo Ishiguro", "Chinua Achebe", "Wole Soyinka", "Arundhati Roy", "Haruki Murakami",
                 "Ngugi Thiongo", "Yiyun Li", "Tsitsi Dangarembga", "Jhumpa Lahiri", "Ocean Vuong"]


def test_names_the_lexicon_does_not_know_are_found_from_context_in_english(engine):
    """Names from outside the lexicon's source (public authors, not Faker) next to a word that
    announces a person; the same context words around things that are not people stay clean."""
    from riskaudit.checks.pii.columns import name_lexicon

    first, last = name_lexicon(None)
    unknown = [n for n in UNKNOWN_NAMES if not (n.split()[0].lower() in first and n.split()[-1].lower() in last)]
    assert len(unknown) >= 8  # the oracle: the lexicon alone cannot find these
    templates = ["Please call {} about the delivery.", "Customer {} asked for a refund.",
                 "The account holder {} said the card was lost."]
    texts = [t.format(n) for n in unknown for t in templates]
    found = [any(s.entity == "PERSON" and n in t[s.start:s.end + 1] or
                 (s.entity == "PERSON" and t[s.start:s.end] in n) for s in ss)
             for t, n, ss in zip(texts, [n for n in unknown for _ in templates], engine.analyze_texts(texts))]
    # oracle: spaCy's own pipeline; every name it calls a person beside a context word is kept
    # (the lexicon's confirmation used to drop them all), and the small English model finds most
    import spacy

    assert engine.model is not None
    nlp = spacy.load(engine.model)
    by_spacy = [any(e.label_ == "PERSON" and (e.text in n or n in e.text) for e in doc.ents)
                for doc, n in zip(nlp.pipe(texts), [n for n in unknown for _ in templates])]
    assert [t for t, f, sp in zip(texts, found, by_spacy) if sp and not f] == []
    assert np.mean(found) >= 0.6, [t for t, f in zip(texts, found) if not f]
    clean = ["Please call the Help Desk about the Coffee Grinder.", "Customer Service asked for the March figures.",
             "The account holder said the Premium Plan was too expensive.", "She visited Manchester and Leeds."]
    assert [t for t, ss in zip(clean, engine.analyze_texts(clean)) if any(s.entity == "PERSON" for s in ss)] == []


def test_full_scan_keeps_a_minority_share_from_validated_values():
    """--full measures a majority type's share by its shape over every row; a minority's
    shape is shared by the other values (any capitalised word is name-shaped), so its
    validated share stands instead of 100%."""
    f = _fake("en_GB", 43)
    rng = np.random.default_rng(43)
    planted = rng.random(N) < 0.2
    frame = pd.DataFrame({"tag": [f.name() if p else f.word().capitalize() for p in planted]})
    got = _scan(frame, full=True)["tag"]
    assert got["entity"] == "PERSON" and 0.6 * planted.mean() <= got["share"] <= planted.mean() + 1e-9


@pytest.mark.parametrize("k", [5, 30])
def test_anonymize_measures_and_generalizes_a_standardized_age_as_the_checker_does(k):
    """riskaudit anonymize on the same real data: its 'before' figure is the checker's, and
    what it writes passes the checker's k-anonymity (k=30 forces the age into its bins)."""
    from sklearn.datasets import load_diabetes

    from riskaudit.anonymize import anonymize_frame

    scaled = load_diabetes(as_frame=True, scaled=True).frame
    policy = {"name": "t", "checks": {"pii": {"options": {"k": k}}}}
    (before,) = [f for f in run_check(PiiChecker, data=scaled, policy=policy).findings
                 if f.kind == "reidentification_risk"]
    cfg = PiiChecker.validate_options({"k": k})
    out, res = anonymize_frame(scaled, cfg)
    assert res.kanon_before is not None and res.kanon_after is not None
    assert res.kanon_before["share_below_k"] == pytest.approx(before.value, abs=1e-12)
    (after,) = [f for f in run_check(PiiChecker, data=out, policy=policy).findings
                if f.kind == "reidentification_risk"]
    assert after.value == pytest.approx(res.kanon_after["share_below_k"], abs=1e-12)
    assert after.value <= cfg["max_suppression"]
    if k == 30:  # the ages became at most ten ranges, each holding the original value
        binned = out["age"][out["age"] != "*"]
        assert 0 < binned.nunique() <= 10 and len(binned) > 0.9 * len(out)
        lo_hi = binned.str.split(" to ", expand=True).astype(float)
        orig = scaled["age"][binned.index]
        # labels are rounded to 3 significant digits
        assert ((lo_hi[0] <= orig + 5e-3 * orig.abs()) & (orig - 5e-3 * orig.abs() <= lo_hi[1])).all()


def test_infinite_or_huge_continuous_quasi_identifiers_bin_without_error():
    rng = np.random.default_rng(47)
    n = 300
    for age in (np.r_[rng.normal(size=n - 2), np.inf, -np.inf], rng.normal(size=n) * 1e300):
        frame = pd.DataFrame({"age": age, "sex": rng.integers(0, 2, n)})
        res = run_check(PiiChecker, data=frame, policy={"name": "t"})
        assert res.status != Status.ERROR, res.summary
        (fd,) = [f for f in res.findings if f.kind == "reidentification_risk"]
        sizes = frame.groupby([pd.qcut(frame["age"].rank(method="min"), 10, labels=False), frame["sex"]])["age"]
        assert fd.value == pytest.approx(float((sizes.transform("size") < 5).mean()), abs=1e-12)


@pytest.mark.parametrize("entity,valid,validator,word", _ids(), ids=lambda x: x if isinstance(x, str) else "")
def test_the_report_masker_masks_each_national_id_without_a_context_word(engine, entity, valid,
                                                                          validator, word):
    """A report shows values of columns the pii checker did not mark (an unexpected category,
    an outlier's row): an id there has no context word, and a format-only id (IN PAN, UK
    NINO) only its format's score. The masker applies a column value's id rules to it."""
    from riskaudit.masking import ReportMasker

    masker = ReportMasker(engine_factory=lambda: engine, names=False)
    sentence = f"value {valid} is not among the expected categories"
    got = masker.value({"message": sentence, "examples": [valid]})
    assert valid not in got["message"] and valid not in got["examples"][0], (entity, got)
    assert got["message"].startswith("value ") and got["message"].endswith(" is not among the expected categories")


def test_the_report_masker_masks_uk_national_insurance_numbers_in_any_spacing(engine):
    from riskaudit.masking import ReportMasker

    masker = ReportMasker(engine_factory=lambda: engine, names=False)
    ninos = ["AB 12 34 56 C", "JG103825A", "JG 103825 A"]
    got = masker.value([f"row {n} unexpected" for n in ninos] + ninos)
    assert not any(n in g for n in ninos for g in got), got
    # report sentences with figures and names of things stay as they are
    plain = ["p-value 0.003 on 1,000,000 rows (2026-12-04)", "model v2.13.0, torch 2.13.0",
             "share 12.5% in group F", "feature s1 drifted (PSI 0.21)"]
    assert masker.value(plain) == plain
