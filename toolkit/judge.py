"""Proving an artifact: run it in its own runtime on the evaluation data and judge it
against the original model's outputs, the precision's tolerance and the profile's budgets."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .data import Dataset, random_inputs
from .drift import (Drift, Mismatch, Tolerance, accuracy, class_outputs, compare, nonfinite_outputs,
                    violations)
from .errors import InputError, first_line, raised_in_edgekit
from .model import ModelHandle
from .profile import Budgets, breaks
from .tensors import BY_POSITION, feed_for, match, sample_shape, to_layout


@dataclass
class Verdict:
    handle: ModelHandle
    drifts: list[Drift] = field(default_factory=list)
    accuracy: float | None = None
    problems: list[str] = field(default_factory=list)
    layout_note: str | None = None
    # source output -> artifact output, and how they were matched (edgekit.tensors.match)
    output_mapping: list[dict] = field(default_factory=list)
    too_large: bool = False  # one of the problems is the size budget

    @property
    def only_too_large(self) -> bool:
        """Accurate enough, but over the size budget: keeping layers in float cannot help."""
        return self.too_large and len(self.problems) == 1

    @property
    def passed(self) -> bool:
        return not self.problems


def with_label_output(data: Dataset, source: ModelHandle, reference: list[np.ndarray],
                      asked: str | None) -> Dataset:
    """The data, knowing which output its labels score (and saying so in its notes)."""
    from dataclasses import replace

    from .labels import labelled_output
    index, note = labelled_output([s.name for s in source.outputs] or
                                  [f"output {i}" for i in range(len(reference))],
                                  reference, data.labels, asked)
    return replace(data, label_output=index, notes=data.notes + ((note,) if note else ()))


def reference_outputs(source: ModelHandle, data: Dataset) -> list[np.ndarray]:
    """The original's outputs on the evaluation data: what every artifact is judged against.
    A model that loads but cannot run on the data, or computes NaN/Inf from it, is the
    user's problem to fix (wrong data, wrong shapes), not an artifact's or edgekit's."""
    try:
        reference = source.runner()(data.inputs)
    except Exception as error:
        if isinstance(error, InputError) or raised_in_edgekit(error):
            raise
        shapes = ", ".join(f"{s.name} {'x'.join(map(str, x.shape))} {x.dtype}"
                           for s, x in zip(source.inputs, data.inputs))
        raise InputError(f"the original model {source.path} failed to run on the evaluation "
                         f"data ({shapes}): {first_line(error)}") from error
    bad = nonfinite_outputs(reference)
    if bad:
        index, count = bad[0]
        name = source.outputs[index].name if index < len(source.outputs) else f"output {index}"
        raise InputError(f"the original model {source.path} outputs {count} NaN/Inf values in "
                         f"'{name}' on the evaluation data from {data.origin}: drift against it "
                         "would prove nothing; check the data's range and dtype")
    return reference


# sizes tried for dynamic dimensions of random inputs: a model may need a minimum length
# (an STFT's reflect padding, a deep stack of poolings) that the first one does not reach
RANDOM_DYNAMIC_SIZES = (32, 256, 1024)


def random_inputs_that_run(source: ModelHandle, seed: int) -> Dataset:
    """Seeded random inputs (edgekit.data.random_inputs) whose dynamic dimensions the model
    accepts: the smallest size of RANDOM_DYNAMIC_SIZES on which one sample runs. A model that
    runs on none is left for reference_outputs to report on the first."""
    data = random_inputs(source, seed)
    if all(None not in sample_shape(s) for s in source.inputs):
        return data
    runner = source.runner()
    for size in RANDOM_DYNAMIC_SIZES:
        trial = random_inputs(source, seed, dynamic_size=size)
        try:
            runner([x[:1] for x in trial.inputs])
        except Exception as error:
            if isinstance(error, InputError) or raised_in_edgekit(error):
                raise
            continue
        return trial
    return data


