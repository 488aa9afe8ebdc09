"""The ``snn`` command.

``snn run EXPERIMENT.toml``, ``snn config check|import``, ``snn plugins list``. A user's
mistake (any :class:`~snn_core.errors.SnnError`) is printed as one clear message with
exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from snn_core import __version__
from snn_core.errors import ConfigError, SnnError


def _parse_set(items: Sequence[str]) -> dict[str, Any]:
    import tomli

    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"--set {item!r}: expected table.key=value, e.g. cell.v_thresh=0.5")
        try:
            value = tomli.loads(f"v = {raw}")["v"]
        except tomli.TOMLDecodeError:
            value = raw
        overrides[key.strip()] = value
    return overrides


def cmd_run(args: argparse.Namespace) -> int:
    from snn_core.config import load_experiment
    from snn_core.pipeline import run_experiment

    experiment = load_experiment(args.experiment, overrides=_parse_set(args.set))
    results = run_experiment(experiment)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print_summary(results)
    return 0


def _print_summary(results: dict[str, Any]) -> None:
    if "runs" in results:
        for row in results["runs"]:
            print(f"{results['param']} = {row['value']}: SNN top-1 {row['top1']:.4f}")
        return
    lines = []
    if "ann_input_model" in results:
        lines.append(f"ANN (input model)   top-1 {results['ann_input_model']['top1']:.4f}")
    if "ann" in results:
        lines.append(f"ANN (parsed, normalized) top-1 {results['ann']['top1']:.4f}")
    snn = results.get("snn")
    if snn and snn["top1"]:
        k = snn["k"]
        extra = f", top-{k} {snn['topk'][-1]:.4f}" if k > 1 else ""
        lines.append(
            f"SNN top-1 {snn['top1'][-1]:.4f}{extra} after {snn['timesteps'][-1]:g} ms "
            f"({results['samples']} samples)"
        )
    lines.append(f"results in {results['run_dir']}")
    print("\n".join(lines))


def cmd_check(args: argparse.Namespace) -> int:
    from snn_core.config import load_experiment
    from snn_core.pipeline import bind

    experiment = load_experiment(args.experiment, overrides=_parse_set(args.set))
    plugins = bind(experiment)
    used = ", ".join(
        f"{k} {getattr(plugins, k).name}"
        for k in ("dataset", "parser", "normalizer", "code", "simulator")
        if getattr(plugins, k) is not None
    )
    print(f"{args.experiment}: valid ({used})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from snn_core.ini_import import import_ini

    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not args.force:
        raise ConfigError(f"{out} exists; pass --force to replace it")
    text = import_ini(Path(args.settings), out)
    if out is None:
        sys.stdout.write(text)
        return 0
    out.write_text(text)
    print(f"wrote {out}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from snn_core.interfaces import KINDS
    from snn_core.plugins import get_registry

    if args.kind and args.kind not in KINDS:
        raise ConfigError(f"--kind {args.kind!r}: expected one of {', '.join(KINDS)}")
    rows = [e for e in get_registry().entries() if not args.kind or e.kind in (args.kind, "?")]
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0
    header = ("kind", "name", "distribution", "version", "module", "status")
    table = [header] + [
        (
            r.kind,
            r.name,
            r.distribution,
            r.version,
            r.module,
            r.status if r.status == "ok" else f"{r.status}: {r.error}",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, str(row[-1])]).rstrip())
    if not rows:
        print("no plugins installed (pip install snn-sim-ini snn-code-rate ...)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``snn`` command."""
    parser = argparse.ArgumentParser(
        prog="snn", description="Convert trained ANNs to spiking networks and simulate them."
    )
    parser.add_argument("--version", action="version", version=f"snn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an experiment file")
    run.add_argument("experiment", help="the experiment TOML file")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override a setting (TOML value), e.g. --set simulation.duration=50",
    )
    run.add_argument("--json", action="store_true", help="print results.json to stdout")
    run.set_defaults(func=cmd_run)

    config = sub.add_parser("config", help="check or import experiment files")
    csub = config.add_subparsers(dest="config_command", required=True)
    check = csub.add_parser("check", help="validate an experiment file without running it")
    check.add_argument("experiment")
    check.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE")
    check.set_defaults(func=cmd_check)
    imp = csub.add_parser("import", help="turn an SNN Toolbox settings (INI) file into TOML")
    imp.add_argument("settings", help="the SNN Toolbox INI file")
    imp.add_argument("-o", "--output", help="write here instead of standard output")
    imp.add_argument("--force", action="store_true", help="replace an existing output file")
    imp.set_defaults(func=cmd_import)

    plugins = sub.add_parser("plugins", help="installed plugins")
    psub = plugins.add_subparsers(dest="plugins_command", required=True)
    lst = psub.add_parser("list", help="list installed plugins, broken ones included")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--kind", help="only this kind (parser, code, dataset, normalizer, simulator)")
    lst.set_defaults(func=cmd_plugins)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snn`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SnnError as exc:
        if args.debug:
            raise
        print(f"snn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("snn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
