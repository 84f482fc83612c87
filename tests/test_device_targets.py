"""Device targets. Microcontrollers: a batch-1 full-int8 model proven in TFLite Micro's
own interpreter, its arena measured against the profile's RAM, and the C sources an app
builds in. Edge TPU: the model read against the compiler's operator table."""
import re
import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pytest

import edgekit
from edgekit.targets.tflite.edgetpu import operator_table, preflight
from edgekit.targets.tflite.micro import ALIGNMENT, c_sources, resolver_calls, resolver_methods


def _array_bytes(source: str) -> bytes:
    body = source[source.index("{") + 1:source.index("};")]
    return bytes(int(value, 16) for value in re.findall(r"0x([0-9a-f]{2})", body))


@pytest.mark.pure
def test_the_c_array_holds_the_model_aligned_with_the_measured_arena():
    model = bytes(range(256)) * 3 + b"\x07"
    files = c_sources(model, ["CONV_2D", "SOFTMAX", "CONV_2D"], 30001, "m.tflite")
    assert _array_bytes(files["model_data.cc"]) == model
    assert f"alignas({ALIGNMENT}) const unsigned char g_model_data[]" in files["model_data.cc"]
    assert f"g_model_data_len = {len(model)};" in files["model_data.cc"]
    assert "kTensorArenaSize = 30016;" in files["model_data.h"]  # rounded up to the alignment
    assert "MicroMutableOpResolver<kModelOperatorCount>" in files["model_ops.h"]
    assert "kModelOperatorCount = 2;" in files["model_ops.h"]
    assert "resolver.AddConv2D()" in files["model_ops.h"] and "resolver.AddSoftmax()" in files["model_ops.h"]


@pytest.mark.pure
def test_resolver_calls_use_tflms_own_method_names_and_name_what_it_lacks():
    methods = resolver_methods()
    assert len(methods) >= 90
    # names no rule derives from the operator's: read from TFLM's header
    assert methods["UNIDIRECTIONAL_SEQUENCE_LSTM"] == "AddUnidirectionalSequenceLSTM"
    assert methods["PADV2"] == "AddPadV2" and methods["CUMSUM"] == "AddCumSum"
    assert resolver_calls(["FULLY_CONNECTED", "NOT_AN_OP"]) == [
        "AddFullyConnected()", "/* no TFLite Micro kernel: NOT_AN_OP */"]


@pytest.mark.pure
def test_the_first_operator_the_edge_tpu_cannot_map_sends_the_rest_to_the_cpu():
    int8 = ["int8", "int8", "int32"]
    model = [("CONV_2D", int8), ("SHAPE", ["int8", "int32"]), ("RESHAPE", int8), ("TRANSPOSE", int8)]
    found = preflight(model, "deploy/tflite/model.tflite")
    assert found["edge_tpu_operators"] == 1 and found["operators"] == 4
    assert [(c["index"], c["op"]) for c in found["cpu_operators"]] == [(1, "SHAPE"), (2, "RESHAPE"), (3, "TRANSPOSE")]
    assert "not in the Edge TPU's operator table" in found["cpu_operators"][0]["why"]
    assert found["minimum_runtime"] == 14  # TRANSPOSE maps from runtime 14 on
    assert found["compile"].startswith("edgetpu_compiler -s deploy/tflite/model.tflite")
    floats = preflight([("ADD", ["float32", "float32", "float32"])], "m.tflite")
    assert floats["cpu_operators"][0]["why"] == "computes in float32"
    assert preflight([("CONV_2D", int8), ("SOFTMAX", ["int8", "int8"])], "m.tflite")["cpu_operators"] == []


@pytest.mark.pure
def test_the_edge_tpu_table_holds_the_documented_operators():
    table = operator_table()
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "TRANSPOSE_CONV"} <= set(table)
    assert not {"SHAPE", "GATHER", "DEQUANTIZE"} & set(table)
    assert all(runtime == "all" or runtime.isdigit() for runtime, _ in table.values())


