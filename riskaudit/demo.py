"""The embedded demo: a small credit-approval model and data with real, planted defects.

Everything is generated deterministically from a fixed seed; the trained model is cached
in the user's cache folder so a second ``riskaudit demo`` skips training.

What the demo shows, checker by checker (each defect is planted on purpose):

- data_validity: 40 evaluation rows copied from the training data (leakage); labels
  "Approved" / "approved " beside "approved" (label inconsistency); ages of -3 and 212 and
  a debt ratio of 3.5 (impossible values); the class "manual_review" with fewer than 100
  training samples (rare class).
- pii: ``name``, ``email`` and a free-text ``notes`` column holding names, phone numbers
  and emails; ``postcode`` + ``age`` + ``sex`` as quasi-identifiers.
- fairness: the model approves applicants aged 18-25 far less often (age is a feature and
  drove the historical labels), so ``age_band`` fails the four-fifths rule; ``sex`` passes.
- consistency: the model was saved with its Dropout layer in training mode, so repeated
  runs differ; setting ``eval_mode: true`` in ``riskaudit.yaml`` (``model.eval()``) fixes it.
- drift: incomes in the evaluation data are 25% lower and loans 20% larger (data drift),
  and the approval rule changed (debt weighs more), so the labels no longer follow the
  model (concept drift).
- robustness: a tabular MLP whose accuracy falls under small PGD perturbations.
- performance: after the rule change the model's balanced accuracy on the evaluation data
  is below the medium-tier minimum and below its training figure (the train/data gap).

The data comes in three roles: ``train.csv`` (what the model was fitted on: leakage and
the generalization gap), ``validation.csv`` (an independent held-out sample drawn like the
training data: the baseline of drift) and ``current.csv`` (the data under audit).
- licenses: the dataset ships under CC-BY-NC-4.0, which forbids commercial use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskaudit._scope import torch_rng
from riskaudit._version import __version__
from riskaudit.reports.writer import atomic_path

DEMO_SEED = 20261124
FEATURES = ["age", "income", "debt_ratio", "credit_history_years", "num_late_payments", "loan_amount"]
SENSITIVE = ["sex", "age_band"]
CLASSES = ["approved", "denied", "manual_review"]
N_REFERENCE = 3000
"""Rows of the training table (named for its old role; kept for compatibility)."""
N_VALIDATION = 1000
N_CURRENT = 1200
DEMO_VERSION = "1"  # bump when the generator or the model changes (invalidates the cache)

PROJECT_YAML = """\
# riskaudit project file for the demo. Paths are relative to this file.
# What the model is for and who answers for it (the technical documentation, --format evidence).
intended_purpose: >-
  Demo only: triage of consumer loan applications into approved, denied or manual review,
  as a recommendation to a loan officer who decides. Not for automated final decisions.
owner: Demo credit-risk team
version: demo-1
model: model.pt
# The data under audit now, the data the model was fitted on (leakage, overfitting) and
# held-out data it was validated on at approval time (the baseline of drift).
data: data/current.csv
train: data/train.csv
reference: data/validation.csv
target: decision
# Model inputs, in the order the model takes them.
features: [age, income, debt_ratio, credit_history_years, num_late_payments, loan_amount]
sensitive: [sex, age_band]
ids: [applicant_id]
classes: [approved, denied, manual_review]
task: classification
policy: default
# The model was saved with Dropout active. Set this to true (it calls model.eval())
# and scan again: the consistency findings go away.
eval_mode: false
# Declared licenses (the data's own license files are read from data/).
licenses:
  model: Apache-2.0
options:
  data_validity:
    # An explicit great-expectations expectation: applicants are adults under 110.
    expectations:
      - type: expect_column_values_to_be_between
        kwargs: {column: age, min_value: 18, max_value: 110}
  fairness:
    positive_label: approved
    population: Applicants
"""

LICENSE_TEXT = """\
Demo Credit Applications dataset (synthetic)

