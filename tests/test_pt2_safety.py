"""A crafted torch.export `.pt2` must not run code unless the user passes --allow-unsafe-code.

Each hostile archive is a real .pt2 (exported here) with a few members edited so that
torch.export.load (or the module it returns) would run Python: a pickle whose __reduce__
opens a MARKER file for writing (harmless, in tmp_path), or text torch hands to sympify
or pastes into code it exec's. Without the opt-in, `inspect` and `convert` must refuse
with one `Error:` line naming the file and the member, and leave no MARKER and no --out
folder.
"""
from __future__ import annotations

import io
import json
import pickle
import sys
import zipfile
from pathlib import Path

import pytest

from edgekit.errors import InputError
from edgekit.targets import trust
from edgekit.targets.torch import pt2_safety as pt2_safety
from test_bad_inputs import assert_clean_error, run_cli

WEIGHTS_CONFIG = "data/weights/model_weights_config.json"
CONSTANTS_CONFIG = "data/constants/model_constants_config.json"
SAMPLE_INPUTS = "data/sample_inputs/model.pt"
PROGRAM = "models/model.json"


class OpensFile:
    """Unpickling this opens (creates) `path`: a stand-in for os.system in a real attack."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture(scope="module")
def base_pt2(tmp_path_factory) -> Path:
    """An ordinary .pt2 with weights and a tensor constant."""
    import torch

    class Small(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.head = torch.nn.Linear(4 * 8 * 8, 5)
            self.scale = torch.tensor(0.5)  # a plain tensor attribute: an archive constant

        def forward(self, image):
            return self.head(torch.relu(self.conv(image)).flatten(1)) * self.scale

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("pt2") / "small.pt2"
    torch.export.save(torch.export.export(Small().eval(), (torch.zeros(1, 3, 8, 8),)), path)
    return path


def craft(base: Path, out: Path, edit) -> Path:
    """A copy of `base` whose members (names without the root folder) `edit` changes."""
    with zipfile.ZipFile(base) as source:
        root = source.namelist()[0].split("/")[0]
        members = {name.split("/", 1)[1]: source.read(name) for name in source.namelist()}
    edit(members)
    with zipfile.ZipFile(out, "w") as target:
        for name, data in members.items():
            target.writestr(f"{root}/{name}", data)
    return out


def torch_saved(obj) -> bytes:
    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def edit_json(members: dict, name: str, change) -> None:
    document = json.loads(members[name])
    change(document)
    members[name] = json.dumps(document).encode()


def pickled_payload(config: str, folder: str, fqn: str, payload: bytes):
    """Mark one weight or constant use_pickle and replace its member with `payload`."""
    def edit(members):
        path_name = json.loads(members[config])["config"][fqn]["path_name"]
        edit_json(members, config, lambda doc: doc["config"][fqn].update(use_pickle=True))
        members[f"{folder}/{path_name}"] = payload
    return edit


def extra_constant(path_name: str, payload: bytes):
    """Add a constant stored as a custom (torchbind) or opaque Python object."""
    def edit(members):
        edit_json(members, CONSTANTS_CONFIG, lambda doc: doc["config"].update(
            extra={"path_name": path_name, "is_param": False, "use_pickle": True, "tensor_meta": None}))
        members[f"data/constants/{path_name}"] = payload
    return edit


def sympy_expression(marker: Path):
    """A symbolic size whose text sympify evaluates as Python."""
    def change(doc):
        values = doc["graph_module"]["graph"]["tensor_values"]
        values[next(iter(values))]["sizes"][0] = {
            "as_expr": {"expr_str": f"open({str(marker)!r}, 'w')", "hint": {"as_int": 4}}}
    return lambda members: edit_json(members, PROGRAM, change)


def guard_code(marker: Path):
    """A guard: Python source that ExportedProgram.module() exec's."""
    return lambda members: edit_json(members, PROGRAM, lambda doc: doc.update(
        guards_code=[f"open({str(marker)!r}, 'w') is not None"]))


