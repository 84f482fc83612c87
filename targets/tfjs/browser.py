"""Running a TF.js model in headless Chromium on one TF.js backend (webgl, wasm, cpu).

Backends differ numerically (a recurring TF.js complaint), and Node has no webgl: the
browser is where those differences show. A backend the headless browser lacks raises
BackendUnavailable, which callers report as "not available", not as a failure.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ...model import ModelHandle
from ..browser import BackendUnavailable

BACKENDS = ("wasm", "webgl", "cpu")


def make_runner(handle: ModelHandle, backend: str):
    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        from ...demo import routes
        from ...serve import start, url
        from ..browser import page as browser_page
        from . import node_names
        input_nodes, output_nodes = node_names(handle)
        with tempfile.TemporaryDirectory(prefix="edgekit-browser-data-") as data_dir:
            specs = []
            for i, (node, x) in enumerate(zip(input_nodes, inputs)):
                dtype = "int32" if np.issubdtype(x.dtype, np.integer) else "float32"
                np.ascontiguousarray(x.astype(dtype)).tofile(Path(data_dir) / f"input_{i}.bin")
                specs.append({"name": node, "shape": list(x.shape), "dtype": dtype,
                              "url": f"data/input_{i}.bin"})
            server = start(routes(Path(handle.path), Path(data_dir)))
            try:
                with browser_page() as page:
                    page.goto(url(server, "/runner.html"))
                    reply = page.evaluate("(request) => window.edgekitRun(request)",
                                          {"backend": backend, "inputs": specs,
                                           "outputs": output_nodes})
            finally:
                server.shutdown()
        if not reply["available"]:
            raise BackendUnavailable(reply["reason"])
        return [np.asarray(o["data"], np.float32).reshape(o["shape"]) for o in reply["outputs"]]
    return run
