"""``lower_fft``: rewrite an ExportedProgram so that no FFT op and no complex value is left.

How: the original ATen graph is interpreted inside the forward of a new module
(``_LoweredModule``) that holds the same parameters, buffers and constants under the same
names. Real ops run as they are; complex values travel as ``Pair``s and the ops touching
them run through the handlers of ``affdeploy.fft.ops``. The module is then exported again
(torch.export, non-strict, core ATen decompositions), which gives a normal ExportedProgram
for torch.onnx, coremltools and ExecuTorch.

A first eager run registers the DFT matrices (deduplicated by ``StageKey``) and folds
complex values computed from weights alone (``view_as_complex`` of a parameter, complex
parameters) into constant real/imaginary buffers, so no weight reshuffling (select_copy of
stacked parts) is left to run per inference.
"""

from __future__ import annotations

import logging
import operator
import os
import re
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
import torch.fx.traceback as fx_traceback
from torch import nn
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind
from torch.fx import Node
from torch.fx.node import map_arg
from torch.utils import _pytree as pytree

from affdeploy.errors import ExportError
from affdeploy.fft import (
    complexmath,  # noqa: F401  (registers its handlers)
    meter,
)
from affdeploy.fft import plan as planning
from affdeploy.fft.matrices import StageKey, stage_matrix
from affdeploy.fft.ops import HANDLERS, KEEPS_PARTIAL, LAYOUT_STORE, RESHAPES
from affdeploy.fft.partial import Partial, read_ranges
from affdeploy.fft.spectral import BY_NAME, SpectralOps, bind
from affdeploy.fft.transform import DynamicDimError
from affdeploy.fft.values import LazyStack, Pair, contains, materialize
from affdeploy.graph import complex_value_count, fft_op_count, is_fft_op, op_name

log = logging.getLogger(__name__)

FFT_SCOPE = "affdeploy.fft"
"""The module type recorded for an FFT's own nodes (its scope's path ends in the FFT op's name)."""
_STATIC_KINDS = (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR)
_PASS_THROUGH = ("clone", "alias", "detach", "contiguous", "lift_fresh_copy")


class UnsupportedOpError(ExportError):
    """An op on complex values that the FFT pass cannot rewrite into real arithmetic."""


_TORCH_DIR = os.path.dirname(torch.__file__)


def source_line(node: Node) -> str:
    """``file:line (code)`` of the model line that produced ``node``, from export metadata."""
    trace = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in \S+\n\s*(.*)', trace)
    if frames:  # the innermost frame of the model's code, not of torch.nn's modules it calls
        path, line, code = ([f for f in frames if not f[0].startswith(_TORCH_DIR)] or frames)[-1]
        return f"{path}:{line} ({code.strip()})"
    stack = node.meta.get("source_fn_stack")
    return f"in {stack[-1][0]}" if stack else "source line unknown"


def _hint(target: str | None) -> str:
    """What the user can do instead; ``--fft native`` only where a native FFT runs (ONNX)."""
    hint = "the FFT pass supports the ops listed in docs/fft.md; rewrite this line with them"
    if target == "onnx":
        return hint + ", or export with --fft native"
    if target is None:
        return hint + " (or, for --target onnx only, export with --fft native)"
    return hint


def _unsupported(node: Node, why: str, target: str | None = None) -> UnsupportedOpError:
    return UnsupportedOpError(f"cannot lower {node.target} ({why}) at {source_line(node)}", hint=_hint(target))


def _is_complex(val: Any) -> bool:
    if isinstance(val, torch.Tensor):
        return val.is_complex()
    if isinstance(val, (list, tuple)):
        return any(_is_complex(v) for v in val)
    return False


def _mutates(node: Node) -> bool:
    schema = getattr(node.target, "_schema", None)
    return node.op == "call_function" and schema is not None and schema.is_mutable


def _set_path(root: nn.Module, path: str, value: torch.Tensor, kind: InputKind, persistent: bool | None) -> None:
    """Put a tensor at a dotted attribute path, creating empty container modules on the way."""
    *parents, leaf = path.split(".")
    owner = root
    for name in parents:
        if not hasattr(owner, name):
            owner.add_module(name, nn.Module())
        owner = getattr(owner, name)
    if kind == InputKind.PARAMETER:
        owner.register_parameter(leaf, nn.Parameter(value, requires_grad=value.requires_grad))
    elif kind == InputKind.BUFFER:
        owner.register_buffer(leaf, value, persistent=bool(persistent))
    else:
        setattr(owner, leaf, value)