def node_name(marker: Path):
    """An input name, which FX pastes into the forward() source it generates and exec's."""
    evil = json.dumps(f"image=open({str(marker)!r}, 'w')").encode()
    return lambda members: members.update({PROGRAM: members[PROGRAM].replace(b'"image"', evil)})


def attribute_name(marker: Path):
    """A constant's name, which FX pastes into forward() as `getattr(self, "<name>")` (after
    splitting it at dots, so the path is spelled without any)."""
    path = f'str(bytes({list(str(marker).encode())}), "utf8")'
    evil = f'scale", open({path}, "w"))#'

    def edit(members):
        edit_json(members, CONSTANTS_CONFIG,
                  lambda doc: doc["config"].update({evil: doc["config"].pop("scale")}))
        members[PROGRAM] = members[PROGRAM].replace(b'"tensor_constant_name": "scale"',
                                                    b'"tensor_constant_name": ' + json.dumps(evil).encode())
    return edit


def importing_treespec(members):
    """An input spec whose dict keys are 'enums', which pytree imports a module to find."""
    def change(doc):
        signature = doc["graph_module"]["module_call_graph"][0]["signature"]
        protocol, spec = json.loads(signature["in_spec"])
        kwargs = spec["children_spec"][1]
        kwargs["context"] = json.dumps([{"__enum__": True, "fqn": "tabnanny:NannyNag", "name": "x"}])
        kwargs["children_spec"] = [{"type": None, "context": None, "children_spec": []}]
        signature["in_spec"] = json.dumps([protocol, spec])
    edit_json(members, PROGRAM, change)


# kind -> (the edit, given the MARKER path, and the member the refusal must name)
HOSTILE = {
    "weight": (lambda m: pickled_payload(WEIGHTS_CONFIG, "data/weights", "conv.weight",
                                         torch_saved(OpensFile(m))), "data/weights/weight_0"),
    "constant": (lambda m: pickled_payload(CONSTANTS_CONFIG, "data/constants", "scale",
                                           torch_saved(OpensFile(m))), "data/constants/tensor_0"),
    "sample_inputs": (lambda m: lambda members: members.update({SAMPLE_INPUTS: torch_saved(OpensFile(m))}),
                      SAMPLE_INPUTS),
    "opaque_object": (lambda m: extra_constant("opaque_obj_0", pickle.dumps(OpensFile(m))),
                      "data/constants/opaque_obj_0"),
    "sympy_expression": (sympy_expression, PROGRAM),
    "guards_code": (guard_code, PROGRAM),
    "node_name": (node_name, PROGRAM),
    "attribute_name": (attribute_name, PROGRAM),
}


def assert_refused(code: int, output: str, model: Path, member: str, out: Path):
    assert_clean_error(code, output, out)
    error = next(line for line in output.splitlines() if line.startswith("Error: "))
    assert model.name in error and member in error and trust.UNSAFE_FLAG in error, error
    assert not out.exists(), "convert left its --out folder behind"


def convert(model: Path, out: Path):
    return run_cli("convert", model, "--target", "android", "--precision", "fp32",
                   "--bench-runs", "0", "--out", out)


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_archive_is_refused_and_runs_nothing(base_pt2, tmp_path, kind):
    edit, member = HOSTILE[kind]
    marker = tmp_path / "MARKER"
    model = craft(base_pt2, tmp_path / f"{kind}.pt2", edit(marker))
    out = tmp_path / "out"
    for command in (lambda: run_cli("inspect", model), lambda: convert(model, out)):
        code, output = command()
        assert not marker.exists(), f"{kind}: the archive ran code"
        assert_refused(code, output, model, member, out)


def test_torchbind_object_is_refused(base_pt2, tmp_path):
    model = craft(base_pt2, tmp_path / "torchbind.pt2", extra_constant("custom_obj_0", b"\x80\x02N."))
    assert_refused(*run_cli("inspect", model), model, "data/constants/custom_obj_0", tmp_path / "out")


