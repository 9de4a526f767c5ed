"""What a column's name means, what its values look like, and the column verdict."""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

# Column-name meanings: normalized name (lower snake case) -> entity type.
_NAME_ALIASES = {
    "EMAIL_ADDRESS": ["email", "e_mail", "mail", "email_address", "emailaddress", "mail_address",
                      "email_addr", "contact_email", "user_email", "courriel", "correo",
                      "correo_electronico", "posta_elettronica", "e_mail_adresse", "mailadres"],
    "PHONE_NUMBER": ["phone", "phone_number", "phonenumber", "telephone", "tel", "mobile",
                     "mobile_number", "cell", "cellphone", "cell_phone", "msisdn", "phone_no",
                     "contact_number", "fax", "telefon", "telefonnummer", "handy", "telephone",
                     "portable", "telefono", "movil", "cellulare", "telefoon", "telefoonnummer",
                     "mobiel"],
    "PERSON": ["name", "full_name", "fullname", "first_name", "firstname", "given_name",
               "givenname", "forename", "last_name", "lastname", "surname", "family_name",
               "familyname", "middle_name", "customer_name", "patient_name", "person",
               "person_name", "client_name", "employee_name", "applicant_name", "user_name_full",
               "maiden_name", "nombre", "vorname", "nachname", "prenom", "nom", "nom_complet",
               "apellido", "apellidos", "nome", "cognome", "naam", "voornaam", "achternaam"],
    "DATE_OF_BIRTH": ["dob", "d_o_b", "birth_date", "birthdate", "date_of_birth", "birthday",
                      "born", "born_on", "geburtsdatum", "birth_dt", "bday", "date_naissance",
                      "date_de_naissance", "fecha_nacimiento", "fecha_de_nacimiento",
                      "data_nascita", "data_di_nascita", "geboortedatum"],
    "US_SSN": ["ssn", "social_security", "social_security_number", "ssn_number", "sin",
               "national_id", "nino", "tax_id", "tin", "steuer_id", "steueridentifikationsnummer",
               "numero_insee", "insee", "nir", "nif", "nie", "dni", "codice_fiscale", "bsn",
               "burgerservicenummer", "aadhaar", "tfn", "nric"],
    "CREDIT_CARD": ["credit_card", "creditcard", "card_number", "cardnumber", "cc_number",
                    "ccn", "card_no", "pan", "cc", "kreditkarte", "kartennummer", "numero_carte",
                    "carte_bancaire", "tarjeta", "numero_tarjeta", "carta", "carta_di_credito",
                    "kaartnummer", "creditcard_nummer"],
    "IBAN_CODE": ["iban", "bank_account", "account_number", "iban_code", "bank_account_number"],
    "IP_ADDRESS": ["ip", "ip_address", "ipaddress", "ipv4", "ipv6", "client_ip", "remote_addr",
                   "source_ip", "src_ip", "ip_addr"],
    "STREET_ADDRESS": ["address", "street", "street_address", "home_address", "address_line",
                       "address_line_1", "address1", "addr", "mailing_address", "adresse",
                       "anschrift", "strasse", "direccion", "domicilio", "indirizzo", "adres",
                       "straat"],
    "US_PASSPORT": ["passport", "passport_number", "passport_no"],
    "US_DRIVER_LICENSE": ["driver_license", "drivers_license", "driving_licence", "licence_number",
                          "license_number", "dl_number"],
}
NAME_MEANING = {alias: ent for ent, aliases in _NAME_ALIASES.items() for alias in aliases}
# "product_name" is not a person.
_NOT_PERSON = {"product", "file", "company", "brand", "item", "category", "host", "display",
               "column", "feature", "model", "org", "organization", "business", "street", "city",
               "country", "app", "domain", "table", "field", "class", "label", "project", "team",
               "store", "shop", "event", "dataset", "device", "server", "service", "sku", "vendor",
               "merchant", "bank", "school", "state", "region", "user", "account", "group"}

