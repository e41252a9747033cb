"""What ``--model`` names: an AFFNet variant, a ``.pt2`` file, or a ``package.module:factory``.

Every command resolves the string once into a :class:`ModelSource`: the eager module (the parity
reference), its example inputs (shapes and dtypes), its dynamic shapes, the exported program,
and its identity (name for file names, sha256 of the file it came from for manifests/results).

- ``.pt2``: written by ``torch.export.save``; the example inputs stored in it give the shapes and
  its range constraints the dynamic dims (kept as recorded). The reference is the program itself.
- ``package.module:factory``: a callable returning ``(module, example_inputs)`` or
  ``(module, example_inputs, dynamic_shapes)``; imported from the current directory too, like
  ``python -m`` does. The sha256 is that of the module's source file.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import sys
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.export import ExportedProgram

from affdeploy.data.inputs import SEEDED, Checkset, ParityInputs, TensorSignature, npz_parity_inputs
from affdeploy.errors import AffdeployError, ExportError, UsageError
from affdeploy.fsutil import check_readable_file, sha256_path
from affdeploy.models import MODELS

AFFNET, PT2, FACTORY = "affnet", "pt2", "factory"
MODEL_HELP = (f"AFFNet variant ({', '.join(MODELS)}), a .pt2 file written by torch.export.save, "
              "or package.module:factory returning (module, example_inputs[, dynamic_shapes]).")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
FRESH_SEEDS = (101, 102)
"""Parity inputs beyond the example inputs: fresh random tensors of the same shapes (fixed seeds)."""


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Both ``sys.stdout`` and descriptor 1 point at stderr for the block (prints from Python and from C alike)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


class _OsExit(BaseException):
    """``os._exit`` called by user code: raised instead, so the command can still say so (and clean up)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@contextmanager
def user_code(what: str) -> Iterator[None]:
    """Run user code (``what``: its import, its factory, its forward) so none of its side effects reach the command.

    What it prints goes to stderr (``--json`` keeps stdout parseable; the CLI shows it with --verbose), a working
    directory it changes is restored (relative --out and other paths keep their meaning), and ``sys.exit()`` or
    ``os._exit()`` is an error line instead of the command's exit code. Processes it forks still exit as they
    ask; a C library's ``exit()`` is beyond reach.
    """
    cwd, pid, real_exit = os.getcwd(), os.getpid(), os._exit

    def refuse_exit(code: int) -> None:
        if os.getpid() != pid:  # a child forked by the user's code (multiprocessing) ends as it asks
            real_exit(code)
        raise _OsExit(code)

    os._exit = refuse_exit  # type: ignore[assignment]
    try:
        with _stdout_to_stderr():
            yield
    except (SystemExit, _OsExit) as exc:
        call = "os._exit" if isinstance(exc, _OsExit) else "sys.exit"
        raise AffdeployError(f"{what} called {call}({exc.code!r}) while building the model",
                             hint="code that --model runs must return or raise, not exit; guard script code with "
                                  "if __name__ == '__main__'") from None
    finally:
        os._exit = real_exit
        os.chdir(cwd)


def model_kind(model: str) -> str:
    """Which of the three forms ``model`` is (checked without loading anything)."""
    if model in MODELS:
        return AFFNET
    if model.endswith(".pt2"):
        if Path(model).is_dir():
            raise UsageError(f"model file {model} is a folder, not a file", hint="give the .pt2 file that "
                             "torch.export.save wrote; an unzipped archive does not load")
        check_readable_file(Path(model), "model file")  # a FIFO or device would block or stream forever
        if not Path(model).is_file():
            raise UsageError(f"model file {model} does not exist")
        return PT2
    if _FACTORY.match(model):
        return FACTORY
    raise UsageError(f"unknown model '{model}'; choose an AFFNet variant ({', '.join(MODELS)}), "
                     "a .pt2 file written by torch.export.save, or package.module:factory")


def is_user_model(model: str) -> bool:
    return model_kind(model) != AFFNET


def model_slug(model: str, kind: str | None = None) -> str:
    """A file-name-safe name: the variant, the .pt2 file's stem, or ``module-factory``.

    ``kind`` given (as a manifest records it), the .pt2 file need not exist any more.
    """
    kind = kind or model_kind(model)
    if kind == PT2:
        return re.sub(r"[^\w.-]", "_", Path(model).stem)
    return model.replace(":", "-") if kind == FACTORY else model


