"""Importing TensorFlow and its converters the way that works with this stack."""
from __future__ import annotations

import os
import sys
import types
import warnings

from .quiet import silenced


def quiet() -> None:
    """TensorFlow's C++ logging floods stderr; keep warnings and errors only."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


_probed: list[bool] = []  # the CUDA probe below ran (once per process is enough)


def tensorflow():
    quiet()
    if not _probed:  # also when a user's model file imported TensorFlow before edgekit did
        with silenced():
            import tensorflow as tf
            tf.config.list_physical_devices()  # probes CUDA now: "failed call to cuInit" on CPU hosts
        _probed.append(True)
    import tensorflow as tf
    return tf


def tensorflow_with_keras2():
    """TensorFlow with tf_keras imported first: SavedModels written by Keras 2 (with
    optimizer slot variables) fail to load under Keras 3 otherwise ('add_slot')."""
    tf = tensorflow()
    import tf_keras  # noqa: F401  (import side effect registers Keras 2 objects)
    return tf


def tfjs_converter():
    """tensorflowjs' SavedModel converter. tensorflowjs imports tensorflow_decision_forests
    at import time only to support decision-forest models; that package cannot be installed
    beside TF 2.21, so an empty stand-in module is registered when it is missing. Convert
    inside `tfjs_graph.patched(...)`: the graph rewrites TF.js needs."""
    quiet()
    try:
        import tensorflow_decision_forests  # noqa: F401
    except ImportError:
        sys.modules.setdefault("tensorflow_decision_forests",
                               types.ModuleType("tensorflow_decision_forests"))
    with warnings.catch_warnings():  # tensorflow_hub warns that pkg_resources is deprecated
        warnings.simplefilter("ignore")
        from tensorflowjs.converters import tf_saved_model_conversion_v2
    return tf_saved_model_conversion_v2
