"""The loan_cost plugin: riskaudit's conformance suite, and its figures against scikit-learn."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import confusion_matrix

from riskaudit.demo import prepare_demo
from riskaudit.project import load_project
from riskaudit.testing import Case, parametrize_with_checks, run_check
from riskaudit_loan_cost import LoanCostChecker

_FOLDER = tempfile.mkdtemp(prefix="loan-cost-")  # cases are built at collection time
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
DEMO = load_project(prepare_demo(Path(_FOLDER) / "inputs")).values
MODEL = torch.jit.load(DEMO["model"])
INPUTS = {k: DEMO[k] for k in ("data", "target", "features", "sensitive", "ids", "classes")}


@parametrize_with_checks([
    Case(LoanCostChecker, **INPUTS, model=MODEL),
    Case(LoanCostChecker, name="no-amount-column", allow_skip=True, **INPUTS, model=MODEL,
         options={"loan_cost": {"amount_column": "no_such_column"}}),
])
def test_conformance(case, check):
    check(case)


def test_expected_cost_and_group_ratio_agree_with_sklearn_and_pandas():
    lgd, margin = 0.45, 0.04
    model = torch.jit.load(DEMO["model"]).eval()  # deterministic predictions for the oracle
    res = run_check(LoanCostChecker, **INPUTS, model=model,
                    options={"loan_cost": {"loss_given_default": lgd, "margin": margin}})
    frame = pd.read_csv(DEMO["data"])
    with torch.no_grad():
        logits = model(torch.as_tensor(frame[DEMO["features"]].to_numpy(dtype=np.float32))).numpy()
    pred = np.array(DEMO["classes"])[logits.argmax(1)] == "approved"
    truth = (frame[DEMO["target"]] == "approved").to_numpy()
    tn, fp, fn, tp = confusion_matrix(truth, pred, labels=[False, True]).ravel()
    amount = frame["loan_amount"].to_numpy(dtype=float)
    cost_fa = lgd * amount[pred & ~truth].sum()
    cost_fd = margin * amount[~pred & truth].sum()

    overall = next(f for f in res.findings if f.kind == "expected_cost")
    rows = {r["decision error"]: r for r in overall.evidence["errors"]}
    assert rows["approved, should have been refused"]["applications"] == fp
    assert rows["refused, should have been approved"]["applications"] == fn
    assert rows["approved, should have been refused"]["cost (EUR)"] == pytest.approx(cost_fa, abs=0.01)
    assert rows["refused, should have been approved"]["cost (EUR)"] == pytest.approx(cost_fd, abs=0.01)
    assert overall.value == pytest.approx((cost_fa + cost_fd) / len(frame) / amount.mean(), abs=1e-4)

    per_row = np.where(pred & ~truth, lgd * amount, 0) + np.where(~pred & truth, margin * amount, 0)
    by_sex = pd.Series(per_row).groupby(frame["sex"].astype(str)).mean() / amount.mean()
    sex = next(f for f in res.findings if f.kind == "group_cost_ratio" and f.subject == "sex")
    assert sex.value == pytest.approx(by_sex.max() / by_sex.min(), rel=1e-3)
    assert {g["group"] for g in sex.evidence["groups"]} == set(by_sex.index)


def test_decision_costs_against_confusion_matrix_on_fixed_predictions():
    from riskaudit_loan_cost import decision_costs

    rng = np.random.default_rng(0)
    truth, pred = rng.random(500) < 0.6, rng.random(500) < 0.5
    amount = rng.uniform(1_000, 50_000, 500)
    costs = decision_costs(pred, truth, amount, loss_given_default=0.5, margin=0.1)
    tn, fp, fn, tp = confusion_matrix(truth, pred, labels=[False, True]).ravel()
    assert costs["false_approval"].sum() == fp and costs["false_denial"].sum() == fn
    expected = 0.5 * amount[pred & ~truth].sum() + 0.1 * amount[~pred & truth].sum()
    assert costs["cost"].sum() == pytest.approx(expected, rel=1e-12)
