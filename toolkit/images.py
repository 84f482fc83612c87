"""A folder of images as model input (for --calib): decoded with Pillow and preprocessed
by a small spec, so calibration sees exactly what the deployed app will feed.

Spec (`--calib-preprocess`), comma-separated `key=value`, every key optional:
  size=HxW      resize to (default: the model's input height and width)
  scale=1/255   multiply pixel values 0..255 by this (default 1/255)
  mean=0.5      subtract after scaling (one value, or one per channel: 0.485/0.456/0.406)
  std=0.5       then divide by this (same forms as mean)
  channels=rgb  rgb, bgr or gray (default: gray for 1-channel models, rgb for 3)
The layout (NHWC or NCHW) is the model's.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, first_line
from .safe_files import read_bytes
from .tensors import TensorSpec, to_layout

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Preprocess:
    size: tuple[int, int] | None = None
    scale: float = 1 / 255
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    channels: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> "Preprocess":
        if not text:
            return cls()
        fields = {}
        for item in text.split(","):
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or key not in ("size", "scale", "mean", "std", "channels"):
                raise InputError(f"bad --calib-preprocess item '{item}'; keys: size=HxW, "
                                 "scale=1/255, mean=..., std=..., channels=rgb|bgr|gray")
            fields[key] = value
        try:
            return cls(
                size=tuple(int(v) for v in fields["size"].lower().split("x")) if "size" in fields else None,
                scale=_number(fields.get("scale", "1/255")),
                mean=tuple(_number(v) for v in fields.get("mean", "0").split("/")),
                std=tuple(_number(v) for v in fields.get("std", "1").split("/")),
                channels=fields.get("channels"))
        except (ValueError, ZeroDivisionError):
            raise InputError(f"bad --calib-preprocess '{text}'") from None


def _number(text: str) -> float:
    top, _, bottom = text.partition("/")
    return float(top) / (float(bottom) if bottom else 1.0)


def load_folder(folder: Path, spec: TensorSpec, preprocess: Preprocess, limit: int) -> np.ndarray:
    """Up to `limit` images of `folder` (sorted by name) as one batch for input `spec`."""
    from PIL import Image, UnidentifiedImageError
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise InputError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if len(spec.shape) != 4 or spec.layout is None:
        raise InputError(f"an image folder needs a model with one 4-D image input; "
                         f"'{spec.name}' is {spec.describe()}")
    nhwc = spec.shape if spec.layout == "NHWC" else (spec.shape[0], *spec.shape[2:], spec.shape[1])
    height, width = preprocess.size or (nhwc[1], nhwc[2])
    if not height or not width:
        raise InputError("the model's input size is dynamic: give size=HxW in --calib-preprocess")
    channels = preprocess.channels or ("gray" if nhwc[3] == 1 else "rgb")
    batch = []
    for path in files:
        data = io.BytesIO(read_bytes(path.name, inside=folder))  # no FIFO, no link out
        try:
            with warnings.catch_warnings():  # Pillow only warns below twice its pixel limit
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(data) as image:
                    image = image.convert("L" if channels == "gray" else "RGB").resize((width, height))
                    pixels = np.asarray(image, np.float32)
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as error:
            raise InputError(f"cannot decode image {path}: {first_line(error)}") from error
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        batch.append(pixels[..., ::-1] if channels == "bgr" else pixels)
    array = np.stack(batch) * preprocess.scale
    array = (array - np.asarray(preprocess.mean, np.float32)) / np.asarray(preprocess.std, np.float32)
    return to_layout(array.astype(np.float32), "NHWC", spec.layout)
