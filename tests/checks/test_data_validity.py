"""data_validity on real data: scikit-learn's bundled datasets, Faker text, the demo data.

Each defect is injected with a known exact count; the clean originals are the
false-positive control.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_digits, load_wine

from riskaudit.checks.data_validity import DataValidityChecker
from riskaudit.checks.data_validity import expectations as gxs
from riskaudit.demo import FEATURES, SENSITIVE, make_demo_data
from riskaudit.errors import PolicyError
from riskaudit.result import Status
from riskaudit.testing import check_checker, run_check

INJECTED_KINDS = {"missing_values", "out_of_range", "type_mismatch", "schema_mismatch",
                  "duplicate_rows", "train_test_leakage", "conflicting_labels",
                  "label_inconsistency", "empty_sample"}


def _frame(loader, label="label"):
    bunch = loader(as_frame=True)
    df = bunch.frame.drop(columns="target")
    df[label] = np.asarray(bunch.target_names)[bunch.target.to_numpy()]
    return df


def _split(df):
    return df.iloc[::2].reset_index(drop=True), df.iloc[1::2].reset_index(drop=True)


def _by_kind(result, kind):
    return [f for f in result.findings if f.kind == kind]


def _one(result, kind, subject):
    found = [f for f in result.findings if f.kind == kind and f.subject == subject]
    assert len(found) == 1, (kind, subject, [(f.id, f.subject) for f in result.findings])
    return found[0]


@pytest.fixture(scope="module")
def cancer():
    return _frame(load_breast_cancer, "diagnosis")


# ---------------------------------------------------------------- false-positive control

def test_clean_wine_split_has_no_injected_kinds():
    ref, cur = _split(_frame(load_wine))
    res = check_checker(DataValidityChecker, data=cur, reference=ref, target="label")
    assert not [f for f in res.findings if f.kind in INJECTED_KINDS]
    # wine's classes really are small (59, 71, 48 samples): rare_class says so, exactly
    counts = {f.subject: f.evidence["counts"] for f in _by_kind(res, "rare_class")}
    assert counts == {c: {"current": int((cur["label"] == c).sum()),
                          "reference": int((ref["label"] == c).sum())}
                      for c in ("class_0", "class_1", "class_2")}
    assert counts["class_2"] == {"current": 24, "reference": 24}


def test_clean_breast_cancer_without_reference_has_no_findings_but_outliers(cancer):
    res = run_check(DataValidityChecker, data=cancer, target="diagnosis")
    assert res.status != Status.FAIL
    assert {f.kind for f in res.findings} <= {"outliers"}


def test_clean_breast_cancer_split(cancer):
    ref, cur = _split(cancer)
    res = run_check(DataValidityChecker, data=cur, reference=ref, target="diagnosis")
    kinds = [(f.kind, f.subject) for f in res.findings if f.kind in INJECTED_KINDS]
    # one genuine heavy-tail value: 0.2075 against a reference max of 0.1486 (+50% of span)
    assert kinds == [("out_of_range", "worst fractal dimension")]
    assert _one(res, "out_of_range", "worst fractal dimension").status == Status.WARN


# ---------------------------------------------------------------- injected defects, exact counts

@pytest.fixture(scope="module")
def injected(cancer):
    ref, cur = _split(cancer)
    cur = cur.copy()
    cur.loc[[3, 10, 20, 30, 40, 50, 60], "mean radius"] = np.nan             # 7 missing
    cur.loc[[5, 15], "mean area"] = 1e6                                       # 3 out of range
    cur.loc[25, "mean area"] = -5.0
    cur["mean texture"] = cur["mean texture"].astype(object)
    cur.loc[[7, 17, 27, 37], "mean texture"] = "n/a"                          # 4 wrong type
    benign = cur.index[(cur["diagnosis"] == "benign") & (cur.index >= 100) & (cur.index < 200)]
    cur.loc[benign[:9], "diagnosis"] = "Benign "                              # 12 label variants
    cur.loc[benign[9:12], "diagnosis"] = "BENIGN"
    cur = cur.drop(columns="worst symmetry")                                 # schema: 1 missing
    cur["batch"] = "b1"                                                       # schema: 1 extra
    dups = cur.iloc[[200, 201, 202, 203, 204]]                                # 5 duplicates
    leaks = ref.iloc[[0, 1, 2, 3, 4, 5]].drop(columns="worst symmetry").assign(batch="b1")
    conflict = cur.iloc[[210, 211]].copy()                                    # 2 groups, 4 rows
    conflict["diagnosis"] = np.where(conflict["diagnosis"] == "benign", "malignant", "benign")
    cur = pd.concat([cur, dups, leaks, conflict], ignore_index=True)
    feats = [c for c in cur.columns if c not in ("diagnosis", "batch")]  # scan needs them in both
    res = run_check(DataValidityChecker, data=cur, reference=ref, target="diagnosis", features=feats)
    return cur, ref, res


def test_injected_missing_values(injected):
    cur, _, res = injected
    f = _one(res, "missing_values", "mean radius")
    assert f.evidence["count"] == 7 and f.value == pytest.approx(7 / len(cur))
    assert f.evidence["examples"] == [None] * 5
    assert f.evidence["expectation"]["type"] == "expect_column_values_to_not_be_null"


def test_injected_out_of_range(injected):
    cur, _, res = injected
    f = _one(res, "out_of_range", "mean area")
    assert f.evidence["count"] == 3
    assert sorted(f.evidence["examples"]) == [-5.0, 1e6, 1e6]
    assert f.value == pytest.approx(3 / len(cur))
    assert f.status == Status.FAIL  # 3 of 297 = 1.01%: above the default 1% fail level


def test_injected_type_mismatch(injected):
    _, _, res = injected
    f = _one(res, "type_mismatch", "mean texture")
    # only the offending cells, distinct examples, their rows
    assert f.evidence["count"] == 4 and f.evidence["examples"] == ["n/a"]
    assert f.evidence["rows"] == [7, 17, 27, 37]


def test_injected_schema_mismatch(injected):
    _, _, res = injected
    assert _one(res, "schema_mismatch", "worst symmetry").status == Status.FAIL
    assert _one(res, "schema_mismatch", "batch").status == Status.WARN


def test_injected_duplicates_leakage_conflicts(injected):
    cur, _, res = injected
    n = len(cur)
    dup = _one(res, "duplicate_rows", "current")
    assert dup.evidence["count"] == 5 and dup.evidence["rows"] == [n - 13 + i for i in range(5)]
    leak = _one(res, "train_test_leakage", "current")
    assert leak.evidence["count"] == 6 and leak.value == pytest.approx(6 / n)
    assert leak.status == Status.FAIL and leak.evidence["rows"] == list(range(n - 8, n - 2))
    conf = _one(res, "conflicting_labels", "diagnosis")
    assert conf.evidence["count"] == 4 and conf.evidence["groups"] == 2
    assert conf.evidence["rows"] == [210, 211, n - 2, n - 1]


def test_injected_label_inconsistency(injected):
    cur, ref, res = injected
    f = _one(res, "label_inconsistency", "benign")
    assert f.evidence["count"] == 12 and f.evidence["canonical"] == "benign"
    assert f.value == pytest.approx(12 / (len(cur) + len(ref)))
    spelled = {r["label"]: r["current_count"] for r in f.evidence["table"]}
    assert spelled["Benign "] == 9 and spelled["BENIGN"] == 3
    assert f.evidence["rows"] == [int(i) for i in np.flatnonzero(cur["diagnosis"].isin(["Benign ", "BENIGN"]))]
    assert f.evidence["reference_rows"] == []
    # the variants are not also reported as classes absent from the reference
    assert not _by_kind(res, "rare_class")


def test_injected_nothing_else(injected):
    _, _, res = injected
    expected = {("missing_values", "mean radius"), ("out_of_range", "mean area"),
                ("out_of_range", "worst fractal dimension"),  # the genuine one (see the clean split)
                ("type_mismatch", "mean texture"), ("schema_mismatch", "worst symmetry"),
                ("schema_mismatch", "batch"), ("duplicate_rows", "current"),
                ("train_test_leakage", "current"), ("conflicting_labels", "diagnosis"),
                ("label_inconsistency", "benign")}
    assert {(f.kind, f.subject) for f in res.findings if f.kind in INJECTED_KINDS} == expected


def test_rare_and_absent_classes(cancer):
    ref, cur = _split(cancer)
    cur = cur.copy()
    cur.loc[[1, 2, 3], "diagnosis"] = "uncertain"
    ref = ref[ref["diagnosis"] != "malignant"].head(150).reset_index(drop=True)
    ref = pd.concat([ref, cancer[cancer["diagnosis"] == "malignant"].head(40)], ignore_index=True)
    res = run_check(DataValidityChecker, data=cur, reference=ref, target="diagnosis")
    rare = {f.subject: (f.value, f.status) for f in _by_kind(res, "rare_class")}
    n_mal_cur = int((cur["diagnosis"] == "malignant").sum())
    assert rare == {"malignant": (min(40, n_mal_cur), Status.WARN), "uncertain": (0, Status.WARN)}
    assert "absent from the reference" in _one(res, "rare_class", "uncertain").message


def test_leakage_normalizes_text_whitespace_and_case():
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(7)
    ref = pd.DataFrame({"text": [fake.sentence() for _ in range(300)],
                        "city": [fake.city() for _ in range(300)],
                        "score": np.arange(300, dtype=float), "y": ["a", "b", "c"] * 100})
    cur = pd.DataFrame({"text": [fake.sentence() for _ in range(100)],
                        "city": [fake.city() for _ in range(100)],
                        "score": np.arange(1000, 1100, dtype=float), "y": ["a", "b"] * 50})
    cur.loc[0, ["text", "city", "score", "y"]] = ["  " + ref.loc[5, "text"].upper(), ref.loc[5, "city"], 5.0, "a"]
    cur.loc[1, ["text", "city", "score", "y"]] = [ref.loc[9, "text"].replace(" ", "\t "), ref.loc[9, "city"].lower(), 9.0, "c"]
    cur.loc[2, ["text", "city", "score", "y"]] = [ref.loc[11, "text"] + "!", ref.loc[11, "city"], 11.0, "a"]  # differs
    cur.loc[[3, 4], "text"] = ["", "   "]
    res = run_check(DataValidityChecker, data=cur, reference=ref, target="y", features=["text", "city", "score"])
    leak = _one(res, "train_test_leakage", "current")
    assert leak.evidence["count"] == 2 and leak.evidence["rows"] == [0, 1]
    empty = _one(res, "empty_sample", "text")
    assert empty.evidence["count"] == 2 and empty.evidence["rows"] == [3, 4]
    # class 'c' is in the training data, not in the evaluation data (except the leaked row)
    assert _one(res, "rare_class", "c").value == 1


def test_all_null_rows_and_outliers_iqr():
    wine = _frame(load_wine)
    wine.loc[[4, 9], :] = np.nan
    wine.loc[[20, 21, 22], "magnesium"] = 10_000.0
    res = run_check(DataValidityChecker, data=wine, target="label",
                    options={"data_validity": {"outlier_method": "iqr"}},
                    policy={"name": "t", "checks": {"data_validity": {"thresholds": {"outliers": {"warn": 0.0}}}}})
    empty = _one(res, "empty_sample", "all columns")
    assert empty.evidence["count"] == 2 and empty.evidence["rows"] == [4, 9]
    out = _by_kind(res, "outliers")
    assert len(out) == 1 and out[0].status == Status.WARN
    mg = [r for r in out[0].evidence["table"] if r["column"] == "magnesium"][0]
    assert mg["count"] == 3 and mg["rows"] == [20, 21, 22] and mg["method"] == "IQR"
    assert all(f.status != Status.FAIL for f in out)


def test_outliers_never_fail_by_default(cancer):
    res = run_check(DataValidityChecker, data=cancer, target="diagnosis", policy="default")
    assert [f.status for f in _by_kind(res, "outliers")] == [Status.WARN]


def test_representation_of_sensitive_groups():
    ref, cur = make_demo_data()
    cur = cur[~((cur["sex"] == "female") & (cur.index % 2 == 0))].reset_index(drop=True)
    res = run_check(DataValidityChecker, data=cur, reference=ref, sensitive=["sex"])
    f = _one(res, "representation", "sex")
    table = {r["group"]: r for r in f.evidence["table"]}
    assert table["female"]["current_count"] == int((cur["sex"] == "female").sum())
    assert table["female"]["reference_count"] == int((ref["sex"] == "female").sum())
    assert f.status == Status.WARN and f.evidence["charts"][0]["type"] == "histogram"


# ---------------------------------------------------------------- explicit expectations

def test_policy_expectations_and_suite_file(cancer, tmp_path):
    suite = {"name": "mine", "expectations": [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "mean smoothness", "max_value": 0.12}},
        {"expectation_type": "expect_column_to_exist", "kwargs": {"column": "patient_id"}}]}
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    policy_exp = [{"type": "expect_column_values_to_be_between",
                   "kwargs": {"column": "mean radius", "min_value": 7, "max_value": 25}},
                  {"type": "expect_column_mean_to_be_between", "column": "mean area",
                   "min_value": 0, "max_value": 100}]
    res = run_check(DataValidityChecker, data=cancer, target="diagnosis",
                    options={"data_validity": {"expectations": policy_exp}},
                    project={"project_dir": str(tmp_path), "expectation_suite": "suite.json"})
    radius = _one(res, "out_of_range", "mean radius")
    assert radius.evidence["count"] == int(((cancer["mean radius"] < 7) | (cancer["mean radius"] > 25)).sum())
    assert radius.status == Status.FAIL and radius.evidence["source"] == "the policy"
    smooth = _one(res, "out_of_range", "mean smoothness")
    assert smooth.evidence["count"] == int((cancer["mean smoothness"] > 0.12).sum())
    assert smooth.evidence["source"] == "suite file suite.json"
    mean_area = _one(res, "out_of_range", "mean area")
    assert mean_area.status == Status.FAIL and mean_area.value == pytest.approx(cancer["mean area"].mean())
    assert _one(res, "schema_mismatch", "patient_id").status == Status.FAIL
    assert res.metrics["expectations"]["from_policy"] == 2
    assert res.metrics["expectations"]["from_suite_file"] == 2


def test_unknown_policy_expectation_is_a_policy_error(cancer):
    with pytest.raises(PolicyError, match="checks.data_validity.options.expectations: "
                                          "expect_values_to_be_nice: .*not found"):
        run_check(DataValidityChecker, data=cancer,
                  options={"data_validity": {"expectations": [{"type": "expect_values_to_be_nice",
                                                               "kwargs": {}}]}})


def test_great_expectations_is_quiet_and_offline(cancer, capfd, monkeypatch):
    monkeypatch.delenv("GX_ANALYTICS_ENABLED", raising=False)
    context = gxs.make_context()
    assert context.config.analytics_enabled is False
    assert context.config.progress_bars.globally is False
    ref, cur = _split(cancer)
    seen = {}

    class Spy(DataValidityChecker):
        def run(self, ctx):
            seen["env"] = os.environ.get("GX_ANALYTICS_ENABLED")
            return super().run(ctx)

    run_check(Spy, data=cur, reference=ref, target="diagnosis")
    assert seen["env"] == "false"  # while the checker runs...
    assert "GX_ANALYTICS_ENABLED" not in os.environ  # ...and not after: the host process keeps its own
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# ---------------------------------------------------------------- hostile inputs

def test_hostile_columns_produce_findings_not_crashes():
    frame = pd.DataFrame({
        "all_null": [np.nan] * 6,
        "ünïcødé 列": ["ä", "ß", "ǅ", "ﬁ", "😀", "ä"],
        "<script>alert(1)</script>": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "mixed": [1, "two", 3, None, "five", 6],
        "y": ["a", "a", "b", "b", "a", "b"],
    })
    res = check_checker(DataValidityChecker, data=frame, target="y")
    assert _one(res, "missing_values", "all_null").status == Status.FAIL
    mixed = _one(res, "type_mismatch", "mixed")
    assert mixed.evidence["count"] == 2 and sorted(mixed.evidence["examples"]) == ["five", "two"]
    res = check_checker(DataValidityChecker, data=frame.iloc[3:], reference=frame.iloc[:3], target="y")
    assert res.status != Status.ERROR
    single = check_checker(DataValidityChecker, data=frame.iloc[:1], reference=frame.iloc[:1])
    assert _one(single, "train_test_leakage", "current").evidence["count"] == 1


def test_pii_columns_are_masked_in_examples():
    ref, cur = make_demo_data()
    from riskaudit.checks.base import CheckContext
    from riskaudit.data import load_dataset
    from riskaudit.policy import load_policy

    ctx = CheckContext(checker_id="data_validity", data=load_dataset(cur), reference=load_dataset(ref),
                       target="decision", features=tuple(FEATURES), sensitive=(), ids=("applicant_id",),
                       task="classification", model=None, classes=None, seed=0, device="cpu",
                       levels=load_policy("default").levels(DataValidityChecker),
                       shared={"pii_columns": {"email": "EMAIL_ADDRESS", "name": "PERSON"}})
    cur.loc[5, "email"] = 42  # a number among e-mail addresses
    ctx.data = load_dataset(cur)
    out = DataValidityChecker().run(ctx)
    f = [x for x in out.findings if x.kind == "type_mismatch" and x.subject == "email"][0]
    assert f.evidence["count"] == 1 and f.evidence["examples"] == ["4***@***"]


# ---------------------------------------------------------------- images

def _digits():
    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[:, None], d.target


def test_npz_images_duplicates_leakage_blank(tmp_path):
    x, y = _digits()
    ref_x, ref_y = x[:1000], y[:1000]
    cur_x = np.concatenate([x[1000:1400], ref_x[[3, 7, 9]], x[[1000]], np.zeros((1, 1, 8, 8), np.float32),
                            np.ones((1, 1, 8, 8), np.float32)])
    cur_y = np.concatenate([y[1000:1400], ref_y[[3, 7, 9]], (y[[1000]] + 1) % 10, [0, 1]])
    np.savez(tmp_path / "ref.npz", x=ref_x, y=ref_y)
    np.savez(tmp_path / "cur.npz", x=cur_x, y=cur_y)
    res = check_checker(DataValidityChecker, data=tmp_path / "cur.npz", reference=tmp_path / "ref.npz")
    leak = _one(res, "train_test_leakage", "images")
    assert leak.evidence["count"] == 3 and leak.evidence["rows"] == [400, 401, 402]
    dup = _one(res, "duplicate_rows", "images")
    assert dup.evidence["count"] == 1 and dup.evidence["rows"] == [403]
    conf = _one(res, "conflicting_labels", "y")
    assert conf.evidence["count"] == 2 and conf.evidence["rows"] == [0, 403]
    blank = _one(res, "empty_sample", "images")
    assert blank.evidence["count"] == 2 and blank.evidence["rows"] == [404, 405]
    assert res.metrics["images"]["reference"]["per_class"]["0"] == int((ref_y == 0).sum())
    assert not _by_kind(res, "out_of_range") and not _by_kind(res, "missing_values")


def test_image_folder_with_unreadable_file(tmp_path):
    x, y = _digits()
    for i in range(12):
        folder = tmp_path / "imgs" / f"d{y[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((x[i, 0] * 255).astype(np.uint8)).save(folder / f"{i}.png")
    (tmp_path / "imgs" / "d0" / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "imgs" / "d1" / "blank.png")
    res = check_checker(DataValidityChecker, data=tmp_path / "imgs")
    bad = _one(res, "unreadable_file", "files")
    assert bad.evidence["count"] == 1 and bad.evidence["table"][0]["path"] == "d0/broken.png"
    assert _one(res, "empty_sample", "images").evidence["count"] == 1
    assert sum(res.metrics["images"]["current"]["per_class"].values()) == 13


# ---------------------------------------------------------------- the demo

def test_demo_defects_are_found():
    ref, cur = make_demo_data()
    res = check_checker(DataValidityChecker, data=cur, reference=ref, target="decision",
                        features=FEATURES, sensitive=SENSITIVE, ids=["applicant_id"], policy="default")
    leak = _one(res, "train_test_leakage", "current")
    assert leak.evidence["count"] == 40 and leak.status == Status.FAIL
    assert leak.evidence["rows"] == list(range(1160, 1180))
    lab = _one(res, "label_inconsistency", "approved")
    assert lab.evidence["count"] == 14 and lab.evidence["canonical"] == "approved"
    assert {r["label"] for r in lab.evidence["table"]} == {"Approved", "approved ", "approved"}
    assert lab.evidence["rows"] == [int(i) for i in np.flatnonzero(cur["decision"].isin(["Approved", "approved "]))]
    age = _one(res, "out_of_range", "age")
    assert age.evidence["count"] == 2 and sorted(age.evidence["examples"]) == [-3, 212]
    assert _one(res, "out_of_range", "debt_ratio").evidence["examples"] == [3.5]
    rare = _one(res, "rare_class", "manual_review")
    assert rare.evidence["counts"]["reference"] < 100 and rare.status == Status.WARN
    assert res.status == Status.FAIL


def test_duplicated_ids_break_the_inferred_uniqueness():
    ref, cur = make_demo_data()
    cur = cur.copy()
    cur.loc[[10, 11, 12], "applicant_id"] = cur.loc[[0, 1, 2], "applicant_id"].to_numpy()
    res = run_check(DataValidityChecker, data=cur, reference=ref, target="decision",
                    features=FEATURES, ids=["applicant_id"])
    f = _one(res, "duplicate_rows", "applicant_id")
    # great-expectations counts every row that shares an id: 3 originals + 3 copies
    assert f.evidence["count"] == 6
    assert f.evidence["expectation"]["type"] == "expect_column_values_to_be_unique"
    assert sorted(f.evidence["examples"]) == sorted(cur.loc[[0, 1, 2], "applicant_id"].tolist() * 2)[:5]


def test_roles_decide_what_is_compared_and_the_summary_says_so():
    """With only train and data, the expectations come from the training data (a range the
    training data never had is out of range); with neither, the summary says leakage was not
    checked. pandas is the oracle for the out-of-range count."""
    from sklearn.datasets import load_wine

    from riskaudit.checks.data_validity import DataValidityChecker
    from riskaudit.testing import run_check

    wine = load_wine(as_frame=True).frame
    train, data = wine.iloc[::2].reset_index(drop=True), wine.iloc[1::2].reset_index(drop=True).copy()
    data.loc[:4, "alcohol"] = train["alcohol"].max() * 3  # five values far beyond the training range
    res = run_check(DataValidityChecker, data=data, train=train, target="target")
    oor = [f for f in res.findings if f.kind == "out_of_range" and f.subject.startswith("alcohol")]
    assert oor, [f.id for f in res.findings]
    expected = int((data["alcohol"] > train["alcohol"].max()).sum())
    assert expected == 5 and oor[0].evidence["count"] == expected
    assert oor[0].evidence["source"] == "inferred from the training data"
    assert "come from the training data" in res.summary
    alone = run_check(DataValidityChecker, data=data, target="target")
    assert "Leakage between training and evaluation data was not checked" in alone.summary


# ---------------------------------------------------------------- pandas path, great-expectations as the oracle

def _hostile_wine():
    """Wine with defects of every kind the inferred suite checks: nulls in float, int and text
    columns, out-of-range and infinite values, unseen and non-string categories, duplicated
    ids, an extra column; plus an all-null column and a text column of numbers."""
    df = _frame(load_wine)
    df["id"] = np.arange(len(df), dtype=np.int64)
    df.loc[[3, 7, 7 + 40], "id"] = [5, 9, 9]
    df["ash_int"] = (df["ash"] * 10).round().astype(np.int64)
    df["label_obj"] = df["label"].astype(object)
    df.loc[[2, 11], "label_obj"] = [None, np.nan]
    df.loc[[4, 6, 8], "label_obj"] = ["class_9", 3, "class_0 "]
    df.loc[[1, 5], "alcohol"] = [np.nan, np.inf]
    df.loc[[10, 12], "magnesium"] = [-4.0, 1e9]
    df["empty"] = np.full(len(df), np.nan)
    df["nums_as_text"] = df["proline"].astype(str)
    df["extra"] = 1
    return df


def _spec_grid(df):
    S = gxs.Spec
    labels = sorted(f"class_{i}" for i in range(3))
    specs = [S("expect_table_columns_to_match_set", {"column_set": [c for c in df.columns if c != "extra"]
                                                     + ["gone"], "exact_match": True}, "t"),
             S("expect_table_columns_to_match_set", {"column_set": [c for c in df.columns if c != "extra"],
                                                     "exact_match": False}, "t"),
             S("expect_table_columns_to_match_set", {"column_set": list(df.columns)}, "t")]
    for col in ("alcohol", "ash_int", "label_obj", "empty", "id", "magnesium"):
        specs += [S("expect_column_values_to_not_be_null", {"column": col}, "t"),
                  S("expect_column_values_to_not_be_null", {"column": col, "mostly": 0.99}, "t"),
                  S("expect_column_values_to_be_unique", {"column": col}, "t")]
    for col, lo, hi in (("alcohol", 11.5, 14.5), ("magnesium", 70, 160), ("ash_int", 15, 30),
                        ("id", 0, None), ("id", None, 100), ("empty", 0, 1), ("magnesium", 70.5, 70.5)):
        specs += [S("expect_column_values_to_be_between", {"column": col, "min_value": lo, "max_value": hi}, "t"),
                  S("expect_column_values_to_be_between", {"column": col, "min_value": lo, "max_value": hi,
                                                           "mostly": 0.95}, "t")]
    for col in ("label_obj", "label", "nums_as_text", "empty"):
        specs += [S("expect_column_values_to_be_in_set", {"column": col, "value_set": labels}, "t"),
                  S("expect_column_values_to_be_in_set", {"column": col, "value_set": labels + [3], "mostly": 0.98},
                    "t")]
    specs.append(S("expect_column_values_to_be_in_set", {"column": "ash_int", "value_set": [20, 21, 22]}, "t"))
    return specs


@pytest.mark.parametrize("rows", [slice(None), slice(0, 0), slice(0, 3)])
def test_pandas_path_equals_great_expectations_on_every_inferred_type(rows):
    df = _hostile_wine().iloc[rows].reset_index(drop=True)
    specs = _spec_grid(df)
    assert all(gxs.native_arguments(s) for s in specs)
    ours = [gxs.validate_native(df, s) for s in specs]
    oracle = gxs.validate_gx(df, specs)  # one suite per column: grouped by column
    by_spec = {id(o.spec): o for o in oracle}
    assert len(by_spec) == len(specs)
    compared = 0
    for spec, mine in zip(specs, ours):
        theirs = by_spec[id(spec)]
        assert theirs.error is None, (spec, theirs.error)
        if mine is None:  # only int64/float64 ranges are computed with pandas
            assert spec.type == "expect_column_values_to_be_between" and df[spec.kwargs["column"]].dtype.kind not in "if"
            continue
        compared += 1
        assert (mine.success, mine.rows, mine.unexpected_count, mine.observed, dict(mine.details)) == \
               (theirs.success, theirs.rows, theirs.unexpected_count, theirs.observed, dict(theirs.details)), spec
        assert [(type(v), v) for v in mine.examples] == [(type(v), v) for v in theirs.examples], spec
    assert compared >= len(specs) - 2
    if rows == slice(None):  # the grid is not vacuous: both verdicts and counts of several sizes occur
        assert {o.success for o in oracle} == {True, False}
        assert len({o.unexpected_count for o in oracle if o.unexpected_count is not None}) >= 5


def test_other_expectations_and_arguments_go_to_great_expectations():
    df = _hostile_wine()
    df["ash_i32"] = df["ash_int"].astype(np.int32)  # great-expectations compares it value by value
    S = gxs.Spec
    others = [S("expect_column_values_to_be_between", {"column": "alcohol", "min_value": 12, "max_value": 14,
                                                       "strict_min": True}, "t"),
              S("expect_column_mean_to_be_between", {"column": "alcohol", "min_value": 12, "max_value": 14}, "t"),
              S("expect_column_values_to_be_between", {"column": "ash_i32", "min_value": 15, "max_value": 30}, "t"),
              S("expect_column_values_to_be_in_type_list", {"column": "label_obj", "type_list": ["str"]}, "t")]
    assert [gxs.validate_native(df, s) is None for s in others] == [True, True, True, True]
    outs = gxs.validate(df, others + [S("expect_column_values_to_not_be_null", {"column": "nope"}, "t")])
    assert outs[0].details == {"missing_columns": ["nope"]}
    assert [o.spec for o in outs[1:]] == others and all(o.error is None for o in outs[1:])
    oracle = gxs.validate_native(df, S("expect_column_values_to_be_between",
                                       {"column": "ash_int", "min_value": 15, "max_value": 30}, "t"))
    assert outs[3].unexpected_count == oracle.unexpected_count > 0
    assert (outs[4].unexpected_count, outs[4].examples) == (1, [3])  # the one integer among the labels
    # arguments the pandas path does not vouch for are checked by great-expectations
    for bad in ({"column": "a", "min_value": "x", "max_value": 1}, {"column": "a", "mostly": 2},
                {"column": "a", "min_value": None, "max_value": None}, {"column": 3, "min_value": 1}):
        spec = S("expect_column_values_to_be_between", bad, "t")
        assert not gxs.native_arguments(spec)
        with pytest.raises(ValueError):
            gxs.check_spec(spec)
    # accepted by great-expectations, then an error when run: the same path as before
    upside_down = S("expect_column_values_to_be_between", {"column": "alcohol", "min_value": 3, "max_value": 1}, "t")
    gxs.check_spec(upside_down)
    (out,) = gxs.validate(df, [upside_down])
    assert not gxs.native_arguments(upside_down) and "greater than max_value" in (out.error or "")


def test_a_scan_without_other_expectations_never_imports_great_expectations(tmp_path):
    """A fresh interpreter runs the whole check (the demo's policy expectation included)."""
    import subprocess
    import sys

    ref, cur = _split(_hostile_wine().drop(columns=["extra"]))
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    code = (
        "import sys\n"
        "from riskaudit.checks.data_validity import DataValidityChecker\n"
        "from riskaudit.testing import run_check\n"
        f"res = run_check(DataValidityChecker, data={str(tmp_path / 'cur.csv')!r}, "
        f"reference={str(tmp_path / 'ref.csv')!r}, target='label', ids=['id'],\n"
        "    options={'data_validity': {'expectations': [{'type': 'expect_column_values_to_be_between',\n"
        "             'kwargs': {'column': 'alcohol', 'min_value': 12, 'max_value': 14}}]}})\n"
        "print(res.status.value, res.metrics['expectations']['evaluated'], res.metrics['expectations']['failed'])\n"
        "print('great_expectations' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    status_line, modules_line = proc.stdout.strip().splitlines()[-2:]
    status, evaluated, failed = status_line.split()
    assert status == "fail" and int(evaluated) > 10 and int(failed) >= 2, status_line
    assert modules_line == "False", proc.stdout


def test_counts_in_messages_are_grouped_on_a_wide_table():
    """2,000 numeric columns (a wide sensor table), each with one planted outlier: the message
    counts them as a person reads a count ("2,000 numeric columns"), as pandas counts them."""
    rng = np.random.default_rng(5)
    wide = pd.DataFrame(rng.normal(size=(60, 2000)), columns=[f"s{i}" for i in range(2000)])
    wide.iloc[0, :] = 50.0
    res = run_check(DataValidityChecker, data=wide, policy={"name": "t"})
    (f,) = [f for f in res.findings if "numeric columns" in f.message]
    n = int(((wide - wide.median()).abs() > 10).any().sum())  # pandas: columns holding the planted value
    assert n == 2000 and f"{n:,} numeric columns" in f.message, f.message