# not in the pure tier: that hides /usr/bin (where Node lives), and the compiler with it
@pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler on this machine")
def test_the_c_array_compiles(tmp_path):
    files = c_sources(b"\x1c\x00\x00\x00TFL3" + bytes(40), ["ADD"], 1024, "m.tflite")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run(["g++", "-std=c++17", "-c", "model_data.cc", "-o", "model_data.o"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("micro") / "eval.npz"
    np.savez(path, x=np.random.default_rng(2).random((64, 8, 8, 3), dtype=np.float32))
    return path


@pytest.mark.slow
def test_a_microcontroller_model_is_batch_one_and_proven_in_tflite_micro(tiny_keras, eval_data, tmp_path):
    from edgekit.targets.tflite import op_counts, open_handle
    result = edgekit.convert(str(tiny_keras), "microcontroller", tmp_path / "out",
                             eval_data=eval_data, bench_runs=0)
    assert result.passed
    delivered, = result.report["deliverables"]
    handle = open_handle(result.out / delivered["path"])
    assert handle.inputs[0].shape == (1, 8, 8, 3) and handle.inputs[0].dtype == "int8"
    assert not {"SHAPE", "PACK", "STRIDED_SLICE"} & set(op_counts(handle))  # no dynamic batch
    device = delivered["device"]
    assert device["passed"] and device["runtime"] == "TFLite Micro interpreter"
    assert device["drift_per_output"][0]["cosine"] > 0.99  # TFLM's outputs, compared
    assert 0 < device["arena_bytes"] < 512 * 1024
    assert device["flash_bytes"] == handle.size_bytes()
    assert "AddConv2D()" in device["op_resolver"]
    folder = result.out / "deploy" / "microcontroller"
    assert sorted(p.name for p in folder.iterdir()) == ["model_data.cc", "model_data.h", "model_ops.h"]
    assert _array_bytes((folder / "model_data.cc").read_text()) == handle.path.read_bytes()


@pytest.mark.slow
def test_an_arena_over_the_ram_budget_fails_the_target(tiny_keras, eval_data, tmp_path, monkeypatch):
    from edgekit.targets import profiles
    tiny_ram = replace(profiles.PROFILES["microcontroller"],
                       budgets=replace(profiles.PROFILES["microcontroller"].budgets, max_ram_kb=0.5))
    monkeypatch.setitem(profiles.PROFILES, "microcontroller", tiny_ram)
    result = edgekit.convert(str(tiny_keras), "microcontroller", tmp_path / "out",
                             eval_data=eval_data, bench_runs=0)
    assert not result.passed
    candidate = result.report["search"]["tflite"]["candidates"][-1]
    assert re.search(r"tensor arena [\d.]+ KB > RAM budget 0.5 KB", candidate["why"])


@pytest.mark.slow
def test_edge_tpu_names_the_operator_where_the_model_would_be_split(eval_data, tmp_path):
    """LeakyReLU has an int8 TFLite kernel but no Edge TPU mapping: the compiler would cut
    the graph there and leave the rest to the CPU."""
    import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3), name="image"), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.LeakyReLU(0.1), keras.layers.Flatten(),
                              keras.layers.Dense(5, activation="softmax")])
    model.save(tmp_path / "leaky.keras")
    result = edgekit.convert(str(tmp_path / "leaky.keras"), "edge-tpu", tmp_path / "out",
                             eval_data=eval_data, bench_runs=0)
    device = result.report["deliverables"][0]["device"]
    assert device["cpu_operators"][0] == {"index": 1, "op": "LEAKY_RELU",
                                          "why": "not in the Edge TPU's operator table"}
    assert device["edge_tpu_operators"] == 1  # the convolution before it
    assert all(c["why"] == "after the first operator the compiler cannot map"
               for c in device["cpu_operators"][1:])