# Quasi-identifier kinds from names.
_QI_ALIASES = {
    "postcode": ["postcode", "post_code", "zip", "zipcode", "zip_code", "postal_code", "postalcode",
                 "plz", "zip5", "postcode_prefix"],
    "date": ["dob", "birth_date", "birthdate", "date_of_birth", "birthday", "birth_year",
             "year_of_birth", "yob"],
    "age": ["age", "age_years", "age_band", "age_group", "agegroup", "age_range"],
    "sex": ["sex", "gender", "geschlecht"],
    "category": ["race", "ethnicity", "marital_status", "nationality", "city", "county", "town",
                 "zip3", "occupation", "religion", "neighborhood", "neighbourhood", "district", "borough",
                 "census_tract"],
    # where a person was (a stop, a home, a claim): compared in equal-frequency bins
    "coordinate": ["lat", "latitude", "lon", "long", "lng", "longitude", "geo_lat", "geo_lon", "geo_lng",
                   "gps_lat", "gps_lon", "gps_lng", "x_coord", "y_coord"],
}
QI_MEANING = {alias: kind for kind, aliases in _QI_ALIASES.items() for alias in aliases}

STRONG_VALUE_ENTITIES = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD",
                                   "IBAN_CODE", "IP_ADDRESS", "PERSON", "UK_NHS", "CRYPTO",
                                   "MAC_ADDRESS", "UK_NINO", "US_ITIN", "US_PASSPORT",
                                   "ES_NIF", "ES_NIE", "IT_FISCAL_CODE", "DE_TAX_ID", "FR_INSEE",
                                   "IN_AADHAAR", "IN_PAN", "AU_TFN", "SG_NRIC_FIN", "NL_BSN",
                                   "STREET_ADDRESS"})
# The share rule: a column is reported with the share of its values holding each entity
# type whenever any value holds one, and the policy judges the share (20% e-mails is a
# finding). What "holds one" needs depends on how often a value that is not one passes:
# - precise types (a format of their own and a check that 1 random value in 97 or fewer
#   passes): from one value on;
# - check-digit types that 1 value in about 10 of their length passes (Luhn, the eleven
#   test): below `min_share`, when at least half of the column's values of that length
#   pass (five times chance; a column of EAN codes or 9-digit ids passes ~10%);
# - the other types (phones, names, addresses, dates of birth, format-only ids): below
#   `min_share`, from `min_count` distinct values on, each passing its validator (a phone is not a
#   valid ISBN/EAN and has a '+', separators or a phone-like column name; a name is a known
#   first name and a known family name unless the column's name says it holds names; a
#   date of birth needs a column named for it).
PRECISE_VALUE_ENTITIES = frozenset({"EMAIL_ADDRESS", "IBAN_CODE", "FR_INSEE", "IT_FISCAL_CODE",
                                    "CRYPTO", "MAC_ADDRESS"})
CHECKSUM_DIGITS = {"CREDIT_CARD": (12, 19), "UK_NHS": (10, 10), "AU_TFN": (8, 9),
                   "IN_AADHAAR": (12, 12), "DE_TAX_ID": (11, 11), "NL_BSN": (8, 9),
                   "ES_NIF": (7, 8), "ES_NIE": (7, 8)}
_CHECKSUM_MIN_SHAPED = 5
MIN_COUNT = 5
"""Values a chance-prone type needs below ``min_share`` (policy option ``min_count``)."""

