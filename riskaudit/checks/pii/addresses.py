"""Street addresses as their own entity type (STREET_ADDRESS): house number and street, in
the orders of English, German, Dutch, French, Spanish and Italian addresses. Presidio has no
address recognizer; street-type words come from Faker's address providers (offline) and
each language's usual abbreviations."""

from __future__ import annotations

import functools

_UP = "A-ZÀ-ÖØ-Þ"
_WORD = rf"[{_UP}][\w'’.\-]*"
_DE = ("straße|strasse|str\\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad|markt|"
       "graben|kamp|stieg|tor|wall|zeile")
_NL = "straat|laan|weg|plein|gracht|kade|singel|dijk|hof|pad|steeg|dreef|markt|boulevard|plantsoen|erf"
_FR = ("rue|avenue|av\\.|boulevard|bd|chemin|allée|impasse|place|quai|route|square|cours|passage|"
       "voie|rond-point|faubourg|sentier|résidence")
_ES = ("Calle|C/|Avenida|Avda\\.|Plaza|Paseo|Camino|Carretera|Ronda|Travesía|Pasaje|Pasadizo|Vía|"
       "Cañada|Callejón|Acceso|Urbanización|Alameda|Glorieta|Rambla|Cuesta|Bajada|Subida|Carrer")
_IT = ("Via|Viale|Piazza|Piazzale|Corso|Vicolo|Largo|Strada|Contrada|Borgo|Rotonda|Incrocio|"
       "Canale|Stretto|Lungomare|Lungotevere|Vico|Salita|Calle")


@functools.lru_cache(maxsize=1)
def address_patterns() -> list[tuple[str, str]]:
    """(name, regex) pairs, one per address order."""
    suffixes = {"Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Ln", "Drive", "Dr",
                "Boulevard", "Blvd", "Court", "Ct", "Place", "Pl", "Square", "Sq", "Way", "Close"}
    try:
        from faker.providers.address.en_GB import Provider as Gb
        from faker.providers.address.en_US import Provider as Us

        for prov in (Us, Gb):
            suffixes.update(s.strip(".") for s in getattr(prov, "street_suffixes", ()) if s.isalpha())
    except ImportError:  # pragma: no cover - Faker is a dependency
        pass
    suf = "|".join(sorted(suffixes, key=len, reverse=True))
    return [
        ("house number first (English)",
         rf"\b(?:Flat \d{{1,4}},? )?\d{{1,6}}[A-Za-z]?,? (?:{_WORD} ){{1,3}}(?:{suf})\b\.?"
         rf"(?: (?:Apt\.|Suite|Unit|Flat) \d{{1,5}})?"),
        ("street, then number (German, Dutch)",
         rf"\b{_WORD}(?:{_DE}|{_NL}) \d{{1,5}}(?:[-/]\d{{1,4}}| ?[a-z]\b)?"),
        ("German street name in words",
         rf"\b(?:Am|An der|Auf dem|Im|In der|Zum|Zur) {_WORD} \d{{1,5}}[a-z]?\b"),
        ("number, then street type (French)",
         rf"\b\d{{1,4}}(?: ?(?:bis|ter))?,? (?i:{_FR}) (?:(?:de la|de l'|des|du|de|d'|la|le|les) ?)?"
         rf"{_WORD}(?: (?:de |du |des )?{_WORD}){{0,3}}"),
        ("street type, name, number (Spanish, Italian)",
         rf"\b(?i:{_ES}|{_IT}) (?:(?:de la|de los|de las|del|de|di|dei|delle|della) )?{_WORD}"
         rf"(?: (?:de |del |di )?{_WORD}){{0,3}},? (?:n\.?º ?)?\d{{1,4}}\b"),
    ]


@functools.lru_cache(maxsize=1)
def address_regex():
    """All address patterns in one compiled regex (the recognizer's flags)."""
    import re

    return re.compile("|".join(f"(?:{p})" for _, p in address_patterns()), re.DOTALL | re.MULTILINE)


def address_recognizer(language: str = "en"):
    import re

    from presidio_analyzer import Pattern, PatternRecognizer

    # case-sensitive (Presidio's default flags ignore case): "Am Markt 3" is an address,
    # "am Montag 240" is not
    return PatternRecognizer(
        supported_entity="STREET_ADDRESS", name="StreetAddressRecognizer", supported_language=language,
        global_regex_flags=re.DOTALL | re.MULTILINE,
        patterns=[Pattern(n, p, 0.6) for n, p in address_patterns()],
        context=["address", "adresse", "anschrift", "dirección", "indirizzo", "adres", "lives", "wohnt"])
