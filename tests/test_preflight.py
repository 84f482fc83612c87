"""Operators a route cannot take are found before any conversion: the run stops at plan
time (in --dry-run too) naming the operators and their nodes, instead of failing minutes
into onnx2tf with a log line that names no node."""
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

EDGEKIT = str(Path(sys.executable).with_name("edgekit"))


def _model(path, domain, op, opset_domains):
    import onnx
    from onnx import TensorProto, helper
    node = helper.make_node(op, ["x"], ["y"], name="the_node", domain=domain)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)] + [
        helper.make_opsetid(d, 1) for d in opset_domains])
    model.ir_version = 8  # what onnxruntime reads
    onnx.save(model, path)
    return path


@pytest.fixture
def fast_gelu(tmp_path):
    """onnxruntime has a kernel for com.microsoft's FastGelu; onnx2tf has no converter."""
    return _model(tmp_path / "gelu.onnx", "com.microsoft", "FastGelu", ["com.microsoft"])


def edgekit(*args):
    return subprocess.run([EDGEKIT, *args], capture_output=True, text=True)


def test_an_operator_onnx2tf_lacks_stops_the_tflite_target_before_converting(fast_gelu, tmp_path):
    started = time.monotonic()
    for extra in ([], ["--dry-run"]):
        result = edgekit("convert", str(fast_gelu), "--target", "android", "--out", str(tmp_path / "o"), *extra)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "no route can make tflite" in result.stderr
        assert "onnx2tf cannot handle FastGelu (node 'the_node')" in result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / "o").exists()
    assert time.monotonic() - started < 60  # no onnx2tf run (minutes on a real model)


def test_the_same_model_runs_where_its_runtime_has_the_kernel(fast_gelu, tmp_path):
    np.savez(tmp_path / "eval.npz", x=np.random.default_rng(0).random((16, 8), dtype=np.float32))
    result = edgekit("convert", str(fast_gelu), "--target", "server-cpu", "--precision", "fp32",
                     "--eval", str(tmp_path / "eval.npz"), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_operator_no_runtime_knows_is_named_for_the_runtime(tmp_path):
    model = _model(tmp_path / "custom.onnx", "com.example", "Frobnicate", ["com.example"])
    result = edgekit("convert", str(model), "--target", "server-cpu", "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "onnxruntime cannot handle com.example:Frobnicate (node 'the_node')" in result.stderr


def test_only_the_routes_that_lack_an_operator_are_skipped(fast_gelu):
    """A route is judged by its first step only; the candidate is skipped with the reason."""
    from edgekit.preflight import route_blocker
    from edgekit.targets.onnx import open_handle
    from edgekit.targets.registry import copy_converter, routes
    source = open_handle(fast_gelu)
    assert route_blocker([copy_converter("onnx")], source) == ""
    through_onnx2tf = routes("onnx", "tflite")[0]
    assert route_blocker(through_onnx2tf, source) == "onnx2tf cannot handle FastGelu (node 'the_node')"


BUCKETS_FACTORY = '''
import keras
import tensorflow as tf


class Buckets(keras.layers.Layer):
    def call(self, x):
        return tf.cast(tf.raw_ops.Bucketize(input=x, boundaries=[0.25, 0.5, 0.75]), tf.float32)


def build():
    inputs = keras.Input((8,), name="x")
    joined = keras.layers.Concatenate()([inputs, Buckets()(inputs)])
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(joined))
'''


def test_dry_run_for_web_lists_the_tensorflow_ops_tfjs_lacks(tmp_path):
    """TF.js has no Bucketize kernel: tensorflowjs would refuse the model after freezing
    it; the plan finds it in the traced Keras model, before converting."""
    (tmp_path / "buckets.py").write_text(BUCKETS_FACTORY)
    spec = [f"{tmp_path / 'buckets.py'}:build", "--input-shape", "1,8"]
    web = edgekit("convert", *spec, "--target", "web", "--dry-run")
    assert web.returncode == 1, web.stdout + web.stderr
    assert "no route can make tfjs" in web.stderr
    assert re.search(r"TF\.js cannot handle Bucketize \(node '[^']*Bucketize'\)", web.stderr)
    android = edgekit("convert", *spec, "--target", "android", "--dry-run")  # TFLite has it
    assert android.returncode == 0, android.stderr
