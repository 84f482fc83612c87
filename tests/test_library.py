"""edgekit used as a library, in one long-lived process (a notebook, a service): no stale
state from an earlier call."""
import shutil

import numpy as np
import pytest

import edgekit
from edgekit import CalibrationOptions

pytestmark = pytest.mark.slow  # each test converts a model end to end


def test_a_rewritten_model_file_is_converted_anew(tiny_keras, tmp_path):
    """Loaders were cached by path: after the user overwrote m.keras with other weights, a
    second convert in the same process converted the old model while its report described
    the new file. The deliverable must compute what the new file computes."""
    import keras

    from edgekit.targets.tflite import make_runner, open_handle
    model_path = tmp_path / "m.keras"
    shutil.copyfile(tiny_keras, model_path)
    images = np.random.default_rng(1).random((6, 8, 8, 3), dtype=np.float32)
    np.savez(tmp_path / "eval.npz", x=images)
    options = dict(formats=("tflite",), precision="fp32", bench_runs=0, eval_data=tmp_path / "eval.npz")
    edgekit.convert(str(model_path), "android", tmp_path / "first", **options)

    retrained = keras.models.load_model(model_path)
    retrained.set_weights([w * 1.5 + 0.1 for w in retrained.get_weights()])
    retrained.save(model_path)  # same path, new weights
    expected = np.asarray(retrained(images))
    second = edgekit.convert(str(model_path), "android", tmp_path / "second", **options)

    delivered = open_handle(tmp_path / "second" / second.report["deliverables"][0]["path"])
    got = make_runner(delivered)([images])[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_conversion_leaves_the_callers_process_as_it_was(tiny_torch, tmp_path):
    """A library call must not change process-wide settings: torch's thread count (set for
    timing on the profile's threads), matplotlib's backend (report charts), tensorflowjs's
    functions (patched for one conversion)."""
    import matplotlib
    import torch

    from edgekit.targets import tfenv
    conversion = tfenv.tfjs_converter()  # registers the stand-in tensorflowjs needs first
    from tensorflowjs.converters import normalize_bias_add
    torch.set_num_threads(2)
    before = (torch.get_num_threads(), matplotlib.get_backend(),
              normalize_bias_add.normalize_bias_add_op, conversion.optimize_graph,
              conversion._run_grappler)
    result = edgekit.convert(tiny_torch["spec"], "web", tmp_path / "out", formats=("tfjs",),
                             precision="fp32", bench_runs=3,
                             source=tiny_torch["source"])
    assert result.passed
    after = (torch.get_num_threads(), matplotlib.get_backend(),  # web times on 1 thread
             normalize_bias_add.normalize_bias_add_op, conversion.optimize_graph,
             conversion._run_grappler)
    assert after == before


def test_the_api_checks_options_before_any_work(tiny_keras, tmp_path):
    """calib_method='kl' through the API started work and failed late with KeyError."""
    from edgekit.errors import UnsupportedError
    with pytest.raises(UnsupportedError, match="unknown calibration method 'kl'; valid: minmax"):
        edgekit.convert(str(tiny_keras), "android", tmp_path / "out",
                        calibration=CalibrationOptions(method="kl"))
    assert not (tmp_path / "out").exists()
