"""Column and data roles: default features, input problems as exit 2 before any checker,
the three data roles (train / reference / data)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import riskaudit
from riskaudit.errors import InputError
from helpers import assert_usage_error, run_cli
from quickstart_support import build_example, feature_columns


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return build_example(tmp_path_factory.mktemp("bc"))


def test_default_features_leave_out_target_ids_sensitive(example):
    rep = riskaudit.scan(model=str(example["model"]), data=str(example["eval"]),
                         reference=str(example["validation"]), target="label", ids=["patient_id"],
                         sensitive=["sex", "age_band"], checks=["data_validity"])
    feats = rep.manifest["inputs"]["features"]
    assert feats == feature_columns(pd.read_csv(example["eval"]))
    assert "sex" not in feats and "age_band" not in feats and "patient_id" not in feats


def test_sensitive_is_a_feature_only_when_listed(example):
    frame = pd.read_csv(example["eval"])
    with pytest.raises(InputError, match=r"not numeric \('sex'\)"):
        riskaudit.scan(model=str(example["model"]), data=frame, target="label", ids=["patient_id"],
                       sensitive=["age_band"], features=feature_columns(frame) + ["sex"],
                       checks=["data_validity"])


def test_width_mismatch_is_exit_2_naming_counts_and_columns(example, tmp_path):
    # no --ids: patient_id becomes a 31st input of a 30-input model
    proc = run_cli("scan", "--model", str(example["model"]), "--data", str(example["eval"]),
                   "--target", "label", "--sensitive", "sex", "--sensitive", "age_band",
                   "--out", str(tmp_path / "a"))
    assert_usage_error(proc, "the model takes 30 inputs", "31 feature columns", "'patient_id'",
                       "--features", "--ids ('patient_id' looks like an id)")
    assert not (tmp_path / "a").exists()


def test_non_numeric_features_are_exit_2_before_checkers(example, tmp_path):
    proc = run_cli("scan", "--model", str(example["model"]), "--data", str(example["eval"]),
                   "--target", "label", "--ids", "patient_id", "--sensitive", "sex",
                   "--out", str(tmp_path / "b"))
    assert_usage_error(proc, "1 of the 31 feature columns", "not numeric ('age_band')", "--features",
                       "--sensitive ('age_band')")
    assert not (tmp_path / "b").exists()


def test_probe_call_failure_is_exit_2(tmp_path):
    import torch

    class Picky(torch.nn.Module):  # takes exactly 3 inputs, but declares no Linear first layer
        def forward(self, x):
            if x.shape[1] != 3:
                raise ValueError(f"expected 3 inputs, got {x.shape[1]}")
            return torch.stack([x.sum(1), -x.sum(1)], 1)

    df = pd.DataFrame({"a": np.arange(40.0), "b": 1.0, "y": [0, 1] * 20})
    with pytest.raises(InputError, match=r"could not be called on the 2 feature columns .*expected 3 inputs"):
        riskaudit.scan(model=Picky(), data=df, target="y", checks=["data_validity"])


def test_output_width_must_match_classes():
    import torch

    df = pd.DataFrame({"a": np.arange(40.0), "y": ["p", "q"] * 20})
    model = torch.nn.Linear(1, 3)
    with pytest.raises(InputError, match="gives 3 scores per row, but there are 2 classes"):
        riskaudit.scan(model=model, data=df, target="y", checks=["data_validity"])


def test_leakage_uses_train_and_drift_uses_reference(example):
    train = pd.read_csv(example["train"])
    ev = pd.concat([pd.read_csv(example["eval"]), train.iloc[:10]], ignore_index=True)
    rep = riskaudit.scan(data=ev, train=train, reference=str(example["validation"]), target="label",
                         ids=["patient_id"], sensitive=["sex", "age_band"], checks=["data_validity"])
    dv = next(c for c in rep.checks if c.id == "data_validity")
    leak = [f for f in dv.findings if f.id == "data_validity.train_test_leakage"]
    assert len(leak) == 1 and leak[0].evidence["count"] == 10 and "training data" in leak[0].message
    assert rep.subject["datasets"]["train"]["rows"] == len(train)
    assert rep.subject["datasets"]["reference"]["rows"] == len(pd.read_csv(example["validation"]))
    # without a reference, drift is skipped with its reason: training data is never its baseline
    rep2 = riskaudit.scan(data=ev, train=train, target="label", ids=["patient_id"], checks=["drift"])
    drift = next(c for c in rep2.checks if c.id == "drift")
    assert drift.status.value == "skipped" and "--reference" in drift.summary


def test_project_file_train_key(example, tmp_path):
    from riskaudit.project import load_project

    (tmp_path / "riskaudit.yaml").write_text(
        f"train: {example['train']}\npredictions: pred\nscores: [p0, p1]\n")
    values = load_project(tmp_path / "riskaudit.yaml").values
    assert values["train"] == str(example["train"]) and values["scores"] == ["p0", "p1"]


def test_training_data_as_reference_is_refused_or_flagged(example):
    with pytest.raises(InputError, match="hold the same data"):
        riskaudit.scan(data=str(example["eval"]), train=str(example["train"]), reference=str(example["train"]),
                       target="label", ids=["patient_id"], sensitive=["sex", "age_band"], checks=["drift"])


def test_old_projects_with_training_data_as_reference_are_told_what_is_unreliable(tmp_path):
    from riskaudit.demo import CLASSES, FEATURES, prepare_demo

    prepare_demo(tmp_path)
    fast = {"drift": {"multivariate_method": "none", "latency_repeats": 3, "bootstrap": 50}}
    old = riskaudit.scan(data=str(tmp_path / "data/current.csv"), reference=str(tmp_path / "data/train.csv"),
                         model=str(tmp_path / "model.pt"), target="decision", features=FEATURES, classes=CLASSES,
                         checks=["drift"], options=fast)
    drift = old.check("drift")
    assert any(f.kind == "concept_drift" and f.status.value != "pass" for f in drift.findings)
    assert "No training data was given (--train)" in drift.summary
    new = riskaudit.scan(data=str(tmp_path / "data/current.csv"), reference=str(tmp_path / "data/validation.csv"),
                         train=str(tmp_path / "data/train.csv"), model=str(tmp_path / "model.pt"), target="decision",
                         features=FEATURES, classes=CLASSES, checks=["drift"], options=fast)
    assert "No training data was given" not in new.check("drift").summary


def test_training_data_is_scanned_for_personal_data(tmp_path):
    train = pd.DataFrame({"email": [f"user{i}@example.org" for i in range(40)], "x": np.arange(40.0),
                          "y": [0, 1] * 20})
    data = pd.DataFrame({"x": np.arange(40.0), "y": [0, 1] * 20})
    rep = riskaudit.scan(data=data, train=train, target="y", checks=["pii"])
    found = [f for f in rep.check("pii").findings if f.kind == "pii_detected"]
    assert [(f.subject, f.evidence.get("dataset")) for f in found] == [("email", "train")]


def test_ids_option_is_repeatable_and_comma_separated(example, tmp_path):
    for args in (["--ids", "patient_id", "--ids", "age_band"], ["--ids", "patient_id,age_band"]):
        out = tmp_path / "r"
        proc = run_cli("scan", "--model", str(example["model"]), "--data", str(example["eval"]), "--target", "label",
                       *args, "--sensitive", "sex", "--check", "data_validity", "--out", str(out), "--format", "json")
        assert proc.returncode in (0, 1), proc.stderr
        inputs = json.loads((out / "report.json").read_text())["manifest"]["inputs"]
        assert inputs["ids"] == ["patient_id", "age_band"] and len(inputs["features"]) == 30


def test_onnx_signature_width_mismatch_is_exit_2(example, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import warnings

    import torch

    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Linear(30, 2), torch.zeros(1, 30), str(path), dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "n"}})
    frame = pd.read_csv(example["eval"])
    with pytest.raises(InputError, match=r"the model takes 30 inputs, but --data .* has 31 feature columns"):
        riskaudit.scan(model=str(path), data=frame, target="label", sensitive=["sex", "age_band"],
                       checks=["data_validity"])
    rep = riskaudit.scan(model=str(path), data=frame, target="label", ids=["patient_id"],
                         sensitive=["sex", "age_band"], checks=["performance"])
    assert rep.check("performance").status.value != "error"
