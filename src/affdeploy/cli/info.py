"""``affdeploy info``: what a model is, costs and expects, and how many FFT ops it exports with."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from torch.export import ExportedProgram

from affdeploy.cli._common import JSON_OPTION_HELP, app, console, print_json
from affdeploy.export.pipeline import constant_bytes, transform_summary
from affdeploy.fft import lower_fft
from affdeploy.graph import check_image_size, complex_value_count, export_program, fft_op_count, op_counts
from affdeploy.models import build_model, model_info
from affdeploy.models.profile import profile_model
from affdeploy.models.source import MODEL_HELP, is_user_model, resolve_model
from affdeploy.preprocessing import DEFAULT_IMAGE_SIZE, input_spec


@app.command()
def info(
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    image_size: int = typer.Option(DEFAULT_IMAGE_SIZE, "--image-size", help="Input height and width (multiple of 32)."),
    fft_pass: bool = typer.Option(
        True, "--fft-pass/--no-fft-pass", help="Also run the FFT pass (--fft auto) and report the graph after it."
    ),
    target: str = typer.Option(
        "executorch", "--target", help="Whose runtime the FFT pass costs the forms of each transform for "
        "(onnx, coreml, executorch, tflite): as `export --target` would lower them."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Show a model's parameters, MACs (FFT share apart), input spec and FFT ops in its exported graph.

    MACs are counted from the real module shapes during one forward pass; FFT MACs use the
    radix-2 estimate. The FFT op count comes from torch.export of the model at --image-size.

    With the FFT pass (default) the graph is also reported after lowering FFTs and complex values to real DFT-matrix products, the form exported for Core ML and ExecuTorch (docs/fft.md), with every transform's form (dense matrix, factored network, Bluestein, or the runtime's native FFT), MACs and constant bytes.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    costing = _costing(target) if fft_pass else None
    if is_user_model(model):
        _user_info(model, costing, as_json)
        return
    entry = model_info(model)
    check_image_size(image_size)
    net = build_model(model)
    prof = profile_model(net, image_size)
    ep = export_program(net, image_size)
    spec = input_spec(image_size)
    data = {
        "model": model,
        "cvnets_mode": entry.config.cvnets_mode,
        "params": prof.params,
        "macs": prof.macs,
        "fft_macs": prof.fft_macs,
        "filter_macs": prof.filter_macs,
        "image_size": image_size,
        "imagenet_top1": entry.top1,
        "input": spec.to_dict(),
        **_graphs(ep, costing),
    }
    if as_json:
        print_json(data)
        return
    table = Table(title=f"{model} ({entry.config.cvnets_mode}) at {image_size}x{image_size}", show_header=False)
    table.add_row("parameters", f"{prof.params:,}")
    table.add_row("MACs", f"{prof.macs / 1e9:.3f} G")
    table.add_row("  of which FFT (estimate)", f"{prof.fft_macs / 1e9:.3f} G ({100 * prof.fft_macs / prof.macs:.1f}%)")
    table.add_row("  of which AFF filter MLP", f"{prof.filter_macs / 1e9:.3f} G")
    table.add_row("ImageNet-1k top-1 (paper)", f"{entry.top1:.1f}%")
    table.add_row("input", f"{spec.name} {list(spec.shape)} {spec.dtype} {spec.layout}")
    table.add_row("preprocessing", f"{spec.color_order}, pixels x {spec.scale:.6f} -> [0, 1], no mean/std")
    table.add_row("output", f"{spec.output_name} [1, 1000] ({spec.labels})")
    _print_with_graph(table, data)


def _print_with_graph(table: Table, data: dict[str, Any]) -> None:
    """The FFT-op rows (before and, if run, after the FFT pass) shared by AFFNet and user models."""
    table.add_row("FFT ops in exported graph", str(data["graph"]["fft_ops"]))
    table.add_row("complex-valued graph values", str(data["graph"]["complex_values"]))
    after = data.get("graph_after_fft_pass")
    if after is not None:
        table.add_row("after FFT pass: FFT ops / complex values", f"{after['fft_ops']} / {after['complex_values']}")
        table.add_row("after FFT pass: DFT matmuls / constants", f"{after['dft_matmuls']} / {after['dft_matrices']}")
        table.add_row("after FFT pass: DFT constant bytes", _bytes(after["constant_bytes"]))
    console.print(table)
    transforms = data.get("fft_transforms")
    if transforms:
        listing = Table(title=f"FFT transforms, costed for {data['fft_costed_for']}")
        for column in ("op", "at", "form per axis", "MACs", "constants"):
            listing.add_column(column, justify="right" if column in ("MACs", "constants") else "left")
        for t in transforms:
            forms = ", ".join(f"dim {a['dim']} n={a['n']}: {a['form']}" for a in t["axes"]) or ", ".join(t["forms"])
            if t.get("folded"):
                forms = "folded into constants at lowering (weights only)"
            listing.add_row(t["op"], t["source"].split(" (")[0], forms, f"{t['macs'] / 1e6:,.2f} M",
                            _bytes(t["constant_bytes"]))
        console.print(listing)


def _bytes(count: int) -> str:
    return f"{count / 1e6:,.2f} MB" if count >= 1e5 else f"{count / 1e3:,.1f} kB"


def _costing(target: str) -> tuple[str, str, str | None]:
    """(target, cost model, native cost model) of ``target``'s default backend under --fft auto."""
    from affdeploy.export.registry import get_target

    tgt = get_target(target)
    row = tgt.fft_row(tgt.backends[0])
    return str(tgt.name), row.cost, row.native_cost