# Fast full-column checks for --full (vectorized regexes; the sample chose the type).
FAST_PATTERNS = {
    "EMAIL_ADDRESS": r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}",
    "PHONE_NUMBER": r"[+(]?[\d][\d\s().\-x+]{6,}\d",
    "US_SSN": r"\d{3}[- .]?\d{2}[- .]?\d{4}",
    "CREDIT_CARD": r"[\d][\d\s\-]{10,22}\d",
    "IBAN_CODE": r"[A-Z]{2}\d{2}[A-Z0-9 ]{10,32}",
    "IP_ADDRESS": r"(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f:]{2,39}:[0-9A-Fa-f:]*",
    "PERSON": r"(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.? )?[A-Z][a-zA-Z'\-]+(?: [A-Z]\.?)?(?: [A-Z][a-zA-Z'\-]+){0,3}(?: (?:Jr|Sr|II|III|IV|MD|PhD|DDS|DVM)\.?)?",  # noqa: E501
    "DATE_OF_BIRTH": r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2} [A-Za-z]{3,9} \d{4}|[A-Za-z]{3,9} \d{1,2},? \d{4}",  # noqa: E501
    "STREET_ADDRESS": r"\d{1,6}\s+[A-Za-z0-9 .'\-]+.*",
}
# Values compatible with a name meaning (shape only): a hashed or replaced column is not.
COMPATIBLE = {ent: re.compile(rf"^(?:{pat})$") for ent, pat in FAST_PATTERNS.items()}
COMPATIBLE["US_PASSPORT"] = re.compile(r"^[A-Z0-9]{6,9}$")
COMPATIBLE["US_DRIVER_LICENSE"] = re.compile(r"^[A-Z0-9\-]{5,15}$")


def normalize_name(name: Any) -> str:
    import unicodedata

    text = "".join(c for c in unicodedata.normalize("NFKD", str(name)) if not unicodedata.combining(c))
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def name_meaning(name: Any) -> str | None:
    """Entity type a column name announces (``first_name`` -> PERSON), or None."""
    norm = normalize_name(name)
    if norm in NAME_MEANING:
        return NAME_MEANING[norm]
    tokens = norm.split("_")
    for n in (3, 2, 1):
        if len(tokens) >= n:
            tail = "_".join(tokens[-n:])
            if tail in NAME_MEANING:
                ent = NAME_MEANING[tail]
                if ent == "PERSON" and tail == "name" and len(tokens) > 1 and tokens[-2] in _NOT_PERSON:
                    return None
                if len(tail) <= 3 and n == 1 and len(tokens) > 1:
                    continue  # "cc", "tel", "ip" only as the whole name or a prefix
                return ent
    if tokens and (tokens[0] in ("email", "phone", "ssn", "iban", "dob")
                   or (len(tokens[0]) >= 5 and NAME_MEANING.get(tokens[0]) not in (None, "PERSON"))):
        return NAME_MEANING[tokens[0]]
    return None


def qi_meaning(name: Any) -> str | None:
    """Quasi-identifier kind of a column name (postcode, date, age, sex, category, coordinate)
    or None."""
    norm = normalize_name(name)
    if norm in QI_MEANING:
        return QI_MEANING[norm]
    tokens = norm.split("_")
    for tok in tokens:
        if tok in ("postcode", "zip", "zipcode", "plz"):
            return "postcode"
        if tok in ("dob", "birthdate", "birthday"):
            return "date"
        if tok in ("sex", "gender"):
            return "sex"
        if tok in ("latitude", "longitude"):
            return "coordinate"
    if tokens and tokens[0] == "age":
        return "age"
    return None


# Faker's person providers per language (the name lexicon; offline).
LEXICON_LOCALES = {
    "en": ("en_US", "en_GB", "en_IE", "en_CA", "en_AU", "en_NZ", "en_IN"),
    "de": ("de_DE", "de_AT", "de_CH"), "fr": ("fr_FR", "fr_CH", "fr_CA", "fr_BE"),
    "es": ("es_ES", "es_MX", "es_AR", "es_CO", "es_CL"), "it": ("it_IT",),
    "nl": ("nl_NL", "nl_BE"), "pl": ("pl_PL",), "pt": ("pt_PT", "pt_BR"), "sv": ("sv_SE",),
    "da": ("da_DK",), "no": ("no_NO",), "fi": ("fi_FI",), "cs": ("cs_CZ",), "sk": ("sk_SK",),
    "hu": ("hu_HU",), "ro": ("ro_RO",), "hr": ("hr_HR",), "sl": ("sl_SI",), "tr": ("tr_TR",),
    "el": ("el_GR",), "ru": ("ru_RU",), "uk": ("uk_UA",), "bg": ("bg_BG",), "lt": ("lt_LT",),
    "lv": ("lv_LV",), "et": ("et_EE",),
}


