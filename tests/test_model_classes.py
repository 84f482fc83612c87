"""Classes of problems real third-party models showed, each on a tiny model built here:
shapes from the data, outputs matched by name, fixed batches, batch not on axis 0."""
import numpy as np

import edgekit


def test_a_factory_takes_its_input_shapes_from_the_evaluation_data(tiny_torch, tmp_path):
    """No --input-shape: the shapes come from --eval (given NHWC here, as Keras users
    keep their data), and the report says so."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", x=rng.random((16, 8, 8, 3), dtype=np.float32))
    result = edgekit.convert(tiny_torch["spec"], "server-cpu", tmp_path / "out",
                             weights=tiny_torch["weights"], eval_data=tmp_path / "eval.npz",
                             precision="fp32", bench_runs=0)
    assert result.passed
    assert result.report["source"]["inputs"] == ["image: float32[?x3x8x8] NCHW"]
    notes = result.report["artifacts"][0]["notes"]
    assert "input shapes taken from the evaluation data: Nx3x8x8 float32" in notes
