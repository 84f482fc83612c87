"""fp32: the unquantized model. Every format carries it as converted.

Float paths are judged on absolute error (relative to the output's scale), cosine
similarity and top-1 agreement: a converter that reorders float math differs by ~1e-6,
a wrong one by orders of magnitude more.
"""
from .precision import Precision, Tolerance

FP32 = Precision(
    name="fp32",
    tolerance=Tolerance(max_abs_error=1e-3, min_cosine=0.9999, min_top1_agreement=0.99),
    hooks={},
    every_format=True,
    summary="float32 weights and activations",
    layer_cosine=0.9999,
)