@functools.lru_cache(maxsize=16)
def name_lexicon(language: str | None = None) -> tuple[frozenset[str], frozenset[str]]:
    """First and last names from Faker's locales (offline), lower case: those of
    ``language`` and English, or of every listed language when None."""
    first: set[str] = set()
    last: set[str] = set()
    import importlib

    if language is None:
        locales = [loc for locs in LEXICON_LOCALES.values() for loc in locs]
    else:
        locales = list(LEXICON_LOCALES.get(language, ())) + list(LEXICON_LOCALES["en"])
    for loc in locales:
        try:
            mod = importlib.import_module(f"faker.providers.person.{loc}")
        except ImportError:
            continue
        prov = mod.Provider
        for attr, into in (("first_names", first), ("first_names_female", first),
                           ("first_names_male", first), ("last_names", last)):
            v = getattr(prov, attr, None)
            if isinstance(v, (list, tuple, set, frozenset, dict)):  # some are properties
                into.update(str(x).lower() for x in v)
    return frozenset(first), frozenset(last)


# A name in any script: one to five words of letters (hyphen, apostrophe), particles
# ("van", "de", "di") allowed in lower case; no digits or other signs.
_NAME_WORD = r"[^\W\d_]+(?:[-'’][^\W\d_]+)*\.?"
_NAME_SHAPE = re.compile(rf"^{_NAME_WORD}(?:\s{_NAME_WORD}){{0,4}}$")
_TITLES = frozenset(("mr", "mrs", "ms", "miss", "dr", "prof", "jr", "sr", "ii", "iii", "iv", "md",
                     "phd", "dds", "dvm", "herr", "frau", "mme", "mlle", "sra", "dhr", "mevr"))
_PARTICLES = frozenset(("van", "von", "de", "der", "den", "di", "da", "del", "della", "le", "la", "du",
                        "des", "dos", "das", "y", "zu", "ten", "ter", "mac", "bin", "al"))


def name_tokens(value: str) -> list[str] | None:
    """The name parts of ``value`` (lower case; titles and particles dropped) when it is
    shaped like a person's name with capitalised parts, else None."""
    v = value.strip()
    if not v or len(v) > 80 or not _NAME_SHAPE.match(v):
        return None
    toks = []
    for t in v.split():
        low = t.strip(".").lower()
        if low in _TITLES or low in _PARTICLES:
            continue
        if t[0].islower():
            return None  # "desk lamp", "version alpha"
        toks.append(low)
    return toks or None


def looks_like_person(value: str, strict: bool = False) -> bool:
    """Known first or last names (Faker's lists for every language). ``strict``: a known
    first name followed by a family name, as a column without a name-like title needs
    (a city named after a family, "Boyer", is not a person)."""
    toks = name_tokens(value)
    if not toks:
        return False
    first, last = name_lexicon()
    if strict:  # a known first name and a family name (known or not: "Angela Merkel"), not a
        # company or a street named after someone ("Allen Group", "Amy Haven")
        return len(toks) >= 2 and toks[0] in first and (toks[-1] in last or len(toks) <= 3) \
            and not _org_or_place(value)
    if len(toks) == 1:
        return toks[0] in first or toks[0] in last
    return toks[0] in first or toks[-1] in last


@functools.lru_cache(maxsize=1)
def not_name_words() -> frozenset[str]:
    """Words that end company and street names ("Allen Group", "Amy Keys", "Gotthard KG"):
    Faker's company and street suffixes of the lexicon's languages, lower case (offline)."""
    import importlib

    words: set[str] = {"and", "und", "et", "y", "e", "en", "&", "co", "corp", "company", "partners"}
    for loc in (loc for locs in LEXICON_LOCALES.values() for loc in locs):
        for kind, attrs in (("company", ("company_suffixes",)), ("address", ("street_suffixes",))):
            try:
                prov = importlib.import_module(f"faker.providers.{kind}.{loc}").Provider
            except ImportError:
                continue
            for attr in attrs:
                v = getattr(prov, attr, None)
                if isinstance(v, (list, tuple, set, frozenset, dict)):
                    words.update(w.lower().strip(".") for x in v for w in str(x).split())
    return frozenset(words)


