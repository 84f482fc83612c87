"""edgekit: convert trained models for edge targets and prove every artifact.

    import edgekit
    result = edgekit.convert("model.keras", "android", eval_data="eval.npz")

Importing edgekit is cheap: frameworks load only when a step needs them.
"""
__version__ = "0.1.0"


def convert(*args, **kwargs):
    """See edgekit.pipeline.convert."""
    from .extras import missing_dependency
    from .pipeline import convert as _convert
    try:
        return _convert(*args, **kwargs)
    except ModuleNotFoundError as error:  # an optional package: name the extra that brings it
        missing = missing_dependency(error, "convert")
        if missing is None:
            raise
        raise missing from error
