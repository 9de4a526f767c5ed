"""Multilingual benchmark of the pii checker against Presidio out of the box (same run).

Per language (Faker locales en_US, en_GB, de_DE, fr_FR, es_ES, it_IT, nl_NL):

1. Columns. PII columns: name, e-mail, phone, IBAN, card, national id, street address,
   date of birth, twice: under the column names people use in that language and under
   uninformative names (c1, c2...), so that the values alone must tell; plus the card and
   phone numbers stored as integers. Look-alike columns that hold no personal data:
   ISBN, EAN, SKU, version strings, SHA-1 hashes, UUIDs, coordinates (text and float),
   prices (text and float), licence plates, city names. Column-level precision / recall
   (a PII column counts when flagged with its type) and the look-alikes flagged.
2. Sentences. Hand-written templates per language with a name, e-mail, phone, IBAN and
   address, and PII-free sentences (with the capitalised nouns, city names and numbers of
   ordinary text). Entity recall on the PII sentences, false-positive rate (share of
   PII-free sentences with any personal-data entity) on the others.

Names are never drawn from Faker (the source of riskaudit's name lexicon): they come from
the hand-made NAMES lists below (public figures of each language, accents kept) plus
non-Latin-script names mixed into every language (their recall is printed separately).

Peer: Presidio's AnalyzerEngine out of the box (default recognizers, the English spaCy
pipeline, language "en": Presidio has no language detection), called value by value; a
column counts as flagged with Presidio's most frequent entity type when at least 30% of
its first ``--peer-values`` values hold an entity covering 80% of the value.

Patterns were fixed looking at seed 1; the figures are reported on seed 2 (the default).
Issue 17's rules (the share rule, look-alike validators, English name context) were checked
on other seeds (7, 31, 41, 101, 102 in tests and scratch runs) and are reported on seed 3,
never looked at before (``--seed 3``, 2 shared cores):

    locale | riskaudit columns P / R, look-alikes | sentences names, FPR || Presidio columns P / R, look-alikes | names, FPR
    en_US  | 1.000 / 1.000, 0                     | 0.833, 0.000         || 0.700 / 0.824, 5                     | 0.600, 0.250
    en_GB  | 1.000 / 1.000, 0                     | 0.833, 0.000         || 0.600 / 0.706, 5                     | 0.600, 0.250
    de_DE  | 1.000 / 1.000, 0                     | 0.967, 0.000         || 0.522 / 0.706, 6                     | 0.583, 0.733
    fr_FR  | 1.000 / 1.000, 0                     | 0.967, 0.000         || 0.600 / 0.706, 5                     | 0.433, 0.267
    es_ES  | 1.000 / 1.000, 0                     | 0.883, 0.000         || 0.545 / 0.706, 5                     | 0.217, 0.367
    it_IT  | 1.000 / 1.000, 0                     | 0.967, 0.000         || 0.632 / 0.706, 6                     | 0.600, 0.517
    nl_NL  | 1.000 / 1.000, 0                     | 0.817, 0.000         || 0.545 / 0.706, 7                     | 0.650, 0.233

Targets (column precision >= 0.95, recall >= 0.9, no look-alike flagged, FPR <= 5%) met in
every language. English sentence names (from outside the lexicon's source): 0.683 before the
context rule, 0.833 after, same seed; sentence entity recall en_US 0.858, en_GB 0.875.

    .venv/bin/python benchmarks/bench_pii_multilingual.py            # about 3 minutes
    .venv/bin/python benchmarks/bench_pii_multilingual.py --rows 150 --peer-values 30
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections import Counter, defaultdict

import numpy as np
import pandas as pd

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"]

NAMES = {
    "en": ["Margaret Atwood", "Idris Elba", "Siobhán McSweeney", "Chimamanda Adichie", "Keanu Reeves",
           "Saoirse Ronan", "Zadie Smith", "Dev Patel", "Kazuo Ishiguro", "Greta Gerwig",
           "Serena Williams", "Malala Yousafzai", "Ngozi Okonjo-Iweala", "Denzel Washington",
           "Tilda Swinton", "Hugh Laurie", "Emma Thompson", "Oprah Winfrey"],
    "de": ["Angela Merkel", "Jürgen Klopp", "Thomas Müller", "Käthe Kollwitz", "Günter Grass",
           "Nina Hagen", "Herta Müller", "Joschka Fischer", "Sophie Scholl", "Helene Fischer",
           "Til Schweiger", "Özlem Türeci", "Uğur Şahin", "Annalena Baerbock", "Hannah Arendt",
           "Jörg Pilawa", "Franziska van Almsick", "Dirk Nowitzki"],
    "fr": ["Véronique Sanson", "Édith Piaf", "Gérard Depardieu", "Zinédine Zidane", "Marion Cotillard",
           "Aimé Césaire", "Françoise Sagan", "Kylian Mbappé", "Léa Seydoux", "Jean-Paul Sartre",
           "Amélie Nothomb", "Émile Zola", "Hélène Grimaud", "Yannick Noah", "Simone Veil",
           "Aurélie Filippetti", "Thérèse Clerc", "Jérôme Kerviel"],
    "es": ["Penélope Cruz", "Pedro Almodóvar", "Rafael Nadal", "Iñaki Gabilondo", "Javier Bardem",
           "Begoña Gómez", "Fernando Alonso", "Almudena Grandes", "Carmen Maura", "Andrés Iniesta",
           "Núria Espert", "Belén Rueda", "Joaquín Sabina", "Rocío Jurado", "Sergio Ramos",
           "Lola Flores", "Álex Pina", "Concepción Arenal"],
    "it": ["Sophia Loren", "Roberto Benigni", "Federico Fellini", "Niccolò Ammaniti", "Elena Ferrante",
           "Luca Guadagnino", "Gianluigi Buffon", "Monica Bellucci", "Dacia Maraini", "Umberto Eco",
           "Fabiola Gianotti", "Samantha Cristoforetti", "Andrea Bocelli", "Natalia Ginzburg",
           "Lucio Dalla", "Giorgia Meloni", "Alessandro Del Piero", "Rita Levi-Montalcini"],
    "nl": ["Johan Cruijff", "Anne Frank", "Vincent van Gogh", "Famke Janssen", "Arjen Robben",
           "Carice van Houten", "Tom Dumoulin", "Herman Brood", "Sylvana Simons", "Dafne Schippers",
           "Mark Rutte", "Hella Haasse", "Wim Kok", "Ruud Gullit", "Annie Schmidt",
           "Joke Smit", "Pieter Omtzigt", "Femke Halsema"],
}
NON_LATIN = ["Дмитрий Шостакович", "Анна Ахматова", "Владимир Набоков", "Νίκος Καζαντζάκης",
             "Μελίνα Μερκούρη", "Ольга Корбут", "Γιώργος Σεφέρης", "Наталья Гончарова"]

COLUMN_NAMES = {  # (name, email, phone, iban, card, national id, address, birth date)
    "en": ["full_name", "email", "phone", "iban", "card_number", "national_id", "address", "date_of_birth"],
    "de": ["name", "e_mail", "telefon", "iban", "kartennummer", "steuer_id", "anschrift", "geburtsdatum"],
    "fr": ["nom", "courriel", "telephone", "iban", "numero_carte", "numero_insee", "adresse", "date_naissance"],
    "es": ["nombre", "correo", "telefono", "iban", "tarjeta", "nif", "direccion", "fecha_nacimiento"],
    "it": ["nome", "email", "telefono", "iban", "carta", "codice_fiscale", "indirizzo", "data_nascita"],
    "nl": ["naam", "email", "telefoon", "iban", "kaartnummer", "bsn", "adres", "geboortedatum"],
}
TYPES = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "CREDIT_CARD", "NATIONAL_ID",
         "STREET_ADDRESS", "DATE_OF_BIRTH"]
NATIONAL = {"US_SSN", "UK_NINO", "DE_TAX_ID", "FR_INSEE", "ES_NIF", "ES_NIE", "IT_FISCAL_CODE", "NL_BSN"}
# what counts as the right type for Presidio out of the box, which has no such types
PEER_ALIASES = {"STREET_ADDRESS": {"STREET_ADDRESS", "LOCATION"}, "DATE_OF_BIRTH": {"DATE_OF_BIRTH", "DATE_TIME"}}
WEAK = {"DATE_TIME", "URL", "NRP", "LOCATION", "ORGANIZATION"}

SENTENCES = {
    "en": (["Please call {PERSON} on {PHONE_NUMBER} about the delivery.",
            "{PERSON} asked us to send the invoice to {EMAIL_ADDRESS}.",
            "The refund goes to IBAN {IBAN_CODE}, holder {PERSON}.",
            "Parcel for {PERSON}, {STREET_ADDRESS}, was returned."],
           ["The parcel arrived two days late because of the storm in Chicago.",
            "Our Warehouse Team counted 240 boxes on Monday.",
            "The new Coffee Grinder works as described and looks great.",
            "Prices rose by 3.5% in March across the United Kingdom.",
            "Version 2.4.1 fixes the login problem on Android.",
            "Please restart the router and check the cable.",
            "The meeting moved to Thursday afternoon in room 12.",
            "Sales in London and Manchester were higher than expected."]),
    "de": (["Bitte rufen Sie {PERSON} unter {PHONE_NUMBER} wegen der Lieferung an.",
            "{PERSON} möchte die Rechnung an {EMAIL_ADDRESS} erhalten.",
            "Die Erstattung geht auf das Konto {IBAN_CODE} von {PERSON}.",
            "Das Paket für {PERSON}, {STREET_ADDRESS}, kam zurück."],
           ["Die Lieferung kam wegen des Sturms in Hamburg zwei Tage zu spät.",
            "Das Lager zählte am Montag 240 Kartons im Nordflügel.",
            "Die neue Kaffeemühle funktioniert wie beschrieben und sieht gut aus.",
            "Die Preise stiegen im März in ganz Deutschland um 3,5 %.",
            "Version 2.4.1 behebt das Anmeldeproblem unter Android.",
            "Bitte starten Sie den Router neu und prüfen Sie das Kabel.",
            "Die Besprechung wurde auf Donnerstag Nachmittag in Raum 12 verlegt.",
            "Der Umsatz in München und Köln lag über den Erwartungen."]),
    "fr": (["Merci d'appeler {PERSON} au {PHONE_NUMBER} pour la livraison.",
            "{PERSON} souhaite recevoir la facture à {EMAIL_ADDRESS}.",
            "Le remboursement part sur le compte {IBAN_CODE} de {PERSON}.",
            "Le colis de {PERSON}, {STREET_ADDRESS}, est revenu."],
           ["Le colis est arrivé avec deux jours de retard à cause de la tempête à Marseille.",
            "L'entrepôt a compté 240 cartons lundi dans l'aile nord.",
            "Le nouveau moulin à café fonctionne comme décrit et il est beau.",
            "Les prix ont augmenté de 3,5 % en mars dans toute la France.",
            "La version 2.4.1 corrige le problème de connexion sous Android.",
            "Merci de redémarrer le routeur et de vérifier le câble.",
            "La réunion est déplacée à jeudi après-midi en salle 12.",
            "Les ventes à Lyon et à Toulouse ont dépassé les attentes."]),
    "es": (["Llame a {PERSON} al {PHONE_NUMBER} por la entrega.",
            "{PERSON} quiere recibir la factura en {EMAIL_ADDRESS}.",
            "El reembolso va a la cuenta {IBAN_CODE} de {PERSON}.",
            "El paquete de {PERSON}, {STREET_ADDRESS}, fue devuelto."],
           ["El paquete llegó con dos días de retraso por la tormenta en Valencia.",
            "El almacén contó 240 cajas el lunes en el ala norte.",
            "El nuevo molinillo de café funciona como se describe y se ve bien.",
            "Los precios subieron un 3,5 % en marzo en toda España.",
            "La versión 2.4.1 corrige el problema de inicio de sesión en Android.",
            "Reinicie el router y compruebe el cable, por favor.",
            "La reunión se trasladó al jueves por la tarde en la sala 12.",
            "Las ventas en Madrid y Sevilla superaron las expectativas."]),
    "it": (["Chiamare {PERSON} al {PHONE_NUMBER} per la consegna.",
            "{PERSON} vuole ricevere la fattura a {EMAIL_ADDRESS}.",
            "Il rimborso va sul conto {IBAN_CODE} di {PERSON}.",
            "Il pacco di {PERSON}, {STREET_ADDRESS}, è tornato indietro."],
           ["Il pacco è arrivato con due giorni di ritardo per la tempesta a Genova.",
            "Il magazzino ha contato 240 scatole lunedì nell'ala nord.",
            "Il nuovo macinacaffè funziona come descritto ed è bello.",
            "I prezzi sono saliti del 3,5 % a marzo in tutta Italia.",
            "La versione 2.4.1 risolve il problema di accesso su Android.",
            "Riavviare il router e controllare il cavo, per favore.",
            "La riunione è stata spostata a giovedì pomeriggio nella sala 12.",
            "Le vendite a Milano e Torino hanno superato le attese."]),
    "nl": (["Bel {PERSON} op {PHONE_NUMBER} over de levering.",
            "{PERSON} wil de factuur ontvangen op {EMAIL_ADDRESS}.",
            "De terugbetaling gaat naar rekening {IBAN_CODE} van {PERSON}.",
            "Het pakket van {PERSON}, {STREET_ADDRESS}, kwam terug."],
           ["Het pakket kwam twee dagen te laat door de storm in Rotterdam.",
            "Het magazijn telde maandag 240 dozen in de noordvleugel.",
            "De nieuwe koffiemolen werkt zoals beschreven en ziet er goed uit.",
            "De prijzen stegen in maart met 3,5 % in heel Nederland.",
            "Versie 2.4.1 lost het inlogprobleem op Android op.",
            "Start de router opnieuw op en controleer de kabel.",
            "De vergadering is verplaatst naar donderdagmiddag in zaal 12.",
            "De verkoop in Utrecht en Groningen was hoger dan verwacht."]),
}
DOB_FORMAT = {"en_US": "%m/%d/%Y", "en_GB": "%d/%m/%Y", "de": "%d.%m.%Y", "fr": "%d/%m/%Y",
              "es": "%d/%m/%Y", "it": "%d/%m/%Y", "nl": "%d-%m-%Y"}


def _national_id(fake, locale, rng):
    if locale == "en_US":
        return fake.ssn()
    if locale == "en_GB":  # Faker's NINOs all start with the never-issued prefix ZZ
        return (rng.choice(list("ABCEHJKLMNOPRSTWXY")) + rng.choice(list("ABCEHJKLMNPRSTWXY"))
                + "".join(str(d) for d in rng.integers(0, 10, 6)) + rng.choice(list("ABCD")))
    if locale == "de_DE":
        from stdnum.de import idnr

        while True:
            stem = str(rng.integers(1, 10)) + "".join(str(d) for d in rng.integers(0, 10, 9))
            for c in "0123456789":
                if idnr.is_valid(stem + c):
                    return stem + c
    if locale == "es_ES":
        return fake.nif()
    return fake.ssn()  # fr_FR INSEE, it_IT codice fiscale, nl_NL BSN


def make_frame(locale: str, rows: int, seed: int) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """The columns of one language and their gold type (None: not personal data)."""
    from faker import Faker

    lang = locale[:2]
    fake = Faker(locale)
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    names = NAMES[lang] + NON_LATIN[:3]
    dob_fmt = DOB_FORMAT.get(locale, DOB_FORMAT.get(lang))
    gens = [lambda: str(rng.choice(names)), fake.email, fake.phone_number, fake.iban,
            fake.credit_card_number, lambda: _national_id(fake, locale, rng), fake.street_address,
            lambda: fake.date_of_birth().strftime(dob_fmt)]
    cols, gold = {}, {}
    for i, (typ, gen, named) in enumerate(zip(TYPES, gens, COLUMN_NAMES[lang])):
        values = [gen().replace("\n", ", ") for _ in range(rows)]
        cols[named] = values
        gold[named] = typ
        cols[f"c{i + 1}"] = list(values)
        gold[f"c{i + 1}"] = typ if typ != "DATE_OF_BIRTH" else None  # a bare date is nobody's
    cards = [int(fake.credit_card_number(str(rng.choice(["visa16", "mastercard", "amex", "discover"]))))
             for _ in range(rows)]
    cols["c_card_int"], gold["c_card_int"] = np.array(cards, dtype=np.int64), "CREDIT_CARD"
    phones = [int(re.sub(r"\D", "", fake.phone_number().split("x")[0])) for _ in range(rows)]
    cols[COLUMN_NAMES[lang][2] + "_int"], gold[COLUMN_NAMES[lang][2] + "_int"] = np.array(phones, dtype=np.int64), "PHONE_NUMBER"
    look = {
        "isbn": lambda: fake.isbn13(), "ean": lambda: fake.ean13(),
        "sku": lambda: fake.bothify("SKU-??-#####").upper(),
        "version": lambda: f"{rng.integers(0, 20)}.{rng.integers(0, 30)}.{rng.integers(0, 200)}",
        "sha1": fake.sha1, "uuid": fake.uuid4,
        "coordinates": lambda: f"{fake.latitude()}, {fake.longitude()}",
        "price": lambda: f"{rng.uniform(1, 999):.2f} €", "plate": fake.license_plate, "city": fake.city,
    }
    for name, gen in look.items():
        cols[name] = [str(gen()) for _ in range(rows)]
        gold[name] = None
    cols["latitude"], gold["latitude"] = rng.uniform(-90, 90, rows).round(6), None
    cols["amount"], gold["amount"] = rng.uniform(1, 5000, rows).round(2), None
    cols["ean_int"], gold["ean_int"] = np.array([int(fake.ean13()) for _ in range(rows)], dtype=np.int64), None
    return pd.DataFrame(cols), gold


def make_sentences(locale: str, n: int, seed: int):
    from faker import Faker

    lang = locale[:2]
    fake = Faker(locale)
    fake.seed_instance(seed + 1)
    rng = np.random.default_rng(seed + 1)
    with_pii, clean = SENTENCES[lang]
    names = NAMES[lang] + NON_LATIN
    gen = {"PERSON": lambda: str(rng.choice(names)), "EMAIL_ADDRESS": fake.email,
           "PHONE_NUMBER": fake.phone_number, "IBAN_CODE": fake.iban,
           "STREET_ADDRESS": lambda: fake.street_address().replace("\n", ", ")}
    texts, gold = [], []
    for i in range(n):
        if i % 2:
            texts.append(clean[(i // 2) % len(clean)])
            gold.append([])
            continue
        tpl = with_pii[(i // 2) % len(with_pii)]
        out, spans, pos = "", [], 0
        for m in re.finditer(r"\{(\w+)\}", tpl):
            out += tpl[pos:m.start()]
            val = gen[m.group(1)]()
            spans.append((m.group(1), len(out), len(out) + len(val)))
            out += val
            pos = m.end()
        texts.append(out + tpl[pos:])
        gold.append(spans)
    return texts, gold


def peer_engine(model):
    from riskaudit.checks.pii.engine import offline_extractor, offline_scope

    offline_scope(offline_extractor()).__enter__()  # a benchmark process: offline for its whole life
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def peer_column(peer, values, k):
    found = Counter()
    vals = [str(v) for v in values[:k]]
    for v in vals:
        res = [r for r in peer.analyze(v, language="en") if r.end - r.start >= 0.8 * len(v)]
        if res:
            found[max(res, key=lambda r: r.score).entity_type] += 1
    if not found or sum(found.values()) < 0.3 * len(vals):
        return None
    return found.most_common(1)[0][0]


def right_type(gold, got, peer=False):
    if got is None or gold is None:
        return False
    if gold == "NATIONAL_ID":
        return got in NATIONAL
    return got in PEER_ALIASES.get(gold, {gold}) if peer else got == gold


def span_scores(preds, gold):
    tp, fp, fn = Counter(), Counter(), Counter()
    for p_spans, g_spans in zip(preds, gold):
        used = set()
        for ent, s, e in p_spans:
            if ent in WEAK:
                continue
            hit = next((i for i, (g, gs, ge) in enumerate(g_spans) if i not in used and
                        (g == ent or (g == "STREET_ADDRESS" and ent == "LOCATION"))
                        and min(e, ge) - max(s, gs) >= 0.5 * (ge - gs)), None)
            if hit is None:
                fp[ent] += 1
            else:
                used.add(hit)
                tp[g_spans[hit][0]] += 1
        for i, (g, _, _) in enumerate(g_spans):
            if i not in used:
                fn[g] += 1
    return tp, fp, fn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--sentences", type=int, default=120)
    ap.add_argument("--peer-values", type=int, default=40, help="values per column given to Presidio")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.WARNING)

    from riskaudit.checks.pii import PiiChecker
    from riskaudit.checks.pii.engine import WEAK_ENTITIES
    from riskaudit.checks.pii.language import detect_language
    from riskaudit.checks.pii.scanner import classify, engine_for

    cfg = PiiChecker.validate_options({})
    eng = engine_for(cfg, None)
    peer = None if args.no_peer else peer_engine(eng.model)
    print(f"seed {args.seed}; {args.rows} rows per column; riskaudit NER: {eng.model_note}; "
          f"Presidio out of the box: its default recognizers, the same English pipeline")
    col_rows, sent_rows, type_tab = [], [], defaultdict(lambda: [0, 0, 0, 0])
    misses = []
    t_ours = t_peer = 0.0
    nonlatin = [0, 0]
    for locale in LOCALES:
        frame, gold = make_frame(locale, args.rows, args.seed)
        t0 = time.perf_counter()
        res = {r["column"]: r for r in classify(frame, cfg, eng, np.random.default_rng(args.seed))}
        t_ours += time.perf_counter() - t0
        ours = {c: res[c]["entity"] if c in res else None for c in frame.columns}
        if peer is not None:
            t0 = time.perf_counter()
            theirs = {c: peer_column(peer, frame[c].tolist(), args.peer_values) for c in frame.columns}
            t_peer += time.perf_counter() - t0
        else:
            theirs = {c: None for c in frame.columns}
        row = {"locale": locale}
        for who, got, is_peer in (("ra", ours, False), ("pr", theirs, True)):
            pii = [c for c in frame.columns if gold[c]]
            flagged = [c for c in frame.columns if got[c]]
            tp = sum(right_type(gold[c], got[c], is_peer) for c in pii)
            row[f"{who}_P"] = tp / len(flagged) if flagged else float("nan")
            row[f"{who}_R"] = tp / len(pii)
            row[f"{who}_look"] = sum(1 for c in frame.columns if gold[c] is None and got[c])
            for c in pii:
                k = type_tab[(gold[c], who)]
                k[0] += right_type(gold[c], got[c], is_peer)
                k[1] += 1
            if who == "ra":
                misses += [f"{locale}:{c} gold {gold[c]} got {got[c]}" for c in frame.columns
                           if (gold[c] or got[c]) and not right_type(gold[c], got[c])]
        col_rows.append(row)
        # sentences
        texts, sgold = make_sentences(locale, args.sentences, args.seed)
        t0 = time.perf_counter()
        lang, _ = detect_language(texts)
        spans = eng.for_language(lang or "en").analyze_texts(texts)
        t_ours += time.perf_counter() - t0
        ours_p = [[(s.entity, s.start, s.end) for s in ss] for ss in spans]
        if peer is not None:
            t0 = time.perf_counter()
            peer_p = [[(r.entity_type, r.start, r.end) for r in peer.analyze(t, language="en")] for t in texts]
            t_peer += time.perf_counter() - t0
        else:
            peer_p = [[] for _ in texts]
        srow = {"locale": locale, "lang": lang}
        for who, pred in (("ra", ours_p), ("pr", peer_p)):
            tp, fp, fn = span_scores(pred, sgold)
            T, F, N = sum(tp.values()), sum(fp.values()), sum(fn.values())
            srow[f"{who}_P"] = T / (T + F) if T + F else float("nan")
            srow[f"{who}_R"] = T / (T + N) if T + N else float("nan")
            srow[f"{who}_pername"] = tp["PERSON"] / max(1, tp["PERSON"] + fn["PERSON"])
            clean = [p for p, g in zip(pred, sgold) if not g]
            srow[f"{who}_fpr"] = np.mean([any(e not in WEAK and e not in WEAK_ENTITIES for e, _, _ in p)
                                          for p in clean])
        for p, g, t in zip(ours_p, sgold, texts):
            for ent, s, e in g:
                if ent == "PERSON" and any(t[s:e] == n for n in NON_LATIN):
                    nonlatin[1] += 1
                    nonlatin[0] += any(pe == "PERSON" and min(e, pe_e) - max(s, ps) > 0 for pe, ps, pe_e in p)
        sent_rows.append(srow)

    print("\nColumns: precision / recall of PII columns with the right type; look-alike columns flagged")
    print(f"{'locale':<7} | {'riskaudit P':>11} {'R':>6} {'look-alikes':>11} | {'Presidio P':>10} {'R':>6} {'look-alikes':>11}")
    for r in col_rows:
        print(f"{r['locale']:<7} | {r['ra_P']:>11.3f} {r['ra_R']:>6.3f} {r['ra_look']:>11d} | "
              f"{r['pr_P']:>10.3f} {r['pr_R']:>6.3f} {r['pr_look']:>11d}")
    print("\nColumn recall per type over all languages (riskaudit | Presidio)")
    for t in TYPES:
        a, b = type_tab[(t, "ra")], type_tab[(t, "pr")]
        print(f"  {t:<16} {a[0]:>3}/{a[1]:<3} | {b[0]:>3}/{b[1]:<3}")
    print("\nSentences: entity precision / recall; PERSON recall; false-positive rate on PII-free sentences")
    print(f"{'locale':<7} {'lang':<5}| {'riskaudit P':>11} {'R':>6} {'names':>6} {'FPR':>6} | "
          f"{'Presidio P':>10} {'R':>6} {'names':>6} {'FPR':>6}")
    for r in sent_rows:
        print(f"{r['locale']:<7} {str(r['lang']):<5}| {r['ra_P']:>11.3f} {r['ra_R']:>6.3f} {r['ra_pername']:>6.3f} "
              f"{r['ra_fpr']:>6.3f} | {r['pr_P']:>10.3f} {r['pr_R']:>6.3f} {r['pr_pername']:>6.3f} {r['pr_fpr']:>6.3f}")
    print(f"\nNon-Latin-script names in sentences found by riskaudit: {nonlatin[0]}/{nonlatin[1]}")
    print(f"Time: riskaudit {t_ours:.1f}s, Presidio {t_peer:.1f}s (Presidio saw {args.peer_values} values per column)")
    if misses:
        print("\nriskaudit column misses and false verdicts:")
        for m in misses:
            print("  " + m)


if __name__ == "__main__":
    main()
