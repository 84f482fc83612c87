"""Magnitude pruning (unstructured): zero the smallest weights of every conv/dense layer.

PyTorch: torch.nn.utils.prune.l1_unstructured per layer; its masks stay active while an
optional fine-tune runs and are made permanent afterwards (prune.remove).
Keras: tensorflow-model-optimization only handles tf_keras (Keras 2) models, and Keras 3
is what loads .keras files, so edgekit applies the same per-layer magnitude masks itself
and re-applies them after every fine-tuning batch.

Zeros shrink the *compressed* download; dense kernels (TFLite, onnxruntime, TF.js) do
not skip them, so expect no speed-up from this method (the report measures it).
"""
from __future__ import annotations

import numpy as np

KERAS_PRUNABLE = ("Conv1D", "Conv2D", "Conv3D", "Dense", "DepthwiseConv2D", "SeparableConv2D")


def torch_layers(module) -> list:
    """Modules owning a weight matrix or kernel (conv, linear), by parameter rather than by
    class so that the plain submodules of an exported program count too."""
    return [m for m in module.modules()
            if isinstance(getattr(m, "weight", None), __import__("torch").nn.Parameter)
            and m.weight.dim() >= 2]


def torch(module, sparsity: float, example=None):
    from torch.nn.utils import prune
    for layer in torch_layers(module):
        prune.l1_unstructured(layer, "weight", amount=sparsity)
    return module


def finish_torch(module):
    """Make the masks permanent (weight = weight_orig * mask, reparametrisation removed)."""
    from torch.nn.utils import prune
    for layer in module.modules():
        if prune.is_pruned(layer) and hasattr(layer, "weight_orig"):
            prune.remove(layer, "weight")
    return module


def keras_masks(model, sparsity: float) -> dict:
    """Per layer: a 0/1 mask of its kernel keeping the largest-magnitude (1 - sparsity)."""
    masks = {}
    for layer in model.layers:
        if type(layer).__name__ in KERAS_PRUNABLE:
            kernel = layer.get_weights()[0]
            cut = np.quantile(np.abs(kernel), sparsity)
            masks[layer.name] = (np.abs(kernel) > cut).astype(kernel.dtype)
    return masks


def apply_keras_masks(model, masks: dict):
    for layer in model.layers:
        if layer.name in masks:
            weights = layer.get_weights()
            weights[0] = weights[0] * masks[layer.name]
            layer.set_weights(weights)
    return model


def keras(model, sparsity: float, example=None):
    masks = keras_masks(model, sparsity)
    model._edgekit_masks = masks  # re-applied after each fine-tuning batch
    return apply_keras_masks(model, masks)


HOOKS = {"torch": torch, "keras": keras}
FINISH = {"torch": finish_torch}
NO_SPEEDUP = ("dense kernels compute the zeros anyway: unstructured sparsity shrinks the "
              "compressed download, not the run time")  # after fine-tuning, before saving