@functools.lru_cache(maxsize=1)
def street_words() -> frozenset[str]:
    """Words that start or end street names ("Calle", "boulevard", "Via", "Street"): Faker's
    street prefixes and suffixes of the lexicon's languages, lower case, first names left out."""
    import importlib

    words: set[str] = set()
    for loc in (loc for locs in LEXICON_LOCALES.values() for loc in locs):
        try:
            prov = importlib.import_module(f"faker.providers.address.{loc}").Provider
        except ImportError:
            continue
        for attr in ("street_prefixes", "street_suffixes", "street_suffixes_long", "street_titles"):
            v = getattr(prov, attr, None)
            if isinstance(v, (list, tuple, set, frozenset, dict)):
                words.update(str(x).lower().strip(".") for x in v if " " not in str(x).strip())
    first, _ = name_lexicon()
    return frozenset(w for w in words if len(w) >= 2 and w not in first)


def street_like(value: str) -> bool:
    """A street's name: its first or last word is a street word ("Cuesta de Eufemia Bastida",
    "boulevard Christophe Seguin", "Jenna Plains")."""
    words = [w.strip(".,").lower() for w in value.split()]
    return len(words) >= 2 and (words[0] in street_words() or words[-1] in street_words())


def _org_or_place(value: str) -> bool:
    """A company or street named after someone: a word after the first is a company or
    street suffix ("Allen Group", "Amy Haven"; "Lane Smith" stays a name)."""
    return bool({w.strip(".,").lower() for w in value.split()[1:]} & not_name_words())


def known_full_name(value: str) -> bool:
    """Two to four name parts, the first a known first name, the last a known family name, and
    no word of a company or street name: the evidence a single value gives among other values
    (a city, a company or a street named after someone is not a person)."""
    toks = name_tokens(value)
    if not toks or not 2 <= len(toks) <= 4:
        return False
    first, last = name_lexicon()
    return toks[0] in first and toks[-1] in last and not _org_or_place(value)


def is_free_text(values: Sequence[str]) -> bool:
    """Sentences rather than single values: most have four or more words."""
    if not len(values):
        return False
    # words with letters: "+33 5 49 62 58 51" is a phone number, not a sentence
    words = np.array([sum(1 for w in v.split() if sum(c.isalpha() for c in w) >= 2) for v in values])
    return float(np.median(words)) >= 4


@dataclass
class Verdict:
    column: str
    entity: str | None
    confidence: float
    share: float
    """share of (sampled) values that hold any of the reported entity types"""
    shares: dict[str, float] = field(default_factory=dict)
    name_meaning: str | None = None
    basis: str = ""
    rows_scanned: int = 0
    entities: dict[str, float] = field(default_factory=dict)
    """the reported entity types and the share of (sampled) values holding each"""
    holders: list[str] = field(default_factory=list)
    """a few distinct values holding a reported type (for masked examples)"""


# Share of a value a recognized span must cover for the value to be that entity (an
# address value often ends with a city or a flat number that the pattern leaves out).
_COVER = {"STREET_ADDRESS": 0.5, "EMAIL_ADDRESS": 0.0}
"""Share of a value an entity's span must cover for the value to hold it (default 0.8). An
e-mail address anywhere in a short value ("call Jane at jane@example.com") is one."""


def structured_verdict(column: str, values: Sequence[str], engine, min_share: float,
                       min_count: int = MIN_COUNT) -> Verdict:
    """Verdict for a column of short values from its name and the values' entities.

    Every entity type some values hold is counted and reported by the share rule above
    (:data:`PRECISE_VALUE_ENTITIES`); the name's meaning counts when the values fit its format.
    The values are first tallied (:class:`Tally`), and the verdict comes from the tally
    (:func:`tally_verdict`): the Spark engine's full scan sums tallies of batches instead."""
    tally = Tally(keep=max(min_count, HOLDERS_KEPT))
    tally.add(values, engine, name_meaning(column))
    return tally_verdict(column, tally, min_share, min_count)


