"""``ExportRequest``: one artifact to produce, resolved and validated in one place, then passed whole.

The CLI builds requests once (:meth:`ExportRequest.create` / :func:`plan_exports`) and hands
them to the export pipeline, the export cache and the device routes; nothing downstream
re-parses options or receives them as loose arguments. A request holds concrete choices only:
defaults are filled in and ``--fft auto`` is resolved to ``dft`` for its target (the FFT pass runs;
``fft_native`` names the native FFT it may still keep per transform where that is cheaper).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from affdeploy.errors import UsageError
from affdeploy.vocab import Backend, FFTMode, InputKind, Precision, StrEnumT, Target, parse

DEFAULT_OUT = Path("models")


@dataclass(frozen=True)
class ExportRequest:
    """Everything that decides one artifact's bytes, plus where it goes."""

    model: str
    target: Target
    backend: Backend
    fft: FFTMode  # dft | native (auto is resolved by create)
    precision: Precision
    image_size: int | None  # AFFNet's input height and width; None for a user model (it takes its program's inputs)
    input_kind: InputKind = InputKind.TENSOR
    weights: Path | None = None
    out: Path = DEFAULT_OUT
    require_full_delegation: bool = False
    ort_format: bool = False  # ONNX only: also write the .ort flatbuffer
    calibration: Path | None = None  # int8 only: a folder of images (None: the bundled photographs)
    parity_images: Path | None = None  # AFFNet: photographs to check parity on (None: the bundled ones)
    parity_inputs: Path | None = None  # user models: an .npz of input sets to check parity on (None: seeded)
    fft_native: str | None = None  # --fft auto where the runtime has a native FFT: its cost model (per transform)
    input_names: tuple[str, ...] = ()  # user models: what every artifact names its inputs (default: forward's arguments)
    output_names: tuple[str, ...] = ()  # user models: ... its outputs (default: as the program names them)

    @property
    def pixels(self) -> int:
        """AFFNet's image size, for the steps only an image model has (calibration, photographs)."""
        if self.image_size is None:
            raise UsageError(f"{self.model} takes tensors, not images of a size")
        return self.image_size

    @classmethod
    def create(cls, model: str, target: str, *, backend: str | None = None, fft: str = "auto",
               precision: str | None = None, image_size: int | None = None, input_kind: str | None = None,
               weights: Path | None = None, out: Path = DEFAULT_OUT, require_full_delegation: bool = False,
               ort_format: bool = False, calibration: Path | None = None, parity_images: Path | None = None,
               parity_inputs: Path | None = None, input_names: Sequence[str] = (),
               output_names: Sequence[str] = ()) -> ExportRequest:
        """Resolve defaults from the target's capabilities and validate every choice (one clear line each).

        ``image_size`` None: AFFNet's default; a user model takes none (its program fixes its inputs).
        """
        from affdeploy.export.registry import get_target
        from affdeploy.graph import check_image_size
        from affdeploy.models import model_info
        from affdeploy.models.source import AFFNET, PT2, model_kind
        from affdeploy.preprocessing import DEFAULT_IMAGE_SIZE

        kind_of_model = model_kind(model)
        user_model = kind_of_model != AFFNET
        if user_model:  # a .pt2 or a factory carries its own weights and input shapes
            if weights is not None:
                raise UsageError("--weights loads AFFNet checkpoints; a .pt2 or factory model carries its own weights")
            if input_kind == InputKind.IMAGE:
                raise UsageError("--coreml-input image needs AFFNet's image preprocessing; user models take tensors")
            if parity_images is not None:
                raise UsageError("--parity-images is for image models (AFFNet); give a user model's own inputs "
                                 "with --parity-inputs file.npz")
            if image_size is not None:
                raise UsageError(f"--image-size sets AFFNet's input image; {model} takes the inputs its program "
                                 "declares", hint="drop --image-size; export the model at other shapes to change them")
            input_kind = input_kind or InputKind.TENSOR
            model = str(Path(model).resolve()) if kind_of_model == PT2 else model
        else:
            model_info(model)
            if parity_inputs is not None:
                raise UsageError("--parity-inputs is for user models (.pt2, factory); check AFFNet on your photos "
                                 "with --parity-images DIR")
            if input_names or output_names:
                raise UsageError("--input-names and --output-names name a user model's tensors; AFFNet's artifacts "
                                 "take 'image' and return 'logits'")
            image_size = DEFAULT_IMAGE_SIZE if image_size is None else image_size
            check_image_size(image_size)
        _check_names(input_names, "--input-names")
        _check_names(output_names, "--output-names")
        tgt = get_target(target)
        chosen_backend = _pick(Backend, backend, tgt.backends, "--backend", tgt.name)
        chosen_precision = _pick(Precision, precision, tgt.allowed_precisions(chosen_backend), "--precision",
                                 f"{tgt.name} --backend {chosen_backend}" if len(tgt.backends) > 1 else tgt.name)
        kind = _pick(InputKind, input_kind, tgt.input_kinds, "--coreml-input", tgt.name)
        if require_full_delegation and chosen_backend == Backend.PORTABLE:
            raise UsageError("--require-full-delegation needs a delegate; --backend portable has none")
        if weights is not None and not Path(weights).is_file():
            raise UsageError(f"weights file {weights} does not exist")
        requested = parse(FFTMode, fft, "--fft")
        mode = tgt.resolve_fft(requested, chosen_backend)
        native = tgt.fft_row(chosen_backend).native_cost if requested == FFTMode.AUTO else None
        _check_reduced_precision(chosen_precision, chosen_backend, user_model, calibration)
        _check_parity_sources(parity_images, parity_inputs)
        return cls(model, tgt.name, chosen_backend, mode, chosen_precision, image_size, kind,
                   Path(weights) if weights is not None else None, Path(out), require_full_delegation, ort_format,
                   _absolute(calibration), _absolute(parity_images), _absolute(parity_inputs), native,
                   tuple(input_names), tuple(output_names))

    def identity(self) -> dict[str, Any]:
        """The fields that shape the artifact's computation (JSON-able): what a cached artifact must match.

        Tensor names are left out: an artifact whose tensors are named otherwise computes the same, and
        its manifest entry says what they are called.
        """
        fields = asdict(self)
        for where in ("weights", "out", "require_full_delegation", "calibration", "parity_images", "parity_inputs",
                      "input_names", "output_names"):
            del fields[where]
        return {k: str(v) if not isinstance(v, (int, bool, type(None))) else v for k, v in fields.items()}


NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""A tensor name every runtime and the apps' Swift and Java code can carry: an identifier."""


def _check_names(names: Sequence[str], option: str) -> None:
    bad = [n for n in names if not NAME.match(n)]
    if bad:
        raise UsageError(f"{option}: {', '.join(repr(n) for n in bad)} is not a name (letters, digits and _, "
                         "not starting with a digit)")
    if len(set(names)) != len(names):
        raise UsageError(f"{option} names a tensor twice: {', '.join(names)}")


def _absolute(path: Path | None) -> Path | None:
    return Path(path).resolve() if path is not None else None


def _check_parity_sources(parity_images: Path | None, parity_inputs: Path | None) -> None:
    """A missing or empty folder, or a missing file, fails now rather than after minutes of lowering."""
    if parity_images is not None:
        from affdeploy.data.photos import image_files

        image_files(Path(parity_images), "--parity-images")
    if parity_inputs is not None and not Path(parity_inputs).is_file():
        raise UsageError(f"--parity-inputs {parity_inputs} is not a file")


def _check_reduced_precision(precision: Precision, backend: Backend, user_model: bool, calibration: Path | None) -> None:
    """int8 calibrates on photos (AFFNet's input); ``--calibration`` means nothing to other precisions."""
    if calibration is not None:
        if precision != Precision.INT8:
            raise UsageError(f"--calibration applies to --precision int8, not {precision}")
        from affdeploy.data.calibration import OPTION, split_by_file
        from affdeploy.data.photos import image_files

        split_by_file(image_files(Path(calibration), OPTION))  # too few images fail now, not after the export
    if user_model and (precision == Precision.INT8 or (precision == Precision.FP16 and backend == Backend.XNNPACK)):
        raise UsageError(f"--precision {precision} with --backend {backend} is for AFFNet models (it calibrates on "
                         "or casts their image input); user models export in fp32 there")


def _pick(enum: type[StrEnumT], value: str | None, allowed: tuple[StrEnumT, ...], option: str, where: str) -> StrEnumT:
    """``value`` as a member of ``enum`` that the target offers (its first choice when None), or one clear line."""
    if value is None:
        return allowed[0]
    member = value.strip().lower()
    if member not in allowed:
        raise UsageError(f"{option} {member} is not available for --target {where}; choose: "
                         f"{', '.join(allowed)}")
    return enum(member)


def plan_exports(model: str, targets: str, *, backend: str | None = None, precision: str | None = None,
                 input_kind: str | None = None, require_full_delegation: bool = False, ort_format: bool = False,
                 calibration: Path | None = None, **common: Any) -> list[ExportRequest]:
    """Requests for ``targets`` ("all", one name or a comma list), every choice checked before slow work.

    Options that concern one target only (``--coreml-input``, ``--require-full-delegation``,
    ``--ort``) apply to that target and are ignored by the others under ``all``.
    """
    from affdeploy.export.registry import target_names

    names = [n.strip() for n in targets.split(",") if n.strip()]
    chosen = list(target_names()) if names == ["all"] else list(dict.fromkeys(names))
    if not chosen:
        raise UsageError("no --target given")
    return [
        ExportRequest.create(
            model, name, backend=backend, precision=precision,
            input_kind=input_kind if name == Target.COREML else None,
            require_full_delegation=require_full_delegation and name == Target.EXECUTORCH,
            ort_format=ort_format and name == Target.ONNX, calibration=calibration, **common,
        )
        for name in chosen
    ]
