"""The ``graphrnn`` command line: ``graphrnn demo``, ``graphrnn ops``, ``graphrnn --version``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__


def _cmd_demo(args) -> int:
    from .demo import run_demo

    figures = run_demo(steps=args.steps, seed=args.seed, iterations=args.iterations)
    svgs = []
    if args.out:
        svgs = _write_diagrams(figures, args.out)
    summary = {k: v for k, v in figures.items() if k not in ("graph", "grad_graph")}
    summary["svg"] = svgs
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    ok = figures["gradcheck_ok"] and figures["final_loss"] < 1e-6
    print("demo " + ("passed" if ok else "FAILED: " + json.dumps(summary)))
    return 0 if ok else 1


def _write_diagrams(figures, out_dir):
    # Rendering lives outside the engine: imported only here, and optional.
    try:
        import visualize
    except ImportError as e:
        print(f"5. Diagrams skipped: {e}")
        return []
    if not visualize.dot_available():
        print("5. Diagrams skipped: Graphviz's 'dot' is not installed "
              "(apt-get install graphviz, or brew install graphviz)")
        return []
    paths = [visualize.write_svg(visualize.dag(figures[key]), os.path.join(out_dir, name))
             for key, name in (("graph", "moving_sum_unrolled"), ("grad_graph", "moving_sum_bptt"))]
    print("5. Diagrams written: " + ", ".join(paths))
    return paths


def _cmd_ops(args) -> int:
    from .ops import OPS

    width = max(len(n) for n in OPS)
    for name, op in OPS.items():
        grad = "vjp" if op.differentiable else "   "
        ew = "elementwise" if op.elementwise else "           "
        print(f"{name:<{width}}  {grad}  {ew}  {op.doc}")
    print(f"{len(OPS)} ops")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``graphrnn`` console script."""
    parser = argparse.ArgumentParser(prog="graphrnn", description=__doc__)
    parser.add_argument("--version", action="version", version=f"graphrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the moving-sum RNN: build, differentiate, check, "
                                       "train, draw")
    demo.add_argument("--steps", type=int, default=5, help="time steps to unroll (default 5)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--iterations", type=int, default=3000, help="training iterations at most")
    demo.add_argument("--out", default="out", help="folder for SVG diagrams ('' for none)")
    demo.add_argument("--json", help="write the figures to this JSON file")
    demo.set_defaults(fn=_cmd_demo)
    ops = sub.add_parser("ops", help="list the registered ops")
    ops.set_defaults(fn=_cmd_ops)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