HOLDERS_KEPT = 10
MEMO_VALUES = 200_000
"""Distinct values whose types a :meth:`Tally.add` memo keeps (a Spark worker's, across batches)."""
"""Distinct values holding a type that a :class:`Tally` keeps (the first ones): the examples
and, up to ``min_count``, the count of distinct values the share rule needs."""


@dataclass
class Tally:
    """What a column's verdict needs from its values, in figures that add up over parts of
    the column (the Spark engine tallies each batch on the executors and sums them): rows per
    entity type and per set of types a value holds, rows per number of digits, rows shaped
    like what the column's name announces, and the first ``keep`` distinct values holding
    each type with their first position (enough for examples and for the ``min_count``
    distinct values of the share rule: a distinct count is only compared with it)."""

    keep: int = HOLDERS_KEPT
    rows: int = 0
    entity_rows: Counter = field(default_factory=Counter)
    set_rows: Counter = field(default_factory=Counter)
    """sorted tuple of the types a value holds -> rows (values holding none left out)"""
    digit_rows: Counter = field(default_factory=Counter)
    name_shaped: int = 0
    """rows shaped like a person's name (a column whose name announces names)"""
    fitting: int = 0
    """rows matching the format the column's name announces (other types)"""
    holders: dict[str, dict[str, int]] = field(default_factory=dict)
    """type -> {value: first position}, the ``keep`` first distinct values holding it"""
    full_names: dict[str, int] = field(default_factory=dict)
    """the first ``keep`` values holding PERSON that are a known first and family name"""

    def add(self, values: Sequence[str], engine, meaning: str | None, start: int = 0,
            memo: dict[str, frozenset[str]] | None = None) -> None:
        """Tally ``values``; ``start``: the position of the first one in the column; ``memo``:
        the types of values already seen (kept for later calls, up to :data:`MEMO_VALUES`)."""
        multiplicity = Counter(values)
        first = dict(zip(reversed(values), range(start + len(values) - 1, start - 1, -1)))
        pat = COMPATIBLE.get(meaning) if meaning and meaning != "PERSON" else None
        self.rows += len(values)
        for v, times in multiplicity.items():
            found = memo.get(v) if memo is not None else None
            if found is None:
                found = value_entities(v, engine, meaning)
                if memo is not None and len(memo) < MEMO_VALUES:
                    memo[v] = found
            self.digit_rows[sum(c.isdigit() for c in v)] += times
            if meaning == "PERSON":
                self.name_shaped += times if name_tokens(v) else 0
            elif pat is not None:
                self.fitting += times if pat.match(v.strip()) else 0
            if not found:
                continue
            self.set_rows[tuple(sorted(found))] += times
            for ent in found:
                self.entity_rows[ent] += times
                self._hold(self.holders.setdefault(ent, {}), {v: first[v]})
            if "PERSON" in found and known_full_name(v):
                self._hold(self.full_names, {v: first[v]})

    def merge(self, other: Tally) -> None:
        """Add ``other``'s figures (a tally of other rows of the column) to these."""
        self.rows += other.rows
        self.entity_rows.update(other.entity_rows)
        self.set_rows.update(other.set_rows)
        self.digit_rows.update(other.digit_rows)
        self.name_shaped += other.name_shaped
        self.fitting += other.fitting
        for ent, held in other.holders.items():
            self._hold(self.holders.setdefault(ent, {}), held)
        self._hold(self.full_names, other.full_names)

    def _hold(self, into: dict[str, int], found: dict[str, int]) -> None:
        for v, pos in found.items():
            if pos < into.get(v, pos + 1):
                into[v] = pos
        if len(into) > self.keep:
            kept = sorted(into.items(), key=lambda kv: kv[1])[:self.keep]
            into.clear()
            into.update(kept)


def dominant(v: Verdict | None, min_share: float, min_confidence: float) -> bool:
    """Whether a sample's verdict names a type most values hold, with a shape to count it by
    (:data:`FAST_PATTERNS`): ``full`` then measures its share over every row by that shape;
    any other column's rows each go through the recognizers."""
    return v is not None and v.entity is not None and v.confidence >= min_confidence \
        and v.share >= min_share and v.entity in FAST_PATTERNS


