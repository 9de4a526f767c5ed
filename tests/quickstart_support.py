"""The breast_cancer example a new user builds: CSVs with an id column and two sensitive
columns, three splits (train / validation / evaluation) and a TorchScript MLP.

Built from scikit-learn's bundled breast_cancer data, seeded with local generators only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = ["benign", "malignant"]


def breast_cancer_frame(seed: int = 0) -> pd.DataFrame:
    """patient_id, sex, age_band, the 30 numeric features, label (benign / malignant)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    rng = np.random.default_rng(seed)
    x = bunch.data
    n = len(x)
    front = pd.DataFrame({
        "patient_id": rng.permutation(np.arange(100_000, 100_000 + n)),
        "sex": rng.choice(["female", "male"], n, p=[0.9, 0.1]),
        "age_band": rng.choice(["<40", "40-59", "60+"], n, p=[0.25, 0.45, 0.30]),
    })
    label = np.where(bunch.target.to_numpy() == 0, "malignant", "benign")
    return pd.concat([front, x.reset_index(drop=True), pd.DataFrame({"label": label})], axis=1)


def splits(frame: pd.DataFrame, seed: int = 0) -> dict[str, pd.DataFrame]:
    """60 % train, 20 % validation (the reference), 20 % evaluation (the data under audit)."""
    idx = np.random.default_rng(seed).permutation(len(frame))
    a, b = int(0.6 * len(frame)), int(0.8 * len(frame))
    return {"train": frame.iloc[idx[:a]].reset_index(drop=True),
            "validation": frame.iloc[idx[a:b]].reset_index(drop=True),
            "eval": frame.iloc[idx[b:]].reset_index(drop=True)}


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("patient_id", "sex", "age_band", "label")]


def train_mlp(train: pd.DataFrame, seed: int = 0, epochs: int = 150):
    """A standardizing MLP (30 -> 16 -> 2) fitted with Adam; returns the eval-mode module."""
    import torch

    feats = feature_columns(train)
    x = torch.tensor(train[feats].to_numpy(np.float32))
    y = torch.tensor(pd.Series(train["label"]).map({c: i for i, c in enumerate(CLASSES)}).to_numpy())

    class Standardize(torch.nn.Module):
        def __init__(self, mean, std):
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)

        def forward(self, t):
            return (t - self.mean) / self.std

    with torch.random.fork_rng():  # local seeding: the global state is restored on exit
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(len(feats), 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
        opt = torch.optim.Adam(net.parameters(), lr=0.01)
        for _ in range(epochs):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net((x - x.mean(0)) / x.std(0)), y)
            loss.backward()
            opt.step()
    model = torch.nn.Sequential(Standardize(x.mean(0), x.std(0)), net)
    model.eval()
    return model


def build_example(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Write train.csv, validation.csv, eval.csv and model.pt (TorchScript) into ``folder``."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    parts = splits(breast_cancer_frame(seed), seed)
    paths = {}
    for name, part in parts.items():
        paths[name] = folder / f"{name}.csv"
        part.to_csv(paths[name], index=False)
    model = train_mlp(parts["train"], seed)
    paths["model"] = folder / "model.pt"
    torch.jit.save(torch.jit.script(model), str(paths["model"]))
    return paths
