"""Run under emulation, by the arm64 Python of the userland (edgekit.emulator.userland):
no edgekit there, only numpy and the runtimes. Executes batches already prepared by the
host (edgekit.emulator.runner: quantized, in the model's axes and dtypes) and returns the
raw outputs, exactly what the host's runtime call returns for the same batch.

    python3.11 inside.py REQUEST.npz SPEC.json OUTPUTS.npz
"""
import json
import sys

import numpy as np


def tflite(model: str, batches, threads: int):
    """LiteRT as edgekit's TFLite runner drives it: resize and allocate when the shapes change."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=model, num_threads=threads)
    inputs, shapes = it.get_input_details(), None
    for batch in batches:
        if [x.shape for x in batch] != shapes:
            for detail, x in zip(inputs, batch):
                if tuple(detail["shape"]) != x.shape:
                    it.resize_tensor_input(detail["index"], x.shape)
            it.allocate_tensors()
            shapes = [x.shape for x in batch]
        for detail, x in zip(inputs, batch):
            it.set_tensor(detail["index"], x)
        it.invoke()
        yield [it.get_tensor(detail["index"]) for detail in it.get_output_details()]


def onnx(model: str, batches, threads: int):
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    for batch in batches:
        yield session.run(None, dict(zip(names, batch)))


RUNTIMES = {"tflite": tflite, "onnx": onnx}


def main(request: str, spec_path: str, answer: str) -> None:
    spec = json.loads(open(spec_path).read())
    arrays = np.load(request)
    batches = [[arrays[f"b{b}_i{i}"] for i in range(spec["inputs"])] for b in range(spec["batches"])]
    outputs = {}
    for b, result in enumerate(RUNTIMES[spec["format"]](spec["model"], batches, spec["threads"])):
        outputs.update({f"b{b}_o{o}": np.asarray(y) for o, y in enumerate(result)})
    np.savez(answer, **outputs)


if __name__ == "__main__":
    main(*sys.argv[1:4])
