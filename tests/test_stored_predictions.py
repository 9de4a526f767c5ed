"""Models that are not PyTorch, audited through their stored predictions (--predictions /
--scores): the figures equal those of the same predictions made through a model, and the
checks that need the model itself are skipped with that reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import riskaudit
from riskaudit.checks.base import STORED_PREDICTIONS_REASON
from riskaudit.errors import InputError
from helpers import assert_usage_error, run_cli
from quickstart_support import breast_cancer_frame, feature_columns, splits

ROLES = dict(target="label", ids=["patient_id"], sensitive=["sex", "age_band"], seed=3)
CHECKS = ["performance", "fairness", "drift", "data_validity", "robustness", "consistency"]


@pytest.fixture(scope="module")
def parts():
    p = splits(breast_cancer_frame(1), 1)
    feats = feature_columns(p["train"])
    lr = make_pipeline(StandardScaler(), LogisticRegression()).fit(p["train"][feats].to_numpy(np.float32),
                                                                   p["train"]["label"])
    logged = {}
    for name, frame in p.items():
        proba = lr.predict_proba(frame[feats].to_numpy(np.float32))
        logged[name] = frame.assign(pred=np.asarray(lr.classes_)[proba.argmax(1)],
                                    score_benign=proba[:, 0], score_malignant=proba[:, 1])
    return p, logged, lr


def _values(report):
    out = {}
    for c in report.checks:
        for f in c.findings:
            if f.id.startswith("drift.model") or f.id.startswith("data_validity"):
                continue
            out[(f.id, f.subject)] = f.value
    return out


def test_stored_scores_give_the_figures_of_the_model(parts, tmp_path):
    p, logged, lr = parts
    outcome_checks = [c for c in CHECKS if c not in ("robustness", "consistency")]
    through_model = riskaudit.scan(model=lr.predict_proba, data=p["eval"], train=p["train"],
                                   reference=p["validation"], checks=outcome_checks, **ROLES)
    # the same predictions, written to CSV files as a prediction log, without a model
    paths = {}
    for name, frame in logged.items():
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    stored = riskaudit.scan(data=str(paths["eval"]), train=str(paths["train"]),
                            reference=str(paths["validation"]), predictions="pred",
                            scores=["score_benign", "score_malignant"], checks=CHECKS, **ROLES)
    assert stored.manifest["inputs"]["features"] == through_model.manifest["inputs"]["features"]
    a, b = _values(through_model), _values(stored)
    assert set(a) == set(b) and any(k[0].startswith("performance.") for k in a)
    assert any(k[0].startswith("fairness.") for k in a) and ("drift.prediction_drift", "predicted class") in a
    for key in a:
        if isinstance(a[key], float):
            assert b[key] == pytest.approx(a[key], abs=1e-6), key
        else:
            assert b[key] == a[key], key
    assert through_model.check("performance").metrics["data"] == pytest.approx(
        stored.check("performance").metrics["data"], abs=1e-6)
    for cid in ("robustness", "consistency"):
        assert stored.check(cid).status.value == "skipped"
        assert STORED_PREDICTIONS_REASON in stored.check(cid).summary
    assert "model_drift" in stored.check("drift").metrics["skipped"]
    assert all(c.status.value != "error" for c in stored.checks)


def test_predicted_labels_alone_skip_the_score_metrics(parts):
    p, logged, lr = parts
    rep = riskaudit.scan(data=logged["eval"], train=logged["train"], predictions="pred",
                         checks=["performance", "fairness"], **ROLES)
    perf = rep.check("performance")
    assert perf.status.value != "error"
    assert "--scores" in perf.metrics["skipped"]["roc_auc, log_loss, calibration"]
    feats = feature_columns(p["eval"])
    labels = lr.predict(p["eval"][feats].to_numpy(np.float32))
    assert perf.metrics["data"]["accuracy"] == pytest.approx(np.mean(labels == p["eval"]["label"]), abs=1e-6)  # rounded to 6 places


def test_bad_stored_predictions_are_exit_2(parts, tmp_path):
    _, logged, _ = parts
    bad = logged["eval"].copy()
    bad.loc[0, "pred"] = "maybe"
    with pytest.raises(InputError, match="'maybe'"):
        riskaudit.scan(data=bad, predictions="pred", checks=["performance"], **ROLES)
    with pytest.raises(InputError, match="either --model or stored predictions"):
        riskaudit.scan(data=bad, model=lambda x: x, predictions="pred", **ROLES)
    path = tmp_path / "log.csv"
    logged["eval"].to_csv(path, index=False)
    proc = run_cli("scan", "--data", str(path), "--target", "label", "--ids", "patient_id",
                   "--scores", "score_benign,nope", "--out", str(tmp_path / "o"))
    assert_usage_error(proc, "'nope'")
    proc = run_cli("scan", "--data", str(path), "--target", "label", "--ids", "patient_id", "--sensitive", "sex",
                   "--sensitive", "age_band", "--predictions", "pred", "--scores", "score_benign,score_malignant",
                   "--check", "performance", "--check", "fairness", "--out", str(tmp_path / "ok"))
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads((tmp_path / "ok" / "report.json").read_text())
    assert report["subject"]["model"]["format"] == "predictions"
    import jsonschema
    from riskaudit.reports.json_report import load_schema

    jsonschema.validate(report, load_schema())


def test_the_command_line_choice_of_what_stands_for_the_model_wins_over_the_project_file(parts, tmp_path):
    """Seen in a quick start: `riskaudit init` wrote `model: model.pt` into riskaudit.yaml, then
    `riskaudit scan --predictions pred --scores ...` stopped with "give either --model or stored
    predictions, not both" although the command line named no model. Command-line options
    override the project file's keys; the model and the stored predictions are one setting."""
    import torch

    p, logged, _ = parts
    logged["eval"].to_csv(tmp_path / "log.csv", index=False)
    feats = feature_columns(p["train"])
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Linear(len(feats), 2), torch.nn.Softmax(dim=1))),
                   str(tmp_path / "model.pt"))
    (tmp_path / "riskaudit.yaml").write_text(
        "model: model.pt\ndata: log.csv\ntarget: label\nids: [patient_id]\nsensitive: [sex, age_band]\n"
        f"features: {json.dumps(feats)}\n")
    proc = run_cli("scan", "--predictions", "pred", "--scores", "score_benign,score_malignant",
                   "--check", "performance", "--out", "a", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads((tmp_path / "a" / "report.json").read_text())["subject"]["model"]["format"] == "predictions"
    # and the other way round: a project file of stored predictions, a model on the command line
    (tmp_path / "riskaudit.yaml").write_text(
        "predictions: pred\ndata: log.csv\ntarget: label\nids: [patient_id]\nsensitive: [sex, age_band]\n"
        f"features: {json.dumps(feats)}\n")
    proc = run_cli("scan", "--model", "model.pt", "--check", "performance", "--out", "b", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads((tmp_path / "b" / "report.json").read_text())["subject"]["model"]["format"] == "torchscript"
