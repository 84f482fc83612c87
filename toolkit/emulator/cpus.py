"""QEMU's arm64 CPU models, by the ISA features int8 kernels choose their code paths by
(XNNPACK and onnxruntime read them at start-up). Stdlib only: options are checked with it."""
from __future__ import annotations

from ..errors import UnsupportedError

DEFAULT_CPUS = ("cortex-a53", "neoverse-n1")  # without and with dot-product int8 instructions
# each class in sibling order: a disagreement on one is re-checked on the next
ISA_CLASSES = {
    "armv8.0-A (no dot product)": ("cortex-a53", "cortex-a72", "cortex-a57", "cortex-a35"),
    "armv8.2-A + dot product": ("cortex-a76", "neoverse-n1", "cortex-a55"),
    "armv9-A + dot product, i8mm, SVE2": ("cortex-a710", "neoverse-n2"),
    "armv8.4-A + dot product, SVE": ("neoverse-v1", "a64fx"),
}
ISA_OF = {cpu: isa for isa, cpus in ISA_CLASSES.items() for cpu in cpus}
# `max` (every feature QEMU has, SME included) is left out on purpose: no device has it, and
# an older QEMU's SME model returned wrong int8 results silently


def sibling(cpu: str) -> str | None:
    """Another CPU model of the same ISA class, to re-check a disagreement on."""
    return next((other for other in ISA_CLASSES.get(ISA_OF.get(cpu), ()) if other != cpu), None)


def check(cpus) -> tuple[str, ...]:
    unknown = [cpu for cpu in cpus if cpu not in ISA_OF]
    if unknown:
        raise UnsupportedError(f"unknown arm64 CPU model {', '.join(unknown)}; valid: {', '.join(ISA_OF)}")
    return tuple(cpus)
