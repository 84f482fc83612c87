"""edgekit: convert trained models for edge targets and prove every artifact.

    import edgekit
    result = edgekit.convert("model.keras", "android", eval_data="eval.npz")

Importing edgekit is cheap: frameworks load only when a step needs them.
"""
__version__ = "0.1.0"


def convert(*args, **kwargs):
    """See edgekit.pipeline.convert."""
    from .pipeline import convert as _convert
    return _convert(*args, **kwargs)