def test_treespec_that_imports_a_module_is_refused(base_pt2, tmp_path):
    if "tabnanny" in sys.modules:
        pytest.skip("tabnanny is already imported: its import could not be told apart")
    model = craft(base_pt2, tmp_path / "enum.pt2", importing_treespec)
    code, output = run_cli("inspect", model)
    assert "tabnanny" not in sys.modules, "the archive made torch import a module"
    assert_refused(code, output, model, PROGRAM, tmp_path / "out")


def test_constant_string_input_that_breaks_out_of_its_guard_is_refused(tmp_path):
    """module() writes the guard `L['mode'] == '<recorded value>'` and exec's it."""
    import torch

    class WithMode(torch.nn.Module):
        def forward(self, x, mode: str):
            return x * 2

    plain = tmp_path / "plain.pt2"
    torch.export.save(torch.export.export(WithMode(), (torch.zeros(2), "abc")), plain)
    trust.decide(plain, False)
    assert pt2_safety.load(plain).module()(torch.ones(2), "abc").tolist() == [2, 2]
    evil = json.dumps(f"abc' or open({str(tmp_path / 'MARKER')!r}, 'w') or '").encode()
    model = craft(plain, tmp_path / "mode.pt2",
                  lambda members: members.update({PROGRAM: members[PROGRAM].replace(b'"abc"', evil)}))
    trust.decide(model, False)
    with pytest.raises(InputError) as error:
        pt2_safety.load(model).module()(torch.ones(2), "abc")
    assert PROGRAM in str(error.value) and trust.UNSAFE_FLAG in str(error.value)
    assert not (tmp_path / "MARKER").exists()


def test_dynamic_shapes_load_without_opt_in(tmp_path):
    """Symbolic sizes and guards as torch writes them pass the check, and the program is
    the one torch's own loader gives."""
    import torch
    from torch.export import Dim

    class Pair(torch.nn.Module):
        def forward(self, x, y):
            return (x[:, :4] * 2 + y[1:]).sum(1) + x.shape[0] // 2

    batch = Dim("batch", min=3, max=64)
    path = tmp_path / "pair.pt2"
    torch.export.save(torch.export.export(Pair(), (torch.zeros(5, 6), torch.zeros(6, 4)),
                                          dynamic_shapes={"x": {0: batch}, "y": {0: batch + 1}}), path)
    assert b"expr_str" in (document := zipfile.ZipFile(path).read(f"pair/{PROGRAM}"))
    assert json.loads(document)["guards_code"], "this export should record a guard"
    trust.decide(path, False)
    ours, theirs = pt2_safety.load(path), torch.export.load(path)
    assert str(ours.graph) == str(theirs.graph) and ours._guards_code == theirs._guards_code
    x, y = torch.rand(7, 6), torch.rand(8, 4)
    assert torch.equal(ours.module()(x, y), theirs.module()(x, y))


def test_opt_in_lets_torch_load_it_and_is_not_cached(base_pt2, tmp_path):
    """With --allow-unsafe-code torch's own loader runs (the harmless payload opens MARKER);
    a later run without it is refused again, not served from a cache."""
    marker = tmp_path / "MARKER"
    edit, member = HOSTILE["weight"]
    model = craft(base_pt2, tmp_path / "weight.pt2", edit(marker))
    run_cli("inspect", model, trust.UNSAFE_FLAG)
    assert marker.exists(), "the opt-in did not reach torch.export.load"
    marker.unlink()
    assert_refused(*run_cli("inspect", model), model, member, tmp_path / "out")
    assert not marker.exists()


def test_weights_only_pickles_load_without_opt_in(base_pt2, tmp_path):
    """use_pickle tensors that torch's weights-only unpickler accepts need no opt-in."""
    import torch

    def edit(members):
        weight = torch.nn.Parameter(torch.ones(5))  # head.bias is a parameter
        pickled_payload(WEIGHTS_CONFIG, "data/weights", "head.bias", torch_saved(weight))(members)
        edit_json(members, CONSTANTS_CONFIG, lambda doc: doc["config"]["scale"].update(use_pickle=True))
        members["data/constants/tensor_0"] = torch_saved(torch.tensor(0.5))
    model = craft(base_pt2, tmp_path / "pickled.pt2", edit)
    for opt_in in ((), (trust.UNSAFE_FLAG,)):
        code, output = run_cli("inspect", model, *opt_in)
        assert code == 0, output
    trust.decide(model, False)
    program = pt2_safety.load(model)
    assert torch.equal(program.state_dict["head.bias"], torch.ones(5))


