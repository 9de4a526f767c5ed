"""National identifiers: Presidio's country recognizers, enabled by default, plus the few
Presidio lacks (FR INSEE/NIR, NL BSN; a checksum for SG NRIC/FIN, M series included).

Presidio ships most country recognizers disabled (and the Spanish and Italian ones only for
``es``/``it`` text); riskaudit instantiates them for its one analysis language. Where an
identifier has a check digit, the recognizer validates it (Presidio's ``validate_result``:
a valid number scores 1.0, an invalid one is dropped). The check-digit arithmetic of the
identifiers Presidio lacks comes from python-stdnum.
"""

from __future__ import annotations

# Presidio classes enabled by default (all validate a checksum except UK_NINO and IN_PAN,
# whose formats have none).
PRESIDIO_COUNTRY = ("EsNifRecognizer", "EsNieRecognizer", "UkNinoRecognizer", "DeTaxIdRecognizer", "InAadhaarRecognizer",
                    "InPanRecognizer", "AuTfnRecognizer")

# Check digits that one random number in about ten passes: the type is kept in free text
# only when the sentence names it, and in a structured column only when a large share of
# the values pass (see columns.WEAK_CHANCE).
CONTEXT_WORDS = {
    "UK_NHS": ("nhs", "health service", "patient"),
    "AU_TFN": ("tfn", "tax file"),
    "IN_AADHAAR": ("aadhaar", "aadhar", "uidai"),
    "DE_TAX_ID": ("steuer", "idnr", "identifikationsnummer", "tax"),
    "NL_BSN": ("bsn", "burgerservice", "sofi"),
}


def country_recognizers(language: str = "en") -> list:
    """Instances of the national-id recognizers for ``language`` (riskaudit's analyzer
    registers every recognizer under one language code)."""
    import presidio_analyzer.predefined_recognizers as pre
    from presidio_analyzer import Pattern, PatternRecognizer

    out = []
    for name in PRESIDIO_COUNTRY:
        cls = getattr(pre, name, None)
        if cls is not None:  # an older Presidio lacks some: the others still load
            out.append(cls(supported_language=language))

    class ItFiscalCodeRecognizer(pre.ItFiscalCodeRecognizer):
        """Presidio's Italian fiscal code, with a wrong check letter rejected (Presidio
        keeps it at the pattern's score)."""

        def validate_result(self, pattern_text: str):
            return super().validate_result(pattern_text) is True

    out.append(ItFiscalCodeRecognizer(supported_language=language))

    class SgNricRecognizer(pre.SgFinRecognizer):
        """Presidio's SG NRIC/FIN pattern with the check letter validated."""

        def validate_result(self, pattern_text: str):
            return sg_nric_valid(pattern_text)

    out.append(SgNricRecognizer(supported_language=language))

    class FrInseeRecognizer(PatternRecognizer):
        """French social security number (INSEE/NIR): 13 digits and a 2-digit mod-97 key."""

        PATTERNS = [Pattern("INSEE", r"\b[1-478] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[ABab])"
                                     r" ?\d{3} ?\d{3} ?\d{2}\b", 0.5)]

        def __init__(self, **kw):
            super().__init__(supported_entity="FR_INSEE", patterns=self.PATTERNS,
                             context=["insee", "nir", "sécurité sociale", "securite sociale", "ssn"], **kw)

        def validate_result(self, pattern_text: str):
            from stdnum.fr import nir

            return bool(nir.is_valid(pattern_text.replace(" ", "")))

    class NlBsnRecognizer(PatternRecognizer):
        """Dutch citizen service number (BSN): 9 digits passing the eleven test."""

        PATTERNS = [Pattern("BSN", r"\b\d{4}\.?\d{2}\.?\d{3}\b|\b\d{3}[ .]\d{3}[ .]\d{3}\b", 0.3)]

        def __init__(self, **kw):
            super().__init__(supported_entity="NL_BSN", patterns=self.PATTERNS,
                             context=list(CONTEXT_WORDS["NL_BSN"]), **kw)

        def validate_result(self, pattern_text: str):
            from stdnum.nl import bsn

            return bool(bsn.is_valid(pattern_text))

    out.append(FrInseeRecognizer(supported_language=language))
    out.append(NlBsnRecognizer(supported_language=language))
    return out


_SG_W = (2, 7, 6, 5, 4, 3, 2)
# Check letters by remainder, and the offset added to the weighted sum, per series: S/T
# (citizens, before/from 2000), F/G (foreigners, before/from 2000), M (foreigners from
# 2022; ICA's rule: letter "KLJNPQRTUWX"[10 - r], the table below read forwards).
_SG_SERIES = {"S": ("JZIHGFEDCBA", 0), "T": ("JZIHGFEDCBA", 4), "F": ("XWUTRQPNMLK", 0),
              "G": ("XWUTRQPNMLK", 4), "M": ("XWUTRQPNJLK", 3)}


def sg_nric_valid(text: str) -> bool:
    """Check letter of a Singapore NRIC/FIN (S, T, F, G and M series)."""
    s = text.strip().upper()
    if len(s) != 9 or not s[1:8].isdigit() or s[0] not in _SG_SERIES:
        return False
    table, offset = _SG_SERIES[s[0]]
    total = sum(int(d) * w for d, w in zip(s[1:8], _SG_W)) + offset
    return s[8] == table[total % 11]
