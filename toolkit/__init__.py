"""edgekit: convert trained models for edge targets and prove every artifact.

    import edgekit
    result = edgekit.convert("model.keras", "android", eval_data="eval.npz")

The public functions (edgekit.api) mirror the CLI's commands: convert, validate, bench,
inspect, check; their option groups are SourceOptions, CalibrationOptions, BudgetOptions,
LabelOptions, EmulationOptions and Callbacks
(edgekit.options). Importing edgekit is cheap: frameworks load only when a step needs them.

The package is assembled from the repository's fixed top-level folders (pyproject.toml's
package-dir): toolkit/ is `edgekit` (CLI, pipeline, search, judging, report), targets/ is
`edgekit.targets` (profiles, the converter registry, one module per format), quantize/ is
`edgekit.quantize` (one record per precision) and web_demo/ is `edgekit.web_demo` (the
browser demo's page files).
"""
__version__ = "0.1.0"

__all__ = ["convert", "validate", "bench", "inspect", "check",
           "SourceOptions", "CalibrationOptions", "BudgetOptions",
           "LabelOptions", "EmulationOptions", "Callbacks", "__version__"]


def __getattr__(name: str):
    """The public names, loaded on first use: `edgekit --help` imports none of them."""
    if name in __all__:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