def test_ordinary_pt2_inspects_and_converts(base_pt2, tmp_path):
    import torch
    code, output = run_cli("inspect", base_pt2)
    assert code == 0, output
    code, output = convert(base_pt2, tmp_path / "out")
    assert code == 0, output
    assert (tmp_path / "out").is_dir()
    # the safe loader gives the same program as torch's own
    ours, theirs = pt2_safety.load(base_pt2), torch.export.load(base_pt2)
    image = torch.rand(1, 3, 8, 8)
    assert torch.equal(ours.module()(image), theirs.module()(image))


def test_pre_2_6_layout_needs_the_opt_in(tmp_path):
    """torch loads that layout's pickles with a full-pickle fallback."""
    model = tmp_path / "old.pt2"
    with zipfile.ZipFile(model, "w") as archive:
        for name in ("serialized_exported_program.json", "serialized_state_dict.pt", "version"):
            archive.writestr(name, b"5.2" if name == "version" else b"{}")
    trust.decide(model, False)
    with pytest.raises(InputError) as error:
        pt2_safety.load(model)
    assert "serialized_exported_program.json" in str(error.value)
    assert trust.UNSAFE_FLAG in str(error.value)


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],
    lambda data: b"not a zip archive at all",
    lambda data: b"",
    lambda data: data[:-200] + bytes(200),  # the zip's directory
])
def test_damaged_archive_is_a_one_line_input_error(base_pt2, tmp_path, damage):
    model = tmp_path / "damaged.pt2"
    model.write_bytes(damage(base_pt2.read_bytes()))
    trust.decide(model, False)
    with pytest.raises(InputError) as error:
        pt2_safety.load(model)
    assert "\n" not in str(error.value) and model.name in str(error.value)


@pytest.mark.parametrize("member", [WEIGHTS_CONFIG, CONSTANTS_CONFIG, SAMPLE_INPUTS, PROGRAM,
                                    "archive_version", "archive_format", "data/weights/weight_0"])
@pytest.mark.parametrize("broken", [None, b"{not json", b"\x80\x02"])
def test_missing_or_garbled_member_is_a_one_line_input_error(base_pt2, tmp_path, member, broken):
    model = craft(base_pt2, tmp_path / "partial.pt2",
                  lambda members: members.pop(member) if broken is None else members.update({member: broken}))
    trust.decide(model, False)
    with pytest.raises(InputError) as error:
        pt2_safety.load(model)
    assert "\n" not in str(error.value) and model.name in str(error.value)


@pytest.mark.parametrize("text, torch_writes", [
    ("FloorDiv(Symbol('s77', positive=True, integer=True), Integer(2))", True),
    ("GreaterThan(Symbol('u0', integer=True), Float('0.5', precision=53))", True),
    ("Max(Integer(2), Symbol('s0')) + oo", True),
    ("__import__('os').system('true')", False),
    ("Max('__import__(\"os\")')", False),  # sympy classes sympify their string arguments
    ("exec(chr(95))", False),
    ("Symbol('x').__class__", False),
    ("sympify('1')", False),
])
def test_sympy_text_rule(text, torch_writes):
    assert pt2_safety._is_sympy_text(text) is torch_writes


@pytest.mark.parametrize("text, torch_writes", [
    ("L['x'].size()[0] == ((-1) + L['y'].size()[0])", True),
    ("L['b']['my-key'].size()[1] <= math.floor(L['x'].size()[0] / 2)", True),
    ("torch.load('x') is None", False),
    ("L['x'].__class__ is None", False),
    ("L['a\"b'] == 1", False),  # a quote would end the message string module() writes
    ("(lambda: 1)() == 1", False),
])
def test_guard_rule(text, torch_writes):
    assert pt2_safety._is_guard(text) is torch_writes
