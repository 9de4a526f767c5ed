"""Every built-in checker passes the conformance suite (riskaudit.testing), one test per check,
on the demo's real inputs: a credit table with names, e-mails and free text, a TorchScript
MLP saved with Dropout active, a reference split and declared licenses."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from riskaudit.checks.consistency import ConsistencyChecker
from riskaudit.checks.data_validity import DataValidityChecker
from riskaudit.checks.drift import DriftChecker
from riskaudit.checks.fairness import FairnessChecker
from riskaudit.checks.licenses import LicensesChecker
from riskaudit.checks.performance import PerformanceChecker
from riskaudit.checks.pii import PiiChecker
from riskaudit.checks.robustness import RobustnessChecker
from riskaudit.demo import prepare_demo
from riskaudit.project import load_project
from riskaudit.testing import Case, ConformanceError, check_checker, check_option_validation, parametrize_with_checks

_FOLDER = tempfile.mkdtemp(prefix="riskaudit-conformance-")  # cases are built at collection time
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
DEMO = load_project(prepare_demo(Path(_FOLDER) / "inputs"))
V = DEMO.values
MODEL = torch.jit.load(V["model"])  # in memory, so the model-state check applies
ROLES = {k: V[k] for k in ("target", "features", "sensitive", "ids", "classes", "task")}
DATA = {"data": V["data"], **ROLES}
BOTH = {**DATA, "reference": V["reference"]}
ALL = {**BOTH, "train": V["train"]}

CASES = [
    Case(PiiChecker, data=V["data"], ids=V["ids"], target=V["target"]),
    Case(DataValidityChecker, **BOTH, options={"data_validity": V["options"]["data_validity"]}),
    Case(LicensesChecker, name="licenses", project={"project_dir": str(DEMO.folder), "data_path": V["data"],
                                                   "model_path": V["model"], "licenses": V["licenses"]},
         options={"licenses": {"software": "none"}}),
    Case(FairnessChecker, **DATA, model=MODEL, options={"fairness": {**V["options"]["fairness"], "bootstrap": 50}}),
    Case(ConsistencyChecker, **DATA, model=MODEL,
         options={"consistency": {"sample_size": 128, "batch_sizes": [1, 7, 32]}}),
    Case(DriftChecker, **BOTH, model=MODEL,
         options={"drift": {"latency_batch_sizes": [1, 32], "latency_repeats": 3, "bootstrap": 100,
                            "mmd_permutations": 20}}),
    Case(RobustnessChecker, **DATA, model=MODEL,
         options={"robustness": {"samples": 40, "tabular_epsilons": [0.1, 0.2], "pgd_iterations": 5}}),
    Case(PerformanceChecker, **ALL, model=MODEL, options={"performance": {"bootstrap": 50}}),
    Case(FairnessChecker, name="fairness-without-sensitive", data=V["data"], target=V["target"],
         allow_skip=True),
]


@parametrize_with_checks(CASES)
def test_builtin_checkers_conform(case, check):
    check(case)


def test_every_builtin_checker_has_a_case():
    from riskaudit.registry import Registry

    builtin = {c.id for c in Registry.from_entry_points() if c.__module__.startswith("riskaudit.")}
    assert builtin <= {c.checker.id for c in CASES}


class Printing(PiiChecker):
    def run(self, ctx):
        print("hello from a checker")
        return super().run(ctx)


def test_the_suite_catches_a_printing_checker_and_a_lax_option():
    from riskaudit.checks.base import CheckOutput, Checker, Kind, Option

    with pytest.raises(ConformanceError, match="wrote to stdout"):
        check_checker(Printing, data=V["data"], ids=V["ids"], target=V["target"],
                      options={"pii": {"spacy_model": "none"}})

    class Lax(Checker):
        id = "lax"
        description = "Takes anything."
        kinds = {"x": Kind("never")}
        options = {"level": Option(0.5, "a share", type=object)}

        def run(self, ctx):  # pragma: no cover - never reached
            return CheckOutput([], "ran")

    class Strict(Lax):
        options = {"level": Option(0.5, "a share", minimum=0.0, maximum=1.0)}

    check_option_validation(Case(Strict))
    with pytest.raises(ConformanceError, match="an unknown option was accepted|accepted the invalid value"):
        class Wide(Lax):
            @classmethod
            def validate_options(cls, options):
                return dict(options)
        check_option_validation(Case(Wide))


def test_leaked_personal_data_is_masked_by_the_scan_and_a_global_seed_is_caught():
    import numpy as np

    from riskaudit.checks.base import CheckOutput, Checker, Kind
    from riskaudit.testing import check_global_state_untouched, check_masking_respected

    class Leaky(Checker):
        id = "leaky"
        description = "Shows raw names."
        kinds = {"names": Kind("names shown")}

        def run(self, ctx):
            rows = [{"name": n} for n in ctx.data.frame["name"].head(3)]
            return CheckOutput([ctx.finding("names", "name", "Some names.", status="warn",
                                            evidence={"examples": rows})], "Names were shown.")

    # masking is a property of the report (issue 15): the scan masks what a careless checker
    # shows, so even this one passes; the check stays as a guard on that one place
    check_masking_respected(Case(Leaky, data=V["data"]))

    class Seeder(Leaky):
        id = "seeder"

        def run(self, ctx):
            np.random.seed(0)  # noqa: NPY002  (the mistake under test)
            return CheckOutput([], "Seeded the global generator.")

    with pytest.raises(ConformanceError, match="numpy's global random state"):
        check_global_state_untouched(Case(Seeder, data=V["data"]))


def test_the_suite_catches_per_run_state_on_the_instance():
    from riskaudit.checks.base import CheckOutput, Checker, Kind
    from riskaudit.testing import check_no_state_on_instance

    class Remembers(Checker):
        id = "remembers"
        description = "Keeps the last frame it saw."
        kinds = {"rows": Kind("rows seen")}

        def __init__(self, **options):
            super().__init__(**options)
            self.seen: list[int] = []  # configuration-time state is fine; run must not change it

        def run(self, ctx):
            self.last_frame = ctx.data.frame  # the mistake under test
            self.seen.append(len(ctx.data.frame))  # and this one, in place
            return CheckOutput([], f"Saw {len(self.seen)} tables.")

    with pytest.raises(ConformanceError, match=r"changed self\.seen in place, set self\.last_frame"):
        check_no_state_on_instance(Case(Remembers, data=V["data"]))

    class Forgets(Remembers):
        id = "forgets"

        def run(self, ctx):
            return CheckOutput([], f"Saw {len(ctx.data.frame)} rows.")

    check_no_state_on_instance(Case(Forgets, data=V["data"]))
