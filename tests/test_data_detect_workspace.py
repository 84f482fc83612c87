"""Evaluation data, format detection and atomic output folders (no frameworks needed)."""
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgekit.data import load_eval, random_inputs
from edgekit.detect import detect
from edgekit.errors import InputError
from edgekit.loading import check_labels, parse_labels
from edgekit.model import ModelHandle
from edgekit.tensors import TensorSpec
from edgekit.workspace import OutputFolder

pytestmark = pytest.mark.pure  # no framework, runtime or Node (conftest: FRAMEWORKS)

NCHW_SOURCE = ModelHandle("m.onnx", "onnx", (TensorSpec("image", (None, 3, 8, 8), "float32", "NCHW"),),
                          (TensorSpec("scores", (None, 5), "float32"),))


def test_npz_with_labels_and_nhwc_images_is_transposed_for_an_nchw_model(tmp_path, images_nhwc):
    np.savez(tmp_path / "eval.npz", x=images_nhwc, y=np.arange(6))
    data = load_eval(tmp_path / "eval.npz", NCHW_SOURCE)
    assert data.inputs[0].shape == (6, 3, 8, 8)
    assert np.array_equal(data.inputs[0][0, 1], images_nhwc[0, :, :, 1])
    assert data.labels.tolist() == list(range(6))
    assert "transposed to NCHW" in data.notes[0]


def test_npy_single_input(tmp_path, images_nhwc):
    np.save(tmp_path / "x.npy", images_nhwc.transpose(0, 3, 1, 2))
    data = load_eval(tmp_path / "x.npy", NCHW_SOURCE)
    assert data.labels is None and data.samples == 6 and not data.notes


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((4, 8, 8, 2), np.float32)}, "has shape 4x8x8x2, the model expects Nx3x8x8"),
    ({"x": np.full((2, 3, 8, 8), np.nan, np.float32)}, "NaN or Inf"),
    ({"x": np.zeros((0, 3, 8, 8), np.float32)}, "is empty"),
    ({"a": np.zeros((2, 3, 8, 8)), "b": np.zeros((2, 3, 8, 8))}, "expected 'x'"),
    ({"x": np.zeros((2, 3, 8, 8), np.float32), "y": np.zeros(3, np.int64)}, "one integer label"),
])
def test_bad_eval_data_gets_a_clear_error(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=message):
        load_eval(tmp_path / "bad.npz", NCHW_SOURCE)


def test_pickled_eval_data_is_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="no pickled objects"):
        load_eval(tmp_path / "obj.npy", NCHW_SOURCE)


def test_random_inputs_are_seeded():
    a, b = random_inputs(NCHW_SOURCE, seed=3), random_inputs(NCHW_SOURCE, seed=3)
    assert np.array_equal(a.inputs[0], b.inputs[0]) and a.inputs[0].shape == (64, 3, 8, 8)
    assert a.origin == "random" and a.seed == 3


def _zip(path, names):
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, b"{}")
    return path


@pytest.mark.parametrize("names, fmt", [
    (["metadata.json", "config.json", "model.weights.h5"], "keras"),
    (["m/code/__torch__.py", "m/data.pkl", "m/constants.pkl"], "torchscript"),
    (["m/archive_format", "m/models/model.json"], "torch"),
])
def test_zip_based_formats_are_told_apart_by_content(tmp_path, names, fmt):
    assert detect(str(_zip(tmp_path / "model.bin", names))).format == fmt


def test_content_decides_when_the_extension_promises_nothing(tmp_path):
    tflite = tmp_path / "model.bin"
    tflite.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))
    assert detect(str(tflite)).format == "tflite"
    h5 = tmp_path / "model"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    assert detect(str(h5)).format == "keras"


@pytest.mark.parametrize("name, content, message", [
    ("model.onnx", b"\x1c\x00\x00\x00TFL3" + bytes(64), "holds a model in TFLite format, not ONNX.*model.tflite"),
    ("model.tflite", b"\x89HDF\r\n\x1a\n" + bytes(64), "holds a model in Keras \\(HDF5\\) format, not TFLite.*model.h5"),
    ("model.pt", b"\x89HDF\r\n\x1a\n" + bytes(64), "Keras \\(HDF5\\) format, not torch.export or TorchScript"),
])
def test_an_extension_that_contradicts_the_content_is_refused(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message):
        detect(str(tmp_path / name))


def test_the_extension_check_ignores_case_and_accepts_both_pytorch_containers(tmp_path):
    (tmp_path / "MODEL.TFLITE").write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))
    assert detect(str(tmp_path / "MODEL.TFLITE")).format == "tflite"
    exported = _zip(tmp_path / "model.pt", ["m/archive_format", "m/models/model.json"])
    assert detect(str(exported)).format == "torch"


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), "corrupt or truncated"),
    (lambda p: _zip(p, ["m/data.pkl", "m/data/0"]), "state_dict"),
    (lambda p: p.write_text("hello"), "unrecognised or corrupt"),
])
def test_undetectable_files_get_a_clear_error(tmp_path, make, message):
    make(tmp_path / "model.pt")
    with pytest.raises(InputError, match=message):
        detect(str(tmp_path / "model.pt"))