This dataset is licensed under the Creative Commons Attribution-NonCommercial 4.0
International License (CC BY-NC 4.0). To view a copy of this license, visit
https://creativecommons.org/licenses/by-nc/4.0/
"""


def _age_band(age: np.ndarray) -> np.ndarray:
    return np.select([age <= 25, age <= 40, age <= 65], ["18-25", "26-40", "41-65"], "65+")


def _people(n: int, rng: np.random.Generator, faker_seed: int) -> pd.DataFrame:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(faker_seed)
    names = [fake.name() for _ in range(n)]
    emails = [f"{nm.split()[0].lower()}.{nm.split()[-1].lower()}@{fake.free_email_domain()}" for nm in names]
    topics = ["asked about early repayment", "requested a higher limit", "disputed a late fee",
              "wants paper statements", "changed employer recently", "no remarks"]
    notes = []
    for i in range(n):
        r = rng.random()
        if r < 0.25:
            notes.append(f"Called {names[i]} on {fake.phone_number()}; customer {rng.choice(topics)}.")
        elif r < 0.4:
            notes.append(f"Customer {rng.choice(topics)}; follow up by email at {emails[i]}.")
        else:
            notes.append(f"Customer {rng.choice(topics)}.")
    postcodes = [fake.postcode() for _ in range(n)]
    return pd.DataFrame({"name": names, "email": emails, "postcode": postcodes, "notes": notes})


def _applicants(n: int, rng: np.random.Generator, *, income_scale: float, loan_scale: float,
                debt_weight: float, faker_seed: int, id_offset: int) -> pd.DataFrame:
    age = np.clip(rng.normal(40, 13, n).round(), 18, 80).astype(int)
    income = np.round(np.exp(rng.normal(10.8, 0.45, n)) * income_scale, 2)
    debt_ratio = np.round(np.clip(rng.beta(2, 5, n), 0, 1), 3)
    history = np.clip((age - 18) * rng.uniform(0.2, 0.9, n), 0, None).round().astype(int)
    late = rng.poisson(0.8, n)
    loan = np.round(rng.lognormal(9.6, 0.5, n) * loan_scale, 2)
    sex = rng.choice(["female", "male"], n)
    score = (1.1 * np.log(income / 50000) - debt_weight * debt_ratio + 0.06 * history
             - 0.55 * late - 0.5 * np.log(loan / 15000) - 1.6 * (age <= 25) + 0.9
             + rng.normal(0, 0.45, n))
    decision = np.where(score > 0.0, "approved", "denied").astype(object)
    decision[np.abs(score) < 0.035] = "manual_review"
    frame = pd.DataFrame({
        "applicant_id": [f"A{id_offset + i:06d}" for i in range(n)],
        "age": age, "income": income, "debt_ratio": debt_ratio,
        "credit_history_years": history, "num_late_payments": late, "loan_amount": loan,
        "sex": sex, "age_band": _age_band(age), "decision": decision,
    })
    people = _people(n, rng, faker_seed)
    return pd.concat([frame.iloc[:, :1], people[["name", "email"]], frame.iloc[:, 1:],
                      people[["postcode", "notes"]]], axis=1)


def make_demo_data(seed: int = DEMO_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and current (evaluation) tables, defects planted."""
    rng = np.random.default_rng(seed)
    ref = _applicants(N_REFERENCE, rng, income_scale=1.0, loan_scale=1.0, debt_weight=2.5,
                      faker_seed=seed, id_offset=0)
    cur = _applicants(N_CURRENT, rng, income_scale=0.75, loan_scale=1.2, debt_weight=4.5,
                      faker_seed=seed + 1, id_offset=100000)
    # leakage: 40 training rows reappear in the evaluation data (new ids)
    leak_idx = rng.choice(len(ref), 40, replace=False)
    leaked = ref.iloc[leak_idx].copy()
    leaked["applicant_id"] = [f"A{200000 + i:06d}" for i in range(len(leaked))]
    cur = pd.concat([cur.iloc[: len(cur) - 40], leaked], ignore_index=True)
    # label inconsistency: the same class spelled three ways
    approved = np.flatnonzero(cur["decision"].to_numpy() == "approved")
    cur.loc[approved[:8], "decision"] = "Approved"
    cur.loc[approved[8:14], "decision"] = "approved "
    # impossible values
    cur.loc[3, "age"] = -3
    cur.loc[17, "age"] = 212
    cur.loc[29, "debt_ratio"] = 3.5
    return ref, cur


def make_demo_validation(seed: int = DEMO_SEED) -> pd.DataFrame:
    """Held-out validation data drawn like the training data, from its own generator: the
    reference of drift (an independent sample, never the training rows)."""
    return _applicants(N_VALIDATION, np.random.default_rng(seed + 2), income_scale=1.0, loan_scale=1.0,
                       debt_weight=2.5, faker_seed=seed + 2, id_offset=300000)


