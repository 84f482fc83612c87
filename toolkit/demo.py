"""`edgekit demo`: the browser demo page, serving a TF.js model edgekit produced."""
from __future__ import annotations

from pathlib import Path

from . import json_shape
from .errors import InputError
from .safe_files import inside_folder

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent  # the checkout, in an editable install
# The page: package data in a wheel (edgekit/web_demo/), the repository's web_demo/ in a checkout.
WEB_DEMO_DIRS = (PACKAGE / "web_demo", REPO / "web_demo")
SAMPLE_MODEL = REPO / "sample_models" / "digits_keras.keras"  # only a checkout has the samples
SAMPLE_OUT = REPO / "edgekit-out" / "digits-web"


def web_demo_dir() -> Path:
    for folder in WEB_DEMO_DIRS:
        if (folder / "index.html").is_file():
            return folder
    raise InputError(f"the demo page (web_demo/index.html) is missing from {PACKAGE}: "
                     "reinstall edgekit")


def vendor_dir() -> Path:
    from .targets.tfjs import node_modules
    return node_modules() / "@tensorflow"


def find_model_dir(artifact: Path) -> Path:
    """A TF.js model folder, or the tfjs artifact listed in an edgekit output's report."""
    artifact = Path(artifact)
    if (artifact / "model.json").is_file():
        return artifact
    report = artifact / "report.json"
    if report.exists():
        shape = {"artifacts": [{"format": str, "path": str}]}
        for row in json_shape.load(report, shape, "an edgekit report.json")["artifacts"]:
            if row["format"] == "tfjs":
                return inside_folder(row["path"], artifact)
    raise InputError(f"{artifact} is neither a TF.js model folder (model.json) nor an edgekit "
                     "output folder with a tfjs artifact; convert with --target web first")


def check_metadata(model_dir: Path) -> None:
    if not (model_dir / "edgekit.json").is_file():
        raise InputError(f"{model_dir} has no edgekit.json: the demo needs the metadata "
                         "edgekit writes next to every TF.js model; convert it with edgekit")


def routes(model_dir: Path, data_dir: Path | None = None) -> dict[str, Path]:
    table = {"/": web_demo_dir(), "/model/": model_dir, "/vendor/": vendor_dir()}
    if data_dir is not None:
        table["/data/"] = data_dir
    return table


def sample_model(progress) -> Path:
    """The sample digit classifier for the web, converted (and proven) on first use."""
    if not SAMPLE_MODEL.is_file():  # an installed wheel: the samples live in the checkout
        raise InputError("give the TF.js model to serve: edgekit demo OUT (an output folder of "
                         "`edgekit convert MODEL --target web`); the sample model ships only "
                         "with the edgekit repository")
    if not (SAMPLE_OUT / "report.json").is_file():
        from .options import Callbacks
        from .pipeline import convert
        progress("converting the sample digit model for the web (first run only)")
        convert(str(SAMPLE_MODEL), "web", SAMPLE_OUT,
                eval_data=SAMPLE_MODEL.with_name("digits_eval.npz"),
                callbacks=Callbacks(progress=progress))
    return find_model_dir(SAMPLE_OUT)