@dataclass(frozen=True)
class TensorSpec:
    """One model input as the artifact takes it: name, shape (dynamic dims as their symbol), dtype."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class TensorInputs:
    """A user model's inputs, where AFFNet has its image ``InputSpec``: targets take plain tensors."""

    description: dict[str, Any]

    @property
    def tensors(self) -> list[dict[str, Any]]:
        return list(self.description["inputs"])

    @property
    def input_names(self) -> list[str]:
        """What every artifact names its inputs: forward's argument names, or ``--input-names``."""
        return [t["name"] for t in self.description["inputs"]]

    @property
    def output_names(self) -> list[str]:
        """What every artifact names its outputs: the program's output names, or ``--output-names``."""
        return [t["name"] for t in self.description["outputs"]]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.description)

    def dim_names(self, ep: ExportedProgram) -> dict[str, str]:
        """Symbol of each dynamic dim of ``ep``'s inputs -> its name here (the user's).

        Every lowering re-traces the program, so the same dim is ``s77`` in one program and ``s33``
        in the next; the input and axis it belongs to stay the same.
        """
        return {symbol: name for symbols, tensor in zip(input_symbols(ep), self.description["inputs"], strict=True)
                for symbol, name in zip(symbols, tensor["shape"], strict=True)
                if symbol is not None and isinstance(name, str)}

    @property
    def shape(self) -> tuple[int, ...]:
        """The one input's static shape, for targets that take a single input of a fixed size."""
        tensors = self.tensors
        if len(tensors) != 1 or not all(isinstance(d, int) for d in tensors[0]["shape"]):
            raise ExportError("this target takes one input of a static shape; the model has "
                              + ", ".join(f"{t['name']} {t['shape']}" for t in tensors))
        return tuple(tensors[0]["shape"])


SYMBOL = re.compile(r"\bs\d+\b")
"""How torch.export spells a dynamic dim's symbol inside a size expression (``s77``, ``2*s77``)."""


def renamed_dim(text: str, names: dict[str, str]) -> str:
    """A size expression with each symbol replaced by its name (symbols without one kept)."""
    return SYMBOL.sub(lambda m: names.get(m.group(0), m.group(0)), text)