def _build_model(ref: pd.DataFrame):
    import torch
    from torch import nn

    x = torch.tensor(ref[FEATURES].to_numpy(dtype=np.float32))
    mean, std = x.mean(0), x.std(0)

    class CreditMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.net = nn.Sequential(nn.Linear(len(FEATURES), 32), nn.ReLU(), nn.Dropout(0.3),
                                     nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, len(CLASSES)))

        if TYPE_CHECKING:  # the buffers' types, for mypy only: torch.jit.script cannot read the
            # string annotations of `from __future__ import annotations` and fails on them
            mean: torch.Tensor
            std: torch.Tensor

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net((x - self.mean) / self.std)

    return CreditMLP()


def train_demo_model(ref: pd.DataFrame, seed: int = DEMO_SEED):
    """Train the MLP on the reference table; returns it in training mode (Dropout active)."""
    import torch

    label = {c: i for i, c in enumerate(CLASSES)}
    y = torch.tensor(ref["decision"].map(label).to_numpy(), dtype=torch.long)
    x = torch.tensor(ref[FEATURES].to_numpy(dtype=np.float32))
    with torch_rng(seed):  # local to this block: the global state is restored
        model = _build_model(ref)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        weights = torch.tensor([1.0, 1.0, 3.0])
        model.train()
        for _ in range(300):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y, weight=weights)
            loss.backward()
            opt.step()
    return model


def cache_dir() -> Path:
    base = os.environ.get("RISKAUDIT_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "riskaudit" / f"demo-{__version__}-{DEMO_VERSION}"


DATA_FILES = ("train.csv", "validation.csv", "current.csv")


def _cached_data(data_dir: Path) -> tuple[str, pd.DataFrame | None]:
    """Write the demo tables into ``data_dir``, copied from the cache when a previous demo
    of this version wrote them (generating them with Faker took about 1.5 s of the demo).
    Returns the training table's key (the cached model's name) and, when it was generated
    now, the training table itself."""
    cache = cache_dir() / "data"
    key_file = cache / "train.key"
    ref = None
    valid = key_file.is_file() and all((cache / name).is_file() for name in DATA_FILES)
    if not valid or re.fullmatch(r"[0-9a-f]{16}", key_file.read_text(encoding="utf-8").strip()) is None:
        ref, cur = make_demo_data()
        tables = {"train.csv": ref, "validation.csv": make_demo_validation(), "current.csv": cur}
        for name, table in tables.items():
            with atomic_path(cache / name) as tmp:
                table.to_csv(tmp, index=False)
        with atomic_path(key_file) as tmp:
            tmp.write_text(hashlib.sha256(pd.util.hash_pandas_object(ref, index=False).to_numpy()
                                          .tobytes()).hexdigest()[:16], encoding="utf-8")
    for name in DATA_FILES:
        shutil.copyfile(cache / name, data_dir / name)
    return key_file.read_text(encoding="utf-8").strip(), ref


def prepare_demo(folder: Path) -> Path:
    """Write the demo inputs (data, license, model, project file) into ``folder``.

    Returns the project file's path. The trained model comes from the cache when present
    (then torch is not imported here: the scan imports it while the pii checker runs ahead).
    """
    folder.mkdir(parents=True, exist_ok=True)
    data_dir = folder / "data"
    data_dir.mkdir(exist_ok=True)
    key, ref = _cached_data(data_dir)
    (data_dir / "LICENSE").write_text(LICENSE_TEXT, encoding="utf-8")
    (data_dir / "datapackage.json").write_text(json.dumps({
        "name": "demo-credit-applications", "title": "Demo credit applications (synthetic)",
        "licenses": [{"name": "CC-BY-NC-4.0", "title": "Creative Commons Attribution-NonCommercial 4.0",
                      "path": "https://creativecommons.org/licenses/by-nc/4.0/"}],
        "resources": [{"path": "train.csv"}, {"path": "validation.csv"}, {"path": "current.csv"}]}, indent=2), encoding="utf-8")
    cached = cache_dir() / f"model-{key}.pt"
    if not cached.exists():
        import torch

        model = train_demo_model(ref if ref is not None else make_demo_data()[0])
        with atomic_path(cached) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(torch.jit.script(model), str(tmp))
    shutil.copyfile(cached, folder / "model.pt")
    project = folder / "riskaudit.yaml"
    project.write_text(PROJECT_YAML, encoding="utf-8")
    return project
