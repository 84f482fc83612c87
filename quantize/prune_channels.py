"""Structured channel pruning: remove whole output channels (and everything that depends on
them) so the model really gets smaller and faster, with torch-pruning's dependency graph
(DepGraph) and L1 magnitude importance. The classifier's output layer is never pruned.
PyTorch only: Keras has no maintained equivalent that works with Keras 3."""
from __future__ import annotations


def torch(module, sparsity: float, example=None):
    import torch as torch_lib
    import torch_pruning as tp
    linear = [m for m in module.modules() if isinstance(m, torch_lib.nn.Linear)]
    convs = [m for m in module.modules() if isinstance(m, torch_lib.nn.Conv2d)]
    last = (linear or convs)[-1:]  # keep the number of outputs
    pruner = tp.pruner.MagnitudePruner(module, example, importance=tp.importance.MagnitudeImportance(p=1),
                                       pruning_ratio=sparsity, ignored_layers=last)
    pruner.step()
    return module


HOOKS = {"torch": torch}
NO_SPEEDUP = ("fewer channels did not make this model faster here: at this size, per-call "
              "overhead outweighs the arithmetic saved")