@dataclass
class ModelSource:
    """A resolved ``--model``: everything the pipeline needs to export it and check parity."""

    ref: str  # what the user passed (a .pt2 path made absolute)
    kind: str
    name: str
    sha256: str | None
    module: torch.nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    dynamic_shapes: Any = None
    recorded: ExportedProgram | None = field(default=None, repr=False)
    origin: str | None = None  # the file ``sha256`` is of (the .pt2, or the factory's module source)
    _program: ExportedProgram | None = field(default=None, init=False, repr=False, compare=False)

    def program(self) -> ExportedProgram:
        """The ATen program (decomposed to core ATen ops, dynamic dims kept).

        Made once per source: describing, exporting and `info` all ask for it, and each torch.export
        and decomposition of a large model takes seconds. Callers only read it.
        """
        if self._program is None:
            program = self._decomposed()
            mutated = sorted(set(program.graph_signature.buffers_to_mutate.values()))
            if mutated:
                raise UsageError(f"the forward of {self.ref} updates its buffer(s) {', '.join(mutated)} in place; an "
                                 "exported model keeps no state between calls",
                                 hint="return the new value as an output and take the state as an input instead of "
                                      "changing a buffer in forward")
            self._program = program
        return self._program

    def _decomposed(self) -> ExportedProgram:
        ep = self.recorded
        if ep is None:
            with torch.no_grad(), user_code(f"forward of {self.ref}"):
                try:
                    ep = torch.export.export(self.module, self.example_inputs, dynamic_shapes=self.dynamic_shapes)
                except Exception as exc:  # torch.export raises many types; one line for the user
                    raise UsageError(f"torch.export of {self.ref} failed: {type(exc).__name__}: "
                                     f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}") from None
        return _signature_by_node_names(copy.deepcopy(ep.run_decompositions({})))

    def input_specs(self, ep: ExportedProgram | None = None) -> list[TensorSpec]:
        """Names (forward's arguments) and shapes of the program's user inputs (dynamic dims by symbol name)."""
        ep = ep or self.recorded or self.program()
        arguments = _arguments(ep)
        return [replace(s, name=arguments[s.name]) for s in _specs(ep, ep.graph_signature.user_inputs)]

    def output_specs(self, ep: ExportedProgram | None = None) -> list[TensorSpec]:
        """Names and shapes of the program's user outputs: what the apps report for a tensor model."""
        ep = ep or self.recorded or self.program()
        return _specs(ep, ep.graph_signature.user_outputs)

    def parity_inputs(self) -> list[np.ndarray | tuple[np.ndarray, ...]]:
        """The example inputs, then fresh random inputs of the same shapes and dtypes.

        A single-input model's sets are bare arrays (the form every target session takes),
        several inputs' sets are tuples.
        """
        sets = [tuple(t.detach().numpy() for t in self.example_inputs)]
        for seed in FRESH_SEEDS:
            gen = torch.Generator().manual_seed(seed)
            sets.append(tuple(_like(t, gen).numpy() for t in self.example_inputs))
        return [arrays[0] for arrays in sets] if len(self.example_inputs) == 1 else list(sets)

    def reference_outputs(self, inputs: Sequence[np.ndarray | tuple[np.ndarray, ...]]) -> list[np.ndarray]:
        """Eager outputs for each input set, every output flattened and concatenated in order."""
        with torch.no_grad(), user_code(f"forward of {self.ref}"):
            outputs = [self.module(*(torch.from_numpy(a) for a in as_arrays(x))) for x in inputs]
        return [flat_outputs(_output_tensors(o, self.ref)) for o in outputs]

    def signature(self) -> TensorSignature:
        """Input names, shapes and dtypes, as ``--parity-inputs`` arrays must match them."""
        specs = self.input_specs()
        return TensorSignature(tuple(s.name for s in specs), tuple(s.shape for s in specs),
                               tuple(s.dtype for s in specs))

    def checkset(self, npz: Path | None = None) -> Checkset:
        """What this model's artifacts are checked on: ``npz``'s arrays, or the seeded :meth:`parity_inputs`."""
        if npz is not None:
            chosen = npz_parity_inputs(npz, self.signature())
        else:
            names = ["example"] + [f"random (seed {seed})" for seed in FRESH_SEEDS]
            chosen = ParityInputs(self.parity_inputs(), names, SEEDED,
                                  f"the example inputs + {len(FRESH_SEEDS)} seeded random input sets")
        return Checkset.of(chosen, self.reference_outputs(chosen.inputs))

    def describe(self, input_names: Sequence[str] = (), output_names: Sequence[str] = ()) -> dict[str, Any]:
        """What manifests and results record about the model, and what every artifact names its tensors.

        Inputs are named by forward's arguments and outputs as the program names them, unless
        ``input_names``/``output_names`` are given; a dynamic dim declared as ``Dim("batch")`` is
        ``batch`` (a .pt2 keeps only torch's symbol, ``s77``).
        """
        ep = self.recorded or self.program()
        dims = self._dim_names(ep)
        tensors = {}
        for key, specs, names, option in (("inputs", self.input_specs(ep), input_names, "--input-names"),
                                          ("outputs", self.output_specs(ep), output_names, "--output-names")):
            if names and len(names) != len(specs):
                raise UsageError(f"{option} gives {len(names)} name(s); {self.ref} has {len(specs)} {key} "
                                 f"({', '.join(s.name for s in specs)})")
            tensors[key] = [{**s.to_dict(), "name": name, "shape": [renamed_dim(d, dims) if isinstance(d, str) else d
                                                                      for d in s.shape]}
                            for s, name in zip(specs, names or [s.name for s in specs], strict=True)]
        every = [t["name"] for t in (*tensors["inputs"], *tensors["outputs"])]
        if len(set(every)) != len(every):
            raise UsageError(f"{self.ref}: input and output names must all differ, got {', '.join(every)}",
                             hint="name them with --input-names and --output-names")
        return {"model": self.ref, "kind": self.kind, "sha256": self.sha256, **tensors}

    def _dim_names(self, ep: ExportedProgram) -> dict[str, str]:
        """Symbol -> name of each dynamic dim the factory's ``dynamic_shapes`` names with ``torch.export.Dim``."""
        declared = self.dynamic_shapes
        arguments = _arguments(ep)
        users = [arguments[str(u)] for u in ep.graph_signature.user_inputs]
        if isinstance(declared, dict):  # keyed by forward's argument names
            declared = [declared.get(u) for u in users]
        if not isinstance(declared, (list, tuple)) or len(declared) != len(users):
            return {}  # none declared, or a form that does not map onto the inputs one to one
        names = {}
        for symbols, axes in zip(input_symbols(ep), declared, strict=True):
            for axis, dim in (axes.items() if isinstance(axes, dict) else enumerate(axes or ())):
                name = getattr(dim, "__name__", None)  # Dim("batch"); Dim.AUTO and the like have none
                if symbols[axis] is not None and isinstance(name, str):
                    names[str(symbols[axis])] = name
        return names


