"""The ``graphrnn`` command line: ``demo``, ``render``, ``ops``, ``--version``.

Rendering lives outside the engine (the ``visualize`` package); it is imported only here."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .. import __version__


def _cmd_demo(args) -> int:
    from .demo import run_demo

    figures = run_demo(steps=args.steps, seed=args.seed, epochs=args.epochs)
    svgs = []
    if args.out:
        svgs = _write_diagrams(figures, args.out)
    summary = {k: v for k, v in figures.items()
               if k not in ("graph", "grad_graph", "recurrence", "model", "fit_history")}
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
    paths = [visualize.write_svg(visualize.folded(figures["recurrence"]),
                                 os.path.join(out_dir, "moving_sum_folded")),
             visualize.write_svg(visualize.unrolled(figures["graph"]),
                                 os.path.join(out_dir, "moving_sum_unrolled")),
             visualize.write_svg(visualize.unrolled(figures["grad_graph"], max_steps=3),
                                 os.path.join(out_dir, "moving_sum_bptt"))]
    try:  # plots need matplotlib (the [plots] extra)
        paths.append(_vanishing_plot(visualize, out_dir))
        paths.append(visualize.history(figures["fit_history"],
                                       os.path.join(out_dir, "moving_sum_training"),
                                       title="training the moving-sum RNN (fit's history)"))
    except ImportError as e:
        print(f"   plots skipped: {e}")
    print("5. Diagrams written: " + ", ".join(paths))
    return paths


def _vanishing_plot(visualize, out_dir):
    """|dL/dh[T-k]| against k for tanh Elman RNNs with recurrent spectral radius 0.7 and 1.3."""
    import numpy as np

    from ..core import ops as F
    from ..core.ir import Graph
    from ..models import Elman

    steps, series = 30, {}
    for radius in (0.7, 1.3):
        model = Elman(1, 16, 1, activation="tanh", dtype="float64", seed=0)
        w = np.linalg.qr(np.random.default_rng(1).normal(size=(16, 16)))[0] * radius
        model.load_state_dict({**model.state_dict(), "W": w, "b": np.zeros(16)})
        g = model.recurrence().unroll(steps)
        values = {"x": np.full((steps, 1, 1), 0.05), **model.state_dict()}
        by_step = visualize.state_gradient_norms(Graph({"loss": F.sum(g.outputs["h_final"])}),
                                                 values)
        ks = np.arange(steps)
        series[f"tanh RNN, radius {radius}"] = (ks, [by_step[steps - k] for k in ks])
        series[f"{radius}^k"] = (ks, by_step[steps] * radius ** ks)
    return visualize.line_plot(series, os.path.join(out_dir, "vanishing_gradients"),
                               title="gradient reaching back k steps", xlabel="k",
                               ylabel="|dL/dh[T-k]|", logy=True,
                               dashed=[k for k in series if "^" in k])


def _cmd_ops(args) -> int:
    from ..core.ops import OPS

    width = max(len(n) for n in OPS)
    for name, op in OPS.items():
        grad = "vjp" if op.differentiable else "   "
        ew = "elementwise" if op.elementwise else "           "
        print(f"{name:<{width}}  {grad}  {ew}  {op.doc}")
    print(f"{len(OPS)} ops")
    return 0


def _load_recurrence(model: str):
    """A built-in recurrence by name, or the recurrence a Python file defines."""
    from .catalog import BUILTIN_NAMES, builtin_recurrence
    from ..frontend.recurrence import Recurrence

    if not model.endswith(".py"):
        return builtin_recurrence(model)
    import runpy

    if not os.path.exists(model):
        raise FileNotFoundError(f"render: no such file {model!r}")
    scope = runpy.run_path(model, run_name="graphrnn_render")
    for name in ("recurrence", "rec"):
        if isinstance(scope.get(name), Recurrence):
            return scope[name]
    if callable(scope.get("build_recurrence")):
        return scope["build_recurrence"]()
    found = [v for v in scope.values() if isinstance(v, Recurrence)]
    if not found:
        raise ValueError(f"render: {model} defines no Recurrence (name it 'recurrence', or "
                         f"define build_recurrence()); built-in models: {', '.join(BUILTIN_NAMES)}")
    return found[0]


#: the most steps ``graphrnn render`` unrolls: a diagram draws at most
#: ``visualize.style.MAX_DRAWN_STEPS`` of them and elides the middle of longer unrollings
MAX_RENDER_STEPS = 1000


def _cmd_render(args) -> int:
    import numpy as np

    import visualize
    from visualize.style import MAX_DRAWN_STEPS
    from ..core import ops as F
    from ..core.ir import Graph

    if args.view != "folded" and not 1 <= args.steps <= MAX_RENDER_STEPS:
        raise ValueError(f"render: --steps {args.steps:,} is outside 1..{MAX_RENDER_STEPS:,}: a "
                         f"diagram elides the middle of a long unrolling (it draws at most "
                         f"{MAX_DRAWN_STEPS} steps), so more steps would only cost time and "
                         f"memory")
    if not 1 <= args.max_steps <= MAX_DRAWN_STEPS:
        raise ValueError(f"render: --max-steps {args.max_steps:,} is outside "
                         f"1..{MAX_DRAWN_STEPS}")
    rec = _load_recurrence(args.model)
    if args.view == "folded":
        diagram = visualize.folded(rec)
    elif args.view == "optimized":  # the unrolled graph before and after the O2 passes
        from ..transforms.passes import optimize

        graph = rec.unroll(args.steps)
        diagram = visualize.passes_diff(graph, optimize(graph, "O2"), max_steps=args.max_steps)
    else:
        graph = rec.unroll(args.steps)
        if args.view == "unrolled":
            diagram = visualize.unrolled(graph, max_steps=args.max_steps,
                                         share_params=not args.repeat_params,
                                         collapse=args.collapse, equations=args.equations)
        else:  # gradients of the mean square of every output, at seeded random values
            loss = F.add_n([F.mean(F.square(v)) for k, v in graph.outputs.items()
                            if not k.endswith("_final")])
            lg = Graph({"loss": loss}, name=graph.name)
            rng = np.random.default_rng(args.seed)
            values = {k: (rng.normal(size=tuple(args.batch if not isinstance(d, int) else d
                                                for d in n.shape)) * 0.5).astype(n.dtype)
                      for k, n in {**lg.inputs, **lg.params}.items()}
            diagram = visualize.gradient_flow(lg, values, max_steps=args.max_steps,
                                              dims={"B": args.batch},
                                              share_params=not args.repeat_params)
    path = visualize.write(diagram, args.output, args.format)
    print(f"wrote {path}")
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
    demo.add_argument("--epochs", type=int, default=250, help="training epochs (8 steps each)")
    demo.add_argument("--out", default="out", help="folder for SVG diagrams ('' for none)")
    demo.add_argument("--json", help="write the figures to this JSON file")
    demo.set_defaults(fn=_cmd_demo)
    render = sub.add_parser("render", help="draw a recurrence: folded, unrolled, its gradients, "
                                           "or the O2 passes' before/after")
    render.add_argument("model", help="a built-in model (elman, rnn, lstm, gru, jordan, "
                                      "autonomous, lstm-by-hand) or a .py file defining a Recurrence")
    render.add_argument("--view", choices=["folded", "unrolled", "gradients", "optimized"],
                        default="folded", help="optimized: before/after the O2 passes")
    render.add_argument("--steps", type=int, default=4,
                        help=f"steps to unroll (default 4, at most {MAX_RENDER_STEPS})")
    render.add_argument("-o", "--output", default="out/model.svg")
    render.add_argument("--format", choices=["svg", "dot"], default="svg")
    render.add_argument("--max-steps", type=int, default=6,
                        help="draw the first and last steps around '...' beyond this many")
    render.add_argument("--collapse", action="store_true", help="one box per step's cell")
    render.add_argument("--repeat-params", action="store_true",
                        help="draw parameters in every step instead of once")
    render.add_argument("--equations", action="store_true", help="label values with equations")
    render.add_argument("--batch", type=int, default=2, help="batch size for --view gradients")
    render.add_argument("--seed", type=int, default=0)
    render.set_defaults(fn=_cmd_render)
    ops = sub.add_parser("ops", help="list the registered ops")
    ops.set_defaults(fn=_cmd_ops)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