def _get_path(root: nn.Module, path: str) -> torch.Tensor:
    value: Any = root
    for name in path.split("."):
        value = getattr(value, name)
    return value


class _LoweredModule(nn.Module):
    """Runs the original graph with complex values as real pairs (see module docstring)."""

    def __init__(self, ep: ExportedProgram, target: str | None = None, forms: frozenset[str] | None = None,
                 cost: str | None = None, native: str | None = None) -> None:
        super().__init__()
        self._ep_graph = ep.graph
        self.forms = forms  # the transform forms the planner may use (None: all)
        self.cost_model = planning.MODELS[cost or planning.DEFAULT_MODEL]  # the runtime the plans are costed for
        self.native_model = planning.NATIVE_MODELS[native] if native else None  # its native FFT, if it may stay
        self.keep_hint: dict[int, list[tuple[int, int]]] = {}
        self.transforms: list[dict[str, Any]] = []
        self._out_spec = ep.call_spec.out_spec
        self._target = target
        self._current = ""
        self._sources: dict[str, tuple[str, ...]] = {}
        self._handlers = {**HANDLERS, **SpectralOps(self).handlers()}
        self._frozen = False
        self._folded: dict[str, tuple[str, str]] = {}
        self._live: set[str] = set()
        static: set[str] = set()
        user_index = 0
        for spec in ep.graph_signature.input_specs:
            name = spec.arg.name
            if spec.kind == InputKind.USER_INPUT:
                self._sources[name] = ("input", str(user_index))
                user_index += 1
                continue
            if spec.kind not in _STATIC_KINDS:
                raise UnsupportedOpError(f"cannot lower a program with a {spec.kind.name} input ({name})")
            static.add(name)
            store = ep.state_dict if spec.target in ep.state_dict else ep.constants
            value = store[spec.target]
            if isinstance(value, nn.Parameter):
                value = value.data
            if value.is_complex():  # a complex weight: two real tensors next to it
                paths = (f"{spec.target}_real", f"{spec.target}_imag")
                for path, part in zip(paths, (value.real, value.imag), strict=True):
                    _set_path(self, path, part.clone(), spec.kind, spec.persistent)
                self._sources[name] = ("pair", *paths)
            else:
                _set_path(self, spec.target, value, spec.kind, spec.persistent)
                self._sources[name] = ("attr", spec.target)
        for spec in ep.graph_signature.output_specs:
            if spec.kind != OutputKind.USER_OUTPUT:
                raise UnsupportedOpError(f"cannot lower a program with a {spec.kind.name} output")
        self._fold_candidates = self._find_fold_candidates(static)

    def _find_fold_candidates(self, static: set[str]) -> set[str]:
        """Complex values computed from weights only, used by input-dependent nodes."""
        for node in self._ep_graph.nodes:
            if node.op == "call_function" and node.all_input_nodes and all(
                n.name in static for n in node.all_input_nodes
            ):
                static.add(node.name)
        return {
            node.name
            for node in self._ep_graph.nodes
            if node.op == "call_function" and node.name in static and _is_complex(node.meta.get("val"))
            and any(user.name not in static for user in node.users)
        }

    # -- MatrixStore
    def matrix(self, key: StageKey, dtype: torch.dtype) -> torch.Tensor:
        """The DFT matrix of ``key`` as a non-persistent buffer, registered on first use."""
        name = key.name if dtype == torch.float32 else f"{key.name}_{str(dtype).split('.')[-1]}"
        if not hasattr(self, name):
            if self._frozen:
                raise ExportError(f"DFT matrix {name} was not prepared before export")
            self.register_buffer(name, torch.from_numpy(stage_matrix(key)).to(dtype), persistent=False)
        return getattr(self, name)

    def array(self, name: str, build: Callable[[], np.ndarray], dtype: torch.dtype) -> torch.Tensor:
        """A constant of a factored network (float64 numpy, stored as ``dtype``), registered on first use."""
        if not hasattr(self, name):
            if self._frozen:
                raise ExportError(f"DFT constant {name} was not prepared before export")
            value = torch.from_numpy(np.ascontiguousarray(build(), dtype=np.float64)).to(dtype)
            self.register_buffer(name, value, persistent=False)
        return getattr(self, name)

    def constant(self, tag: str, build: Callable[[], torch.Tensor]) -> torch.Tensor:
        """A constant of the node being evaluated (e.g. a windowed STFT kernel), built on first use."""
        name = f"_{tag}_{self._current}"
        if not hasattr(self, name):
            if self._frozen:
                raise ExportError(f"constant {name} was not prepared before export")
            # persistent: XNNPACK's conv1d-to-conv2d pass moves conv weights into the state dict
            self.register_buffer(name, build(), persistent=True)
        return getattr(self, name)

    def freeze(self) -> None:
        """After the eager run: constants are final; compute which nodes still need to run."""
        self._frozen = True
        folded = set(self._folded)
        output = next(n for n in self._ep_graph.nodes if n.op == "output")
        stack = [output]
        while stack:
            node = stack.pop()
            if node.name not in self._live:
                self._live.add(node.name)
                if node.name not in folded:
                    stack.extend(node.all_input_nodes)
            # checked after every pop (a last node already live included), or a write is dropped silently
            if not stack:  # in-place writes (``out[..., :m] = w``) matter without being read
                stack.extend(n for n in self._ep_graph.nodes if _mutates(n) and n.name not in self._live)
        self._drop_folded_transforms()

    def _drop_folded_transforms(self) -> None:
        """Transforms of weights alone ran once, into folded constants: their DFT constants are not shipped."""
        used: set[str] = set()
        for transform in self.transforms:
            transform["folded"] = transform["node"] not in self._live or transform["node"] in self._folded
            if not transform["folded"]:
                used.update(transform["constants"])
        for transform in self.transforms:
            if transform["folded"]:
                for name in transform["constants"]:
                    if name not in used and name in self._buffers:
                        delattr(self, name)
                transform.update(forms=["folded at lowering (weights only)"], macs=0, constants={}, constant_bytes=0)

    # -- interpretation
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        LAYOUT_STORE.append(self)
        try:
            return self._forward(*args, **kwargs)
        finally:
            LAYOUT_STORE.pop()

    def _forward(self, *args: Any, **kwargs: Any) -> Any:
        inputs = pytree.tree_flatten((args, kwargs))[0]
        env: dict[Node, Any] = {}
        outputs: list[Any] = []
        for node in self._ep_graph.nodes:
            if self._frozen and node.name not in self._live:
                continue
            if node.op == "placeholder":
                env[node] = self._placeholder(node, inputs)
            elif node.op == "call_function":
                env[node] = self._evaluate(node, env)
            elif node.op == "output":
                outputs = [self._final(node, v) for v in map_arg(node.args[0], env.__getitem__)]
            else:
                raise _unsupported(node, f"graph node kind {node.op}", self._target)
        return pytree.tree_unflatten(outputs, self._out_spec)

    def _placeholder(self, node: Node, inputs: list[Any]) -> Any:
        kind, *where = self._sources[node.name]
        if kind == "input":
            value = inputs[int(where[0])]
            if isinstance(value, torch.Tensor) and value.is_complex():
                raise _unsupported(node, "complex model inputs cannot be lowered", self._target)
            return value
        if kind == "pair":
            return Pair(_get_path(self, where[0]), _get_path(self, where[1]))
        return _get_path(self, where[0])

    def _evaluate(self, node: Node, env: dict[Node, Any]) -> Any:
        """One node's value; the nodes its re-export traces inherit its module path (``affdeploy profile``'s map),
        an FFT's own nodes under a scope named after it (``<module>.fft_rfft2``), so its cost shows as such."""
        with fx_traceback.set_current_meta(node):
            name = op_name(node.target)
            current = fx_traceback.get_current_meta()
            if is_fft_op(name) and current:
                stack = dict(current.get("nn_module_stack") or {})
                parent = next(reversed(stack.values()))[0] if stack else ""
                stack[f"{FFT_SCOPE}{node.name}"] = (f"{parent}.{name}" if parent else name, FFT_SCOPE)
                current["nn_module_stack"] = stack
            return self._evaluate_node(node, env)

    def _evaluate_node(self, node: Node, env: dict[Node, Any]) -> Any:
        folded = self._folded.get(node.name)
        if self._frozen and folded:
            return Pair(getattr(self, folded[0]), getattr(self, folded[1]), constant=folded)
        args = map_arg(node.args, env.__getitem__)
        kwargs = map_arg(node.kwargs, env.__getitem__)
        value = self._call(node, args, kwargs)
        if not self._frozen and node.name in self._fold_candidates and isinstance(value, Pair):
            names = (f"_folded_{node.name}_re", f"_folded_{node.name}_im")
            for buffer, part in zip(names, (value.re, value.im), strict=True):
                self.register_buffer(buffer, part.detach().clone().contiguous(), persistent=False)
            self._folded[node.name] = names
            return Pair(getattr(self, names[0]), getattr(self, names[1]), constant=names)  # as the export run sees it
        return value

    def _call(self, node: Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        target = cast(Callable[..., Any], node.target)  # a call_function's
        if target is operator.getitem:
            return args[0][args[1]]
        name = op_name(target)
        if contains(args, Partial):  # only slices read a partial spectrum (read_ranges made sure)
            if name not in ("slice", "slice_copy") or not isinstance(args[0], Partial):
                raise _unsupported(node, "internal error: a partly computed spectrum is read by more than slices")
            return args[0].slice(*args[1:], **kwargs)
        complex_val = _is_complex(node.meta.get("val"))
        if complex_val or is_fft_op(name) or contains(args, Pair) or contains(kwargs, Pair):
            handler = self._handlers.get(name)
            if handler is None:
                raise _unsupported(node, "no real-arithmetic rewrite for this op on complex values", self._target)
            if name != "view_as_complex":
                args, kwargs = materialize(args), materialize(kwargs)
            if name in BY_NAME:
                args, kwargs = (), bind(target, args, kwargs)
            self._current = node.name
            self.keep_hint = read_ranges(node, list(range(node.meta["val"].dim()))) if name in KEEPS_PARTIAL else {}
            try:
                if self._frozen or not is_fft_op(name):
                    return handler(*args, **kwargs)
                with meter.measuring() as measured:
                    value = handler(*args, **kwargs)
                self.transforms.append(_transform_entry(node, name, measured))
                return value
            except DynamicDimError as exc:
                raise UnsupportedOpError(f"cannot lower {node.target} at {source_line(node)}: {exc}",
                                         hint="pass that dim as static to torch.export") from exc
            except (RuntimeError, TypeError, ValueError, IndexError) as exc:
                raise _unsupported(node, f"rewrite failed: {exc}", self._target) from exc
        if contains(args, LazyStack) or contains(kwargs, LazyStack):
            value = _lazy_stack_op(target, name, args, kwargs)
            if value is not None:
                return value
            args, kwargs = materialize(args), materialize(kwargs)
        if name == "stack":
            return LazyStack(args[0], args[1] if len(args) > 1 else kwargs.get("dim", 0))
        if name in RESHAPES:  # inputs may now come from slices of a DFT result
            return torch.reshape(*args, **kwargs)
        return target(*args, **kwargs)

    def _final(self, node: Node, value: Any) -> Any:
        if isinstance(value, Pair):
            raise _unsupported(node, "the model returns a complex tensor; return torch.view_as_real(...) instead",
                               self._target)
        return materialize(value)


def _transform_entry(node: Node, name: str, measured: meter.Meter) -> dict[str, Any]:
    """What ``affdeploy info`` lists for one FFT call: where, its forms, MACs and constants."""
    val = node.meta.get("val")
    return {
        "node": node.name,
        "op": name,
        "source": source_line(node),
        "output_shape": [int(s) if isinstance(s, int) else str(s) for s in getattr(val, "shape", ())],
        "axes": measured.axes,
        "forms": sorted({axis["form"] for axis in measured.axes}) or [measured.form or "dense"],
        "macs": measured.macs,
        "constants": dict(measured.constants),
        "constant_bytes": sum(measured.constants.values()),
    }


def _lazy_stack_op(target: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Ops that work on a LazyStack's parts directly; None when the stacked tensor is needed."""
    first = args[0]
    if name == "select" and isinstance(first, LazyStack) and args[1] % first.ndim == first.dim:
        return first.parts[args[2]]
    if name in _PASS_THROUGH and isinstance(first, LazyStack):
        return first
    if torch.Tag.pointwise not in getattr(target, "tags", ()) or kwargs:
        return None
    stacks = [a for a in args if isinstance(a, LazyStack)]
    layout = {(s.dim, s.ndim, len(s.parts)) for s in stacks}
    if len(layout) != 1 or not all(isinstance(a, (LazyStack, int, float, bool)) for a in args):
        return None
    count = len(stacks[0].parts)
    parts = [target(*[a.parts[i] if isinstance(a, LazyStack) else a for a in args]) for i in range(count)]
    return LazyStack(parts, stacks[0].dim)


def _example_inputs(ep: ExportedProgram) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The inputs the program was exported with (or zeros of the recorded shapes)."""
    if getattr(ep, "example_inputs", None) is not None:
        return ep.example_inputs
    user = set(ep.graph_signature.user_inputs)
    args = []
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in user:
            val = node.meta["val"]
            args.append(torch.zeros(tuple(int(s) for s in val.shape), dtype=val.dtype))
    return tuple(args), {}


def _dynamic_shapes(ep: ExportedProgram) -> dict[str, tuple[dict[int, Any], ...]] | None:
    """The recorded dynamic dims of each user input, as Dims for re-exporting (None: all static).

    Dims keep their symbol's name and range, and inputs sharing a symbol share the Dim.
    """
    user = set(ep.graph_signature.user_inputs)
    dims: dict[str, Any] = {}
    specs: list[dict[int, Any]] = []
    for node in ep.graph.nodes:
        if node.op != "placeholder" or node.name not in user:
            continue
        spec: dict[int, Any] = {}
        for i, size in enumerate(getattr(node.meta.get("val"), "shape", ())):
            if isinstance(size, int):
                continue
            expr = size.node.expr
            if expr not in ep.range_constraints or not expr.is_Symbol:
                spec[i] = torch.export.Dim.AUTO
                continue
            if str(expr) not in dims:
                bounds = ep.range_constraints[expr]
                upper = int(bounds.upper) if bounds.upper.is_finite else None
                dims[str(expr)] = torch.export.Dim(str(expr), min=int(bounds.lower), max=upper)
            spec[i] = dims[str(expr)]
        specs.append(spec)
    return {"args": tuple(specs)} if any(specs) else None


def _reexport(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], dynamic: Any) -> ExportedProgram:
    """Export the lowered module, keeping dynamic dims dynamic (an error if they would specialise)."""
    try:
        with fx_traceback.preserve_node_meta():  # nn_module_stack and torch_fn of the original nodes carry over
            return torch.export.export(module, args, kwargs, dynamic_shapes=dynamic, strict=False).run_decompositions({})
    except UnsupportedOpError:
        raise
    except Exception as exc:  # a guard on a dynamic dim: torch reports it as a constraint violation
        cause = exc.__cause__ if isinstance(exc.__cause__, UnsupportedOpError) else None
        if cause is not None:
            raise cause from None
        if dynamic is None:
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"lowering the FFTs would make a dynamic dim static: {detail[:300]}",
                          hint="export that dim static, or keep transforms off dynamic dims") from None


def lower_fft(ep: ExportedProgram, target: str | None = None, *, forms: frozenset[str] | None = None,
              cost: str | None = None, native: str | None = None,
              report: list[dict[str, Any]] | None = None) -> ExportedProgram:
    """The same program with every FFT and complex value rewritten into real matmuls.

    Works on a plain ``torch.export.export`` (no decomposition needed). Outputs equal the
    original's up to float32 rounding; dynamic dims stay dynamic with their ranges. Raises
    UnsupportedOpError (naming the op and the model source line, with a hint for ``target``)
    for a complex op it cannot rewrite or a transform along a dynamic dim.

    ``forms`` restricts the forms a transform axis may take (``affdeploy.fft.plan``: dense,
    factored, bluestein; None lets the cost model choose); ``cost`` names the runtime whose cost
    model ranks them (``affdeploy.fft.plan.MODELS``: xnnpack, the default, onnxruntime, eager).
    ``native`` names the cost model of the runtime's own FFT op (``NATIVE_MODELS``): a transform for
    which it is cheaper stays that op, on complex values (only ONNX Runtime runs those), and the
    lowered program then keeps those FFT ops and complex values. ``report``, when given, receives one
    entry per FFT call: its forms, MACs and the constants it uses (``affdeploy info``).
    """
    if fft_op_count(ep) == 0 and complex_value_count(ep) == 0:
        return ep
    module = _LoweredModule(ep, target, forms, cost, native)
    args, kwargs = _example_inputs(ep)
    with torch.no_grad():
        module(*args, **kwargs)
        module.freeze()
        for entry in module.transforms:
            log.debug("%s at %s: %s, %d MACs, %d constant bytes", entry["op"], entry["source"] or entry["node"],
                      "; ".join(entry["forms"]), entry["macs"], entry["constant_bytes"])
        if report is not None:
            report.extend(module.transforms)
        lowered = _reexport(module, args, kwargs, _dynamic_shapes(ep))
    left = fft_op_count(lowered) + complex_value_count(lowered)
    kept_native = any(axis["form"] == planning.NATIVE for t in module.transforms for axis in t["axes"])
    if left and not kept_native:
        raise ExportError(f"FFT lowering left {left} FFT ops or complex values in the graph")
    return lowered