def _signature_by_node_names(ep: ExportedProgram) -> ExportedProgram:
    """``ep`` (a copy) with its signature naming each input as its placeholder node is named.

    Copying a program (every lowering does) renames a placeholder that shadows a Python builtin
    (``forward(self, input)``, as in nn.Linear and nn.Sequential) to ``input_1`` and leaves the
    signature saying ``input``, which coremltools, the FFT pass and LiteRT's conversion then fail to
    find. Named so once, a program keeps its names through every copy; the node's target keeps the
    argument's name (:func:`_arguments`).
    """
    nodes = {str(n.target): n.name for n in ep.graph.find_nodes(op="placeholder")}
    for spec in ep.graph_signature.input_specs:
        spec.arg.name = nodes.get(spec.arg.name, spec.arg.name)
    return ep


def _arguments(ep: ExportedProgram) -> dict[str, str]:
    """Placeholder node name -> the name of forward's argument it stands for."""
    return {n.name: str(n.target) for n in ep.graph.find_nodes(op="placeholder")}


def input_symbols(ep: ExportedProgram) -> list[list[str | None]]:
    """Per user input of ``ep``, per axis: the symbol of a dynamic dim (``s77``), None for a static or derived one."""
    vals = {n.name: n.meta.get("val") for n in ep.graph.nodes}
    return [[str(d.node.expr) if isinstance(d, torch.SymInt) and d.node.expr.is_Symbol else None
             for d in vals[str(user)].shape] for user in ep.graph_signature.user_inputs]


def _specs(ep: ExportedProgram, names: Sequence[str | None]) -> list[TensorSpec]:
    """The TensorSpec of each named tensor node of ``ep`` (constant outputs have no node and no tensor)."""
    vals = {n.name: n.meta.get("val") for n in ep.graph.nodes}
    tensors = [(str(name), vals[name]) for name in names if isinstance(vals.get(str(name)), torch.Tensor)]
    return [TensorSpec(name, tuple(d if isinstance(d, int) else str(d) for d in val.shape),
                       str(val.dtype).removeprefix("torch.")) for name, val in tensors]


