"""fp32: the unquantized model. Every format carries it as converted.

Judged on the largest error of any element (relative to the output's scale), SQNR, cosine
similarity and top-1 agreement. Measured: a converter that reorders float math differs by
1e-7..1e-5 of the scale on most models, and by up to 1.4e-3 on Spotify's basic-pitch (a
spectrogram front end over 180k output values: SQNR 64.6 dB, cosine 1.000000, mean error
3e-5 of the scale), which a 1e-3 limit rejected. A wrong conversion is orders of magnitude
further off: a swapped output or a transposed layout fails cosine and SQNR; a padding
mistake that spoils only a corner of a large map keeps SQNR high but puts single
elements 10%+ of the scale off, which the 1e-2 element limit still catches.
"""
from .precision import Precision, Tolerance

FP32 = Precision(
    name="fp32",
    tolerance=Tolerance(max_abs_error=1e-2, min_sqnr_db=50.0, min_cosine=0.9999,
                        min_top1_agreement=0.99),
    hooks={},
    every_format=True,
    summary="float32 weights and activations",
    layer_cosine=0.9999,
)
