"""The money a credit model's wrong decisions cost: a riskaudit checker plugin (``loan_cost``).

Written only against riskaudit's documented plugin API (``riskaudit.checks.base``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskaudit.checks.base import CheckContext, Checker, CheckOutput, CheckSkipped, Kind, Need, Option
from riskaudit.result import Severity

__all__ = ["LoanCostChecker", "decision_costs"]
__version__ = "0.1.0"


def decision_costs(approved_pred: np.ndarray, approved_true: np.ndarray, amount: np.ndarray, *,
                   loss_given_default: float, margin: float) -> pd.DataFrame:
    """One row per application: what its decision costs (0 when it is right)."""
    false_approval = approved_pred & ~approved_true
    false_denial = ~approved_pred & approved_true
    cost = np.where(false_approval, loss_given_default * amount, 0.0) + np.where(false_denial, margin * amount, 0.0)
    return pd.DataFrame({"false_approval": false_approval, "false_denial": false_denial, "cost": cost})


class LoanCostChecker(Checker):
    id = "loan_cost"
    description = "Expected cost of the model's wrong credit decisions, overall and per group."
    needs = frozenset({Need.DATA, Need.TARGET, Need.MODEL})
    options = {
        "amount_column": Option("loan_amount", "the column holding each application's loan amount", type=str),
        "approve_label": Option("approved", "the label (and model class) meaning 'approve'", type=str),
        "loss_given_default": Option(0.45, "share of the amount lost when an application that should have "
                                     "been refused is approved", type=float, minimum=0.0, maximum=1.0),
        "margin": Option(0.04, "share of the amount earned on a good loan, lost when it is refused",
                         type=float, minimum=0.0, maximum=1.0),
        "currency": Option("EUR", "currency of the amounts, shown in the report", type=str),
        "min_group_size": Option(30, "groups with fewer applications are not compared", type=int, minimum=1),
    }
    kinds = {
        "expected_cost": Kind(
            "expected cost of wrong decisions per application, as a share of the mean loan amount",
            direction="above", fail=0.05, warn=0.02, severity=Severity.HIGH,
            why="Every wrong approval loses part of a loan and every wrong refusal loses a customer.",
            advice="Compare the model with the current process on the same applications; tune the "
                   "approval threshold on these costs rather than on accuracy."),
        "group_cost_ratio": Kind(
            "how many times more the model's errors cost per application in the costliest group than "
            "in the cheapest", direction="above", fail=2.0, warn=1.5, severity=Severity.MEDIUM,
            why="A group whose applications are misjudged more often bears more refusals or more debt.",
            advice="Look at that group's errors (false approvals or false refusals) before deployment."),
    }

    def run(self, ctx: CheckContext) -> CheckOutput:
        cfg = self.config
        ds = ctx.data
        if cfg["amount_column"] not in ds.frame.columns:
            raise CheckSkipped(f"the data has no column {cfg['amount_column']!r} "
                               "(set loan_cost.amount_column in the project file)")
        classes = [str(c) for c in (ctx.classes or ())]
        if cfg["approve_label"] not in classes:
            raise CheckSkipped(f"{cfg['approve_label']!r} is not one of the model's classes "
                               f"({', '.join(classes)}); set loan_cost.approve_label")
        approve = classes.index(cfg["approve_label"])
        ctx.progress(0.1, "predicting")
        proba = ctx.model.predict_proba(ctx.model_inputs(ds), seed=ctx.seed_for("predict"))
        approved_pred = proba.argmax(axis=1) == approve
        approved_true = ctx.label_indices(ds) == approve
        amount = pd.to_numeric(ds.frame[cfg["amount_column"]], errors="coerce").to_numpy(dtype=float)
        known = np.isfinite(amount)
        costs = decision_costs(approved_pred[known], approved_true[known], amount[known],
                               loss_given_default=cfg["loss_given_default"], margin=cfg["margin"])
        mean_amount = float(amount[known].mean())
        share = float(costs["cost"].mean() / mean_amount)
        findings = [self._overall(ctx, costs, share, mean_amount, int((~known).sum()))]
        ctx.progress(0.6, "comparing groups")
        frame = ds.frame.loc[known].reset_index(drop=True)
        for attr in ctx.sensitive:
            finding = self._groups(ctx, attr, frame[attr].astype(str), costs, mean_amount)
            if finding is not None:
                findings.append(finding)
        return CheckOutput(findings, summary=(
            f"Wrong decisions would cost about {share:.1%} of an average loan per application "
            f"({costs['cost'].mean():,.0f} {cfg['currency']})."),
            metrics={"mean_amount": round(mean_amount, 2), "applications": int(known.sum())})

    def _overall(self, ctx: CheckContext, costs: pd.DataFrame, share: float, mean_amount: float,
                 missing: int) -> Any:
        cur = self.config["currency"]
        rows = [{"decision error": "approved, should have been refused",
                 "applications": int(costs["false_approval"].sum()),
                 f"cost ({cur})": round(float(costs.loc[costs["false_approval"], "cost"].sum()), 2)},
                {"decision error": "refused, should have been approved",
                 "applications": int(costs["false_denial"].sum()),
                 f"cost ({cur})": round(float(costs.loc[costs["false_denial"], "cost"].sum()), 2)}]
        evidence = {"errors": rows,
                    "charts": [{"type": "bar", "title": f"Cost of wrong decisions ({cur})",
                                "labels": ["wrong approvals", "wrong refusals"],
                                "values": [r[f"cost ({cur})"] for r in rows], "y_label": cur}]}
        if missing:
            evidence["note"] = f"{missing} application(s) without an amount were left out"
        return ctx.finding("expected_cost", "all applications",
                           "Wrong decisions cost {value} of the mean loan amount per application "
                           f"({mean_amount * share:,.0f} of {mean_amount:,.0f} {cur}; policy maximum {{threshold}}).",
                           value=round(share, 4), evidence=evidence)

    def _groups(self, ctx: CheckContext, attr: str, groups: pd.Series, costs: pd.DataFrame,
                mean_amount: float) -> Any:
        per = costs.groupby(groups.to_numpy())["cost"].agg(["mean", "size"])
        per = per[per["size"] >= self.config["min_group_size"]]
        if len(per) < 2:
            return None
        per["share"] = per["mean"] / mean_amount
        cheapest, costliest = per["share"].idxmin(), per["share"].idxmax()
        low = float(per.loc[cheapest, "share"])
        ratio = float(per.loc[costliest, "share"] / low) if low > 0 else float("inf")
        rows = [{"group": str(g), "applications": int(r["size"]), "cost per application (share of mean loan)":
                 round(float(r["share"]), 4)} for g, r in per.sort_values("share", ascending=False).iterrows()]
        chart = {"type": "bar", "title": f"Cost of wrong decisions per application by {attr}",
                 "labels": [r["group"] for r in rows],
                 "values": [r["cost per application (share of mean loan)"] for r in rows],
                 "y_label": "share of the mean loan", "x_label": attr}
        shown = round(ratio, 3) if np.isfinite(ratio) else None
        message = (f"Errors cost {ratio:.2f} times more per application for {attr} = {costliest!r} than for "
                   f"{cheapest!r} (policy maximum {{threshold}})." if shown is not None else
                   f"Errors cost nothing for {attr} = {cheapest!r} but {per.loc[costliest, 'share']:.1%} of a "
                   f"loan per application for {costliest!r}.")
        status = None if shown is not None else "fail"
        return ctx.finding("group_cost_ratio", attr, message, value=shown, status=status,
                           evidence={"groups": rows, "charts": [chart]})