def _user_info(model: str, costing: tuple[str, str, str | None] | None, as_json: bool) -> None:
    """A .pt2 or factory model: its identity, tensor inputs and FFT ops (AFFNet's MACs/labels do not apply)."""
    source = resolve_model(model)
    ep = source.program()
    data = {**source.describe(), "params": sum(p.numel() for p in source.module.parameters()), **_graphs(ep, costing)}
    if as_json:
        print_json(data)
        return
    table = Table(title=f"{source.name} ({source.kind})", show_header=False)
    table.add_row("source", f"{source.ref} (sha256 {(source.sha256 or 'unknown')[:12]})")
    table.add_row("parameters", f"{data['params']:,}")
    for spec in source.input_specs():
        table.add_row(f"input {spec.name}", f"{list(spec.shape)} {spec.dtype}")
    _print_with_graph(table, data)


def _graphs(ep: ExportedProgram, costing: tuple[str, str, str | None] | None) -> dict[str, Any]:
    """The exported graph's summary, and the lowered graph's with every transform when the FFT pass is asked for."""
    graphs: dict[str, Any] = {"graph": _graph_summary(ep)}
    if costing is not None:
        target, cost, native = costing
        report: list[dict[str, Any]] = []
        after = _graph_summary(lower_fft(ep, target=target, cost=cost, native=native, report=report))
        after["constant_bytes"] = constant_bytes(report)
        graphs["graph_after_fft_pass"] = after
        graphs["fft_costed_for"] = f"{target} ({cost} cost model{', native FFT allowed' if native else ''})"
        graphs["fft_transforms"] = [transform_summary(t) for t in report]
    return graphs


def _graph_summary(ep: ExportedProgram) -> dict[str, int]:
    """FFT ops, complex values and DFT-matrix products (mm against a _dft_ constant) in a graph."""
    signature = ep.graph_signature
    dft_inputs = {
        arg for arg, name in {**signature.inputs_to_buffers, **signature.inputs_to_lifted_tensor_constants}.items()
        if "_dft_" in name
    }
    matmuls = sum(
        1 for node in ep.graph.nodes
        if node.op == "call_function" and any(getattr(a, "name", None) in dft_inputs for a in node.args)
    )
    return {
        "fft_ops": fft_op_count(ep),
        "complex_values": complex_value_count(ep),
        "dft_matmuls": matmuls,
        "dft_matrices": len(dft_inputs),
        "ops": sum(op_counts(ep).values()),
    }