def run_in_layout(handle: ModelHandle, source: ModelHandle, inputs: list[np.ndarray],
                  runner=None, mapping: list | None = None) -> list[np.ndarray]:
    """Run `handle` (with its own runtime, or `runner`) on inputs prepared for `source`,
    converting layouts both ways; the outputs come back in the source's order (how each
    was matched is appended to `mapping`)."""
    if len(handle.inputs) != len(source.inputs):
        raise Mismatch(f"the artifact has {len(handle.inputs)} inputs, the original "
                       f"{len(source.inputs)}")
    outputs = (runner or handle.runner())(feed_for(handle, source, inputs))
    if len(outputs) == len(handle.outputs) == len(source.outputs):
        order, how = match(source.outputs, handle.outputs, [o.shape for o in outputs])
        if mapping is not None:
            mapping += [{"source": s.name, "artifact": handle.outputs[j].name, "by": how}
                        for s, j in zip(source.outputs, order)]
        outputs = [to_layout(outputs[j], handle.outputs[j].layout, s.layout)
                   for s, j in zip(source.outputs, order)]
    return outputs


def judge(handle: ModelHandle, source: ModelHandle, data: Dataset, reference: list[np.ndarray],
          tolerance: Tolerance, budgets: Budgets, source_accuracy: float | None,
          runner=None) -> Verdict:
    """`runner` replaces the handle's own runtime (e.g. TF.js in a browser backend)."""
    verdict = Verdict(handle)
    flipped = [a.name for a, s in zip(handle.inputs, source.inputs)
               if a.layout and s.layout and a.layout != s.layout]
    if flipped:
        verdict.layout_note = f"inputs {', '.join(flipped)} are {handle.inputs[0].layout} " \
                              f"(source: {source.inputs[0].layout}); validation transposed them"
    try:
        outputs = run_in_layout(handle, source, data.inputs, runner, verdict.output_mapping)
        verdict.drifts = compare(reference, outputs)
    except Exception as error:
        # the artifact's runtime refusing it, or edgekit's checks finding its tensors do not
        # line up, reject the artifact with those words; anything raised by edgekit's own
        # code is a bug to report (exit 70), not a reason to try another route
        if raised_in_edgekit(error) and not isinstance(error, (Mismatch, InputError)):
            raise
        verdict.problems.append(f"could not run in its runtime: {first_line(error)}")
        return verdict
    if len(verdict.output_mapping) > 1 and verdict.output_mapping[0]["by"] == BY_POSITION:
        verdict.layout_note = ((verdict.layout_note + "; ") if verdict.layout_note else "") + (
            "outputs matched by position: the artifact lost the original's output names and "
            "some share a shape, so nothing else tells them apart; an app reading outputs by "
            "index must check this order")
    verdict.problems += violations(verdict.drifts, tolerance,
                                   class_outputs(reference, data.labels, data.label_output))
    verdict.accuracy = accuracy(outputs, data.labels, data.label_output)
    if verdict.accuracy is not None and source_accuracy is not None:
        drop = (source_accuracy - verdict.accuracy) * 100
        if breaks(drop, budgets.max_accuracy_drop):
            verdict.problems.append(f"accuracy drop {drop:.2f} points > budget "
                                    f"{budgets.max_accuracy_drop}")
    size = handle.size_bytes()
    if budgets.max_size_mb is not None and size > budgets.max_size_mb * 1e6:
        verdict.problems.append(f"size {size / 1e6:.2f} MB > budget {budgets.max_size_mb} MB")
        verdict.too_large = True
    return verdict


GROSS_COSINE = 0.9  # below this, an artifact's outputs are unrelated to the original's
# naming the first divergent layer of a failed candidate is a hint, paid for every failure
# of a search: a few samples show where outputs part ways
DIAGNOSIS_SAMPLES = 4


def gross_failure(verdict: Verdict, source: ModelHandle, data: Dataset) -> str | None:
    """Why an artifact is unusable (not merely out of tolerance), or None. For wrong
    outputs, the per-layer comparison names the first divergent layer when it can."""
    for problem in verdict.problems:
        if problem.startswith("could not run"):
            return problem
    low = [d.cosine for d in verdict.drifts if d.cosine < GROSS_COSINE]
    if not low:
        return None
    return f"outputs unrelated to the original's (cosine {min(low):.3f})" + \
        _first_divergent(verdict, source, data)


def _first_divergent(verdict: Verdict, source: ModelHandle, data: Dataset) -> str:
    from .layers import layer_report
    try:
        layers = layer_report(source, verdict.handle, data, verdict.handle.precision,
                              samples=DIAGNOSIS_SAMPLES)
    except Exception:  # the formats cannot expose intermediates: say nothing more
        return ""
    divergent = layers["first_divergent"]
    return f"; first divergent layer: {divergent['layer']}" if divergent else ""