def _like(t: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    if t.is_floating_point():
        return torch.randn(t.shape, generator=gen, dtype=t.dtype)
    if t.dtype == torch.bool:
        return torch.randint(0, 2, t.shape, generator=gen).bool()
    low, high = (int(t.min()), int(t.max()) + 1) if t.numel() else (0, 1)
    return torch.randint(low, high, t.shape, generator=gen, dtype=t.dtype)


def as_arrays(x: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """One input set as a tuple of arrays (AFFNet's single image array included)."""
    return (x,) if isinstance(x, np.ndarray) else tuple(x)


def flat_outputs(outputs: Any) -> np.ndarray:
    """Every output tensor flattened and concatenated: what parity compares for several outputs."""
    leaves = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return np.concatenate([np.asarray(o.detach().numpy() if isinstance(o, torch.Tensor) else o,
                                      dtype=np.float64).reshape(-1) for o in leaves])


def _inputs_tuple(inputs: Any, where: str) -> tuple[torch.Tensor, ...]:
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else inputs
    if not isinstance(inputs, (tuple, list)) or not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise UsageError(f"{where}: example inputs must be a tensor or a tuple of tensors")
    for index, tensor in enumerate(inputs):
        if tensor.numel() == 0:
            raise UsageError(f"{where}: example input {index} has shape {list(tensor.shape)}, which holds no values",
                             hint="give example inputs of at least 1 in every dimension; declare a dimension that "
                                  "varies in dynamic_shapes")
    return tuple(inputs)


def _output_tensors(outputs: Any, ref: str) -> list[torch.Tensor]:
    """The forward's outputs as the artifacts return them: a tensor, or a tuple/list of tensors, and nothing else."""
    leaves = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    odd = next((o for o in leaves if not isinstance(o, torch.Tensor)), None)
    if odd is not None or not leaves:
        what = "no tensor" if odd is None else f"a {type(odd).__name__}"
        among = " among its outputs" if odd is not None and odd is not outputs else ""
        raise UsageError(f"the forward of {ref} returns {what}{among}; it must return a tensor or a tuple/list of "
                         "tensors",
                         hint="return tuple(out.values()) instead of a dict, in a fixed order")
    return leaves


def _saved_by(path: Path) -> str | None:
    """The torch version a .pt2 records in its ``models/model.json`` (None if it records none or is no zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/models/model.json"))
            version = json.loads(archive.read(name)).get("torch_version")
    except (OSError, StopIteration, ValueError, zipfile.BadZipFile, AttributeError):
        return None
    return version if isinstance(version, str) else None


def _load_pt2(path: Path) -> ModelSource:
    try:
        with user_code(f"loading {path}"):
            ep = torch.export.load(str(path))
    except AffdeployError:
        raise
    except Exception as exc:  # a damaged or foreign file: zipfile, pickle and torch errors alike
        writer = _saved_by(path)
        if re.search(r"archive version \d+ does not match", str(exc)) or writer not in (None, torch.__version__):
            by = f"torch {writer}" if writer not in (None, torch.__version__) else "another torch version"
            raise UsageError(f"{path} was saved by {by}, which this torch ({torch.__version__}) cannot load",
                             hint=f"load it with the torch that saved it and save it again, or export it again, "
                                  f"with torch {torch.__version__}") from None
        raise UsageError(f"{path} is not a torch.export.save file ({type(exc).__name__})") from None
    example = getattr(ep, "example_inputs", None)
    if not example or example[1]:
        raise UsageError(f"{path} holds no positional example inputs; save a program made by "
                         "torch.export.export(model, args) with torch.export.save")
    inputs = _inputs_tuple(example[0], str(path))
    return ModelSource(str(path), PT2, model_slug(str(path)), sha256_path(path), ep.module(), inputs, recorded=ep,
                       origin=str(path))


def _import_factory(ref: str) -> ModelSource:
    module_name, attr = ref.split(":")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        with user_code(f"importing {module_name} for --model {ref}"):
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name} for --model {ref}: {exc}") from None
    finally:
        if added:
            sys.path.remove(cwd)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UsageError(f"{module_name} has no callable {attr} (--model {ref})")
    try:
        with user_code(f"the factory {ref}"):
            made = factory()
    except AffdeployError:
        raise
    except Exception as exc:  # the user's code: any error is theirs to fix, in one line
        raise UsageError(f"{ref}() failed: {type(exc).__name__}: {str(exc).strip()[:200]}") from None
    if not isinstance(made, tuple) or len(made) not in (2, 3) or not isinstance(made[0], torch.nn.Module):
        raise UsageError(f"{ref} must return (module, example_inputs) or (module, example_inputs, dynamic_shapes)")
    source = getattr(module, "__file__", None)
    return ModelSource(ref, FACTORY, model_slug(ref), sha256_path(Path(source)) if source else None,
                       made[0].eval(), _inputs_tuple(made[1], ref), made[2] if len(made) == 3 else None,
                       origin=str(Path(source).resolve()) if source else None)


def source_sha256(model: str) -> str | None:
    """What manifests and results record as a user model's sha256 (.pt2 file or factory module source); None for AFFNet.

    A .pt2 is hashed without loading it; a factory is imported and called (its module file is what is hashed).
    """
    kind = model_kind(model)
    if kind == PT2:
        return sha256_path(Path(model))
    return _import_factory(model).sha256 if kind == FACTORY else None


def resolve_model(model: str) -> ModelSource:
    """Load a user model (``.pt2`` or factory); AFFNet variants go through :func:`affdeploy.models.build_model`."""
    kind = model_kind(model)
    if kind == PT2:
        return _load_pt2(Path(model).resolve())
    if kind == FACTORY:
        return _import_factory(model)
    raise UsageError(f"{model} is an AFFNet variant, not a user model")
