"""Label values to model output indices: each distinct label is turned into text once; the
result equals pandas mapping every row's text (the former implementation, here the oracle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from riskaudit.scan import labels_to_index


def oracle(values, classes):
    lookup = {str(c): i for i, c in enumerate(classes)}
    return pd.Series(values).astype(str).map(lookup).fillna(-1).to_numpy(dtype=np.int64)


def _cases():
    iris = load_iris(as_frame=True)
    names = iris.target_names[iris.target]
    yield names, ["setosa", "versicolor", "virginica"]
    yield names, ["virginica", "setosa"]  # one class unknown to the model
    yield iris.target.to_numpy(), [0, 1, 2]
    yield iris.target.to_numpy().astype(float), [0.0, 1.0, 2.0]
    with_nan = iris.target.to_numpy().astype(float)
    with_nan[::7] = np.nan
    yield with_nan, [0.0, 1.0, 2.0, "nan"]  # a class literally called "nan" keeps matching
    yield pd.Series(names, dtype="category"), ["setosa", "virginica"]
    yield (iris.target.to_numpy() == 1), [False, True]
    yield pd.Series(["1", 1, 1.0, None, "approved "], dtype=object), ["1", "1.0", "None", "approved"]
    yield pd.Series(["approved", "denied", None, "approved"], dtype=object), ["approved", "None"]
    yield pd.Series([True, 1, 1.0, "1"], dtype=object), ["True", "1", "1.0"]
    yield [], ["a"]
    yield names, []


@pytest.mark.parametrize("values,classes", list(_cases()))
def test_labels_to_index_equals_mapping_every_row(values, classes):
    got = labels_to_index(values, classes)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, oracle(values, classes))
