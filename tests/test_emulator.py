"""arm64 emulation: CPU models and options (pure), the emulated proof's judgement with
runners standing in for the emulator (framework), and the real thing, QEMU on the sample
models (test_emulator_runs.py, slow)."""
import numpy as np
import pytest

from edgekit.emulator.cpus import DEFAULT_CPUS, ISA_OF, check, sibling
from edgekit.errors import InputError, UnsupportedError
from edgekit.options import EmulationOptions
from edgekit.targets.profiles import PROFILES


@pytest.mark.pure
def test_every_profile_names_cpu_models_qemu_has_and_a_sibling_to_recheck_on():
    named = {cpu for p in PROFILES.values() for cpu in p.emulated_cpus} | set(DEFAULT_CPUS)
    assert named <= set(ISA_OF)
    assert PROFILES["android"].emulated_cpus == ("cortex-a53", "cortex-a76")
    for cpu in named:
        other = sibling(cpu)
        assert other and other != cpu and ISA_OF[other] == ISA_OF[cpu]
    assert not PROFILES["web"].emulated_cpus and not PROFILES["microcontroller"].emulated_cpus


@pytest.mark.pure
def test_emulation_options_are_checked_when_made():
    assert EmulationOptions(cpus=["cortex-a76"]).cpus == ("cortex-a76",)
    with pytest.raises(UnsupportedError, match="unknown arm64 CPU model cortex-a99"):
        EmulationOptions(cpus=("cortex-a99",))
    with pytest.raises(UnsupportedError, match="unknown arm64 CPU model max"):
        check(["max"])  # every QEMU feature, SME included: no device has it
    with pytest.raises(UnsupportedError, match="unknown emulated architecture 'riscv64'"):
        EmulationOptions(arch="riscv64")
    with pytest.raises(InputError, match="at least 1"):
        EmulationOptions(samples=0)


class Shifted:
    """A runner standing in for the emulator: the artifact's own runtime, its outputs moved
    by `shift` on the CPU models in `wrong_on` (an ISA path computing something else)."""

    def __init__(self, handle, cpu, wrong_on, shift):
        self.run, self.wrong = handle.runner(), cpu in wrong_on
        self.shift = shift

    def __call__(self, inputs):
        outputs = self.run(inputs)
        return [y + self.shift * np.abs(y).max() for y in outputs] if self.wrong else outputs


def _prove(tiny_onnx, cpus, wrong_on=(), shift=0.0):
    from edgekit.data import random_inputs
    from edgekit.emulator import proof
    from edgekit.inspection import open_any
    from edgekit.judge import reference_outputs
    from edgekit.quantize import PRECISIONS
    handle = open_any(str(tiny_onnx))
    data = random_inputs(handle, 0)
    seen = []

    def runner(h, cpu, userland):
        seen.append(cpu)
        return Shifted(h, cpu, wrong_on, shift)
    record = proof.prove(handle, handle, data, reference_outputs(handle, data),
                         PRECISIONS["fp32"].tolerance, cpus, 16, None, make_runner=runner)
    return record, seen


@pytest.mark.framework
def test_the_same_numbers_on_arm_pass_and_say_bit_identical(tiny_onnx):
    record, seen = _prove(tiny_onnx, ("cortex-a53", "cortex-a76"))
    assert record["passed"] and seen == ["cortex-a53", "cortex-a76"] and record["samples"] == 16
    assert [(r["cpu"], r["bit_identical"], r["max_abs_diff_vs_x86"]) for r in record["cpus"]] == \
        [("cortex-a53", True, 0.0), ("cortex-a76", True, 0.0)]


@pytest.mark.framework
def test_an_artifact_that_differs_on_arm_fails_with_the_cpu_named_once_confirmed(tiny_onnx):
    record, seen = _prove(tiny_onnx, ("cortex-a76",), wrong_on=("cortex-a76", "neoverse-n1"), shift=0.2)
    assert not record["passed"]
    assert seen == ["cortex-a76", "neoverse-n1"]  # re-checked on the sibling before blaming
    problem = record["problems"][0]
    assert problem.startswith("on arm64 cortex-a76 (armv8.2-A + dot product), confirmed on "
                              "neoverse-n1: vs x86:"), problem
    row, = record["cpus"]
    assert not row["bit_identical"] and row["max_abs_diff_vs_x86"] > 0
    assert row["recheck"] == {"cpu": "neoverse-n1", "agrees": False}


@pytest.mark.framework
def test_a_disagreement_its_sibling_does_not_share_is_the_emulators_not_the_artifacts(tiny_onnx):
    record, seen = _prove(tiny_onnx, ("cortex-a53",), wrong_on=("cortex-a53",), shift=0.2)
    assert record["passed"] and seen == ["cortex-a53", "cortex-a72"]
    assert "suspected emulator fault, not blamed on the artifact" in record["notes"][0]
    assert record["cpus"][0]["recheck"] == {"cpu": "cortex-a72", "agrees": True}


@pytest.mark.framework
def test_a_difference_within_the_precisions_tolerance_is_reported_not_failed(tiny_onnx):
    record, _ = _prove(tiny_onnx, ("neoverse-n1",), wrong_on=("neoverse-n1",), shift=1e-7)
    row, = record["cpus"]
    assert record["passed"] and not row["bit_identical"] and 0 < row["max_abs_diff_vs_x86"] < 1e-5