def every_row_verdict(column: str, values: Sequence[str], engine, min_share: float,
                      min_count: int = MIN_COUNT) -> Verdict:
    """:func:`structured_verdict` of every value of a column (``full``), tallied in chunks."""
    tally = Tally(keep=max(min_count, HOLDERS_KEPT))
    meaning = name_meaning(column)
    memo: dict[str, frozenset[str]] = {}  # a value repeated in later chunks is judged once
    for start in range(0, len(values), 50_000):
        tally.add(values[start:start + 50_000], engine, meaning, start=start, memo=memo)
    return tally_verdict(column, tally, min_share, min_count)


def tally_verdict(column: str, tally: Tally, min_share: float, min_count: int = MIN_COUNT) -> Verdict:
    """The verdict of :func:`structured_verdict` from a column's :class:`Tally`."""
    meaning = name_meaning(column)
    n = tally.rows
    shares = {k: c / n for k, c in sorted(tally.entity_rows.items())} if n else {}
    reported: dict[str, float] = {}
    best_ent, best_conf, basis = None, 0.0, ""
    for ent, share in shares.items():
        evidence = _value_evidence(ent, share, tally, min_share, min_count)
        if evidence is None:
            continue
        reported[ent] = share
        conf = _EVIDENCE_CONFIDENCE.get(evidence, 0.5 + 0.45 * share) + (0.05 if meaning == ent else 0.0)
        if conf > best_conf:
            best_ent, best_conf, basis = ent, conf, "name and values" if meaning == ent else "values"
    fit, fitting = _name_fit(meaning, tally, shares, n)
    if meaning and fit > 0 and (fit >= min_share or fitting >= min_count):
        verified = shares.get(meaning, 0.0)
        reported[meaning] = max(fit, verified)
        conf = min(1.0, 0.6 + 0.25 * fit + 0.15 * verified)
        if conf > best_conf:
            best_ent, best_conf = meaning, conf
            basis = "name and values" if verified >= min(fit, min_share) else "name and value format"
    held = sum(t for found, t in tally.set_rows.items() if reported.keys() & set(found))
    first: dict[str, int] = {}
    for ent in reported:
        for v, pos in tally.holders.get(ent, {}).items():
            first[v] = min(pos, first.get(v, pos))
    holders = [v for v, _ in sorted(first.items(), key=lambda kv: kv[1])][:10]
    share_any = max([held / n, *reported.values()]) if reported and n else 0.0
    return Verdict(column=str(column), entity=best_ent, confidence=round(best_conf, 3),
                   share=round_share(share_any), shares={k: round_share(v) for k, v in shares.items()},
                   name_meaning=meaning, basis=basis, rows_scanned=n, holders=holders,
                   entities={k: round_share(v) for k, v in sorted(reported.items(), key=lambda kv: -kv[1])})


def round_share(share: float) -> float:
    """A share to 4 decimals from 1% up, else to 2 significant digits: a share above 0 stays
    above 0 (six e-mails in a million rows are 6e-06, not 0, which the policy would pass)
    and a small one keeps its size (three in 20,000 are 0.00015, not 0.0001)."""
    return round(share, 4) if abs(share) >= 0.01 or not share else float(f"{share:.2g}")


def value_entities(value: str, engine, meaning: str | None) -> frozenset[str]:
    """The entity types one short value is (a span must cover most of it, :data:`_COVER`),
    each passing its validator; ``meaning`` is what the column's name announces."""
    s = value.strip()
    found: set[str] = set()
    if s and (any(c.isdigit() for c in s) or "@" in s or ":" in s):
        for span in engine.analyze_value(s):
            if (span.end - span.start) >= _COVER.get(span.entity, 0.8) * len(s):
                found.add(span.entity)
        if "PHONE_NUMBER" in found and meaning != "PHONE_NUMBER" and not _phone_shaped(s):
            found.discard("PHONE_NUMBER")
    elif s and looks_like_person(s, strict=meaning != "PERSON"):
        found.add("PERSON")
    return frozenset(found)