def test_directories_and_factory_specs(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    assert detect(str(tmp_path / "sm")).format == "savedmodel"
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "model.json").write_text("{}")
    assert detect(str(tmp_path / "web")).format == "tfjs"
    assert detect(str(tmp_path / "web" / "model.json")) == detect(str(tmp_path / "web"))
    assert detect(str(tmp_path / "sm" / "saved_model.pb")) == detect(str(tmp_path / "sm"))
    (tmp_path / "net.py").write_text("")
    ref = detect(f"{tmp_path / 'net.py'}:build")
    assert (ref.format, ref.factory) == ("torch", "build")
    with pytest.raises(InputError, match="holds no model.*saved_model.pb"):
        detect(str(tmp_path))
    with pytest.raises(InputError, match="no such file"):
        detect(str(tmp_path / "missing.onnx"))
    os.mkfifo(tmp_path / "pipe.onnx")  # opening it would block until someone writes
    with pytest.raises(InputError, match="not a regular file"):
        detect(str(tmp_path / "pipe.onnx"))


def test_output_folder_moves_into_place_only_on_success(tmp_path):
    out = tmp_path / "deep" / "out"
    with pytest.raises(RuntimeError):
        with OutputFolder(out) as work:
            (work / "half.bin").write_bytes(b"x")
            raise RuntimeError("interrupted")
    assert not (tmp_path / "deep").exists()  # created parents are removed again
    folder = OutputFolder(out)
    with folder as work:
        (work / "report.json").write_text("{}")
        folder.commit()
    assert (out / "report.json").exists() and list(tmp_path.joinpath("deep").iterdir()) == [out]


def test_output_folder_keeps_the_previous_output_when_a_rerun_fails(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old = json.dumps({"files": ["report.json"]})
    (out / "report.json").write_text(old)
    with pytest.raises(RuntimeError):
        with OutputFolder(out) as work:
            (work / "report.json").write_text("new")
            raise RuntimeError
    assert (out / "report.json").read_text() == old
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_output_folder_refuses_to_replace_user_files_or_the_input(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(InputError, match="not from an edgekit output"):
        OutputFolder(tmp_path / "mine")
    with pytest.raises(InputError, match="would replace the input"):
        OutputFolder(tmp_path / "models", protected=(tmp_path / "models" / "m.onnx",))


def _earlier_output(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    (folder / "report.json").write_text(json.dumps({"files": sorted(files) + ["report.json"]}))


def test_an_earlier_output_is_recognised_by_the_files_its_report_lists(tmp_path):
    out = tmp_path / "out"
    _earlier_output(out, {"02_tflite/model.tflite": "m", "report.md": "r"})
    OutputFolder(out)  # exactly what its report lists: may be replaced
    (out / "thesis.tex").write_text("two years of work")  # added since: not edgekit's
    with pytest.raises(InputError, match=r"not from an edgekit output \(thesis.tex\)"):
        OutputFolder(out)


@pytest.mark.parametrize("report", ['{"artifacts": []}', "not json", '["files"]',
                                    '{"files": "report.json"}', '{"files": [1]}'])
def test_a_file_named_report_json_does_not_make_a_folder_replaceable(tmp_path, report):
    """A folder that merely holds a report.json (someone's own, or one edgekit did not
    write) is not an earlier output: replacing it deleted a thesis.tex beside it."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "report.json").write_text(report)
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="not from an edgekit output"):
        OutputFolder(tmp_path / "mine")


def test_an_over_long_out_name_is_a_user_error(tmp_path):
    with pytest.raises(InputError, match="too long"):
        OutputFolder(tmp_path / ("x" * 240))


def test_labels_come_from_a_list_or_a_file_and_must_fit_the_output(tmp_path):
    assert parse_labels("cat, dog ,bird") == ("cat", "dog", "bird")
    (tmp_path / "labels.txt").write_text("a\n\nb\nc\nd\ne\n")
    five = parse_labels(str(tmp_path / "labels.txt"))
    assert five == ("a", "b", "c", "d", "e")
    check_labels(five, NCHW_SOURCE)  # 5 classes: fits
    with pytest.raises(InputError, match="gives 3 labels but output 'scores' has 5 classes"):
        check_labels(("a", "b", "c"), NCHW_SOURCE)
    (tmp_path / "empty.txt").write_text("\n")
    for bad in (tmp_path / "empty.txt", tmp_path / "missing.txt", tmp_path):
        with pytest.raises(InputError, match="labels file"):
            parse_labels(str(bad))


@pytest.fixture
def signal_dispositions():
    """Each signal's disposition, restored afterwards: a CI shell may start the tests with
    SIGINT ignored (a background job), a terminal does not."""
    import signal
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield signal
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_python_swallowed_still_stops_the_output_from_being_published(tmp_path,
                                                                                   signal_dispositions):
    """TensorFlow frees graphs in __del__; Python drops an exception raised there."""
    import time

    from edgekit import interrupts
    signal = signal_dispositions
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    class Collected:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler runs (and raises) in here: Python ignores it

    with interrupts.handled():
        folder = OutputFolder(tmp_path / "out")
        with pytest.raises(interrupts.Interrupted) as raised:
            with folder as work:
                (work / "report.json").write_text("{}")
                Collected()  # freed at once
                folder.commit()
    assert raised.value.exit_code == 143
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored
    interrupts.check()  # and forgotten: the next command in this process is not interrupted


@pytest.mark.framework  # needs a framework (ImportError when blocked)
def test_a_signal_the_parent_ignores_stays_ignored(signal_dispositions):
    from edgekit import interrupts
    signal = signal_dispositions
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as for `edgekit ... &` from a script
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with interrupts.handled():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
