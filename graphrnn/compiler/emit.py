"""How each op is written as Python over the array module: the emission rules of
:mod:`.render` (views, ufuncs with ``out=``, one GEMM over stacked rows, reductions into
their planned buffers, stacks and concats that are views of stored steps)."""

from __future__ import annotations

from ..core.ops.activations import EXP_LIMIT
from .dims import as_poly, render as expr
from .lower import Instr
from .memory import UFUNC

__all__ = ["OpText", "key_text"]


def key_text(key) -> str:
    """Python subscript text for a symbolic index key (``[t - 1, :, ::-1]``)."""
    parts = []
    for k in key:
        if k[0] == "a":
            parts.append(":")
        elif k[0] == "i":
            parts.append(expr(k[1]))
        else:
            start, stop, step = k[1:]
            stop_t = "" if stop is None or (isinstance(stop, int) and stop < 0) else expr(stop)
            parts.append(f"{expr(start)}:{stop_t}" + (f":{step}" if step != 1 else ""))
    return "[" + ", ".join(parts) + "]"


class OpText:
    """The op-by-op emission rules; mixed into the renderer, which provides ``plan``,
    ``instrs``, ``code``, ``shape()``, ``flat_view()`` and ``ufunc_reduce``."""

    def view_expr(self, ins: Instr, args) -> str:
        op, a = ins.op, args[0]
        if op == "stack":
            return f"{a}  # the steps, stored in place"
        if op == "concat":
            return f"{a}.reshape({self.shape(ins.shape)})  # the steps, stored in place"
        if op == "index":
            return f"{a}{key_text(ins.attrs['key'])}"
        if op == "reshape":
            return f"{a}.reshape({self.shape(ins.shape)})"
        if op == "transpose":
            return f"{a}.transpose({tuple(ins.attrs['axes'])!r})"
        if op == "broadcast_to" and ins.id in self.plan.elided:
            return f"{a}  # broadcast by its ufunc users"
        if op == "broadcast_to":
            return f"np.broadcast_to({a}, {self.shape(ins.shape)})"
        return a

    def op_text(self, ins: Instr, v, args, out) -> str:
        op = ins.op
        if op in UFUNC:
            if any(a[0] == "v" and self.plan.out.get(a[1]) == self.plan.out.get(ins.id)
                   for a in ins.args):
                self.r.links += 1
            return f"{v} = np.{UFUNC[op]}({', '.join(args)}, out={out})"
        if op == "relu":
            return f"{v} = np.maximum({args[0]}, 0, out={out})"
        if op == "sigmoid":  # 1 / (1 + exp(min(-x, L))): the op's kernel's ufuncs, in place
            limit = EXP_LIMIT[ins.node.dtype]
            return (f"{v} = np.negative({args[0]}, out={out}); np.minimum({v}, {limit!r}, "
                    f"out={v}); np.exp({v}, out={v}); np.add({v}, 1, out={v}); "
                    f"np.divide(1, {v}, out={v})")
        if op == "pow":
            return f"{v} = np.power({args[0]}, {ins.attrs['exponent']!r}, out={out})"
        if op == "add_n":
            return self.add_n(ins, v, args, out)
        if op == "where":
            return (f"{v} = {out}; np.copyto({v}, {args[2]}); "
                    f"np.copyto({v}, {args[1]}, where={args[0]})")
        if op == "cast":
            return f"{v} = {out}; np.copyto({v}, {args[0]}, casting='unsafe')"
        if op == "matmul":
            a, b = (self.arg_shape(x) for x in ins.args)
            if len(a) > 2 and len(b) == 2:  # one GEMM over all leading rows
                k, m = a[-1], ins.shape[-1]
                flat = self.flat_view(out, (-1, m))
                return (f"np.matmul({args[0]}.reshape({self.shape((-1, k))}), {args[1]}, "
                        f"out={flat}); {v} = {out}")
            return f"{v} = np.matmul({args[0]}, {args[1]}, out={out})"
        if op in ("sum", "max"):
            if self.ufunc_reduce:  # NumPy: the ufunc's reduce skips a wrapper
                fn = "add.reduce" if op == "sum" else "maximum.reduce"
            else:  # CuPy: its reduction kernels
                fn = "sum" if op == "sum" else "amax"
            return (f"{v} = np.{fn}({args[0]}, axis={tuple(ins.attrs['axes'])!r}, "
                    f"keepdims={ins.attrs['keepdims']}, out={out})")
        if op == "sum_to_shape":
            g, shape = self.arg_shape(ins.args[0]), ins.shape
            lead = len(g) - len(shape)
            axes = tuple(range(lead)) + tuple(lead + j for j, d in enumerate(shape)
                                              if d == 1 and g[lead + j] != 1)
            kept = self.flat_view(out, (1,) * lead + tuple(shape))
            fn = "add.reduce" if self.ufunc_reduce else "sum"
            return (f"np.{fn}({args[0]}, axis={axes!r}, keepdims=True, out={kept}); "
                    f"{v} = {out}")
        if op in ("stack", "concat"):
            return self.join(ins, v, args, out)
        if op == "unindex":
            # -0.0, the additive identity, as the op's kernel fills (see ops/shape_ops.py)
            fill = "-0.0" if ins.node.dtype.kind == "f" else "0"
            return (f"{v} = {out}; {v}.fill({fill}); "
                    f"{v}{key_text(ins.attrs['key'])} = {args[0]}")
        raise NotImplementedError(op)  # pragma: no cover - every OUT_OPS entry is handled

    def arg_shape(self, a) -> tuple:
        if a[0] == "v":
            return self.instrs[a[1]].shape
        role = next(r for r in self.code.roles if r.id == a[1])
        if a[0] == "role":
            return role.shape
        n = as_poly(a[3]) - a[2]
        return (n,) + tuple(role.shape)  # sign irrelevant for ranks

    def add_n(self, ins: Instr, v, args, out) -> str:
        runs = [x for a, x in zip(ins.args, args) if a[0] == "run"]
        rest = [x for a, x in zip(ins.args, args) if a[0] != "run"]
        fn = "add.reduce" if self.ufunc_reduce else "sum"
        parts = [f"{v} = {out}"]
        if runs:
            # from -0.0 (x + -0.0 == x): the same bits as adding the terms one by one
            start = ", initial=-0.0" if self.ufunc_reduce and ins.node.dtype.kind == "f" else ""
            parts.append(f"np.{fn}({runs[0]}, axis=0, out={v}{start})")
            for x in runs[1:] + rest:
                parts.append(f"np.add({v}, {x}, out={v})")
            return "; ".join(parts)
        return (f"{v} = np.add({rest[0]}, {rest[1]}, out={out})"
                + "".join(f"; np.add({v}, {x}, out={v})" for x in rest[2:]))

    def join(self, ins: Instr, v, args, out) -> str:
        placed = [a[0] == "v" and self.plan.container.get(a[1], (None,))[0] == ins.id
                  for a in ins.args]
        if placed and all(placed):
            return f"{v} = {out}  # its steps were computed in place"
        axis = ins.attrs["axis"]
        pieces = []
        for a, x in zip(ins.args, args):
            if a[0] == "run":
                if ins.op == "concat":  # (n, rows, ...) -> (n * rows, ...)
                    x = f"{x}.reshape({self.shape((-1,) + tuple(self.arg_shape(a)[2:]))})"
                pieces.append(x)
            elif ins.op == "stack" and any(b[0] == "run" for b in ins.args):
                pieces.append(f"{x}[None]")
            else:
                pieces.append(x)
        if ins.op == "stack" and not any(a[0] == "run" for a in ins.args):
            return f"{v} = np.stack(({', '.join(pieces)},), axis={axis}, out={out})"
        return f"{v} = np.concatenate(({', '.join(pieces)},), axis={axis}, out={out})"