def _phone_shaped(s: str) -> bool:
    """A phone number as written: '+' or separators, and not a valid ISBN or EAN (a bare
    run of 9 to 12 digits is a valid number somewhere about 4 times in 10: ids, timestamps;
    "978-3-16-148410-0" is a book)."""
    if s.isdigit():
        return False
    from stdnum import ean, isbn

    # an ISBN is written in groups ending with its one check character (a phone number
    # rarely ends with a one-digit group; one in eleven 10-digit phones passes ISBN's check)
    groups = s.replace(" ", "-").split("-")
    if len(groups) in (4, 5) and len(groups[-1]) == 1 and isbn.is_valid(s):
        return False
    digits = "".join(c for c in s if c.isdigit())
    return not (len(digits) in (8, 12, 13) and digits == s.replace(" ", "") and ean.is_valid(digits))


_EVIDENCE_CONFIDENCE = {"check": 0.9, "count": 0.75}


def _value_evidence(ent: str, share: float, tally: Tally, min_share: float, min_count: int) -> str | None:
    """Why ``ent`` is reported for a column ("check": a check the values pass; "share" or
    "count": the share or the number of values holding it), or None (the share rule above)."""
    if ent not in STRONG_VALUE_ENTITIES or share <= 0:
        return None
    if ent in PRECISE_VALUE_ENTITIES:
        return "check"
    if share >= min_share:
        return "share"
    if ent in CHECKSUM_DIGITS:
        lo, hi = CHECKSUM_DIGITS[ent]
        shaped = sum(t for d, t in tally.digit_rows.items() if lo <= d <= hi)
        count = tally.entity_rows[ent]
        ok = shaped >= _CHECKSUM_MIN_SHAPED and count >= 0.5 * shaped
        return "check" if ok else None  # the check digits, not the share, are the evidence
    # a name among other values: known first and family names only
    # distinct values: a category that looks like a name ("El Salvador") repeats, people differ
    distinct = tally.full_names if ent == "PERSON" else tally.holders.get(ent, {})
    return "count" if len(distinct) >= min_count else None


def _name_fit(meaning: str | None, tally: Tally, shares: dict[str, float], n: int) -> tuple[float, int]:
    """Share and number of values that fit the type the column's name announces."""
    if not meaning or not n:
        return 0.0, 0
    if meaning == "PERSON":
        # the shape alone ("Desk Lamp") is not enough: known first or last names, or
        # name-shaped values (any script) of which some parts are known names
        fit = shares.get("PERSON", 0.0)
        if fit >= 0.2 and tally.name_shaped / n > fit:
            fit = tally.name_shaped / n
    elif COMPATIBLE.get(meaning) is not None:
        fit = tally.fitting / n
    else:
        fit = 0.0
    if meaning == "DATE_OF_BIRTH":
        fit = max(fit, shares.get("DATE_TIME", 0.0))
    return fit, round(fit * n)


def full_share(series: pd.Series, entity: str) -> float | None:
    """Share of all non-null values of ``series`` shaped like ``entity`` (vectorized)."""
    counted = shaped_count(series, entity)
    if counted is None:
        return None
    shaped, total = counted
    return float(shaped / total) if total else 0.0


def shaped_count(series: pd.Series, entity: str) -> tuple[int, int] | None:
    """(values shaped like ``entity``, non-null values) of ``series``: :func:`full_share`'s
    figures, which add up over parts of a column (None: no pattern for the type)."""
    pat = FAST_PATTERNS.get(entity)
    if pat is None:
        return None
    s = series.dropna()
    if pd.api.types.is_float_dtype(s.dtype) and np.all(np.mod(s.to_numpy(), 1) == 0):
        s = s.astype("int64")  # a card column with gaps is read as floats
    s = s.astype(str).str.strip()
    if s.empty:
        return 0, 0
    uniq = s.value_counts()
    ok = uniq.index.to_series().str.fullmatch(pat).to_numpy(dtype=bool)
    return int(uniq.to_numpy()[ok].sum()), len(s)
