"""Small builders and checks several test modules share (no hypothesis needed here)."""

import numpy as np

import graphrnn as gr
from graphrnn.runtime.backends import Backend


def grad_of_all(graph):
    """``graph``'s gradient graph with respect to every float input and parameter."""
    return gr.grad_graph(graph, wrt=[k for k, v in {**graph.inputs, **graph.params}.items()
                                     if v.dtype.kind == "f"], loss="loss")


def training_step(cls, dtype, T=5, B=3, D=4, H=6, mask=False):
    """A zoo model's training graph (sum of squares of every output, all parameter
    gradients) with inputs and parameters: ``(graph, inputs, params)``.  With ``mask``,
    padded sequences of lengths T, 2, 1 (a ``where`` in every step)."""
    model = cls(D, H, dtype=dtype, seed=0)
    g = model.graph(T, mask=mask)
    loss = gr.add_n([gr.sum(v * v) for v in g.outputs.values()])
    dg = gr.grad_graph(gr.Graph({"loss": loss}), loss="loss")
    rng = np.random.default_rng(1)
    inputs = {"input": rng.normal(size=(T, B, D)).astype(dtype)}
    if mask:
        inputs["mask"] = np.arange(T)[:, None] < np.array([T, 2, 1][:B])[None, :]
    return dg, inputs, model.state_dict()


def assert_close_scaled(got, want, rtol, to_numpy=np.asarray):
    """Every output of ``got`` equals ``want``'s to ``rtol`` relative to that array's largest
    entry (float32 sums cancel in small entries, so entrywise relative error says little)."""
    for k in want:
        scale = float(np.max(np.abs(want[k]))) if np.size(want[k]) else 0.0
        np.testing.assert_allclose(to_numpy(got[k]), want[k], rtol=rtol,
                                   atol=rtol * scale + 1e-12, err_msg=k)


class Interpreted(Backend):
    """NumPy arrays with fused groups run op by op (FusedKernel.evaluate): the compiler's
    fusion path, checked quickly on random graphs without compiling any C++."""

    fuses_elementwise = True

    def make_kernels(self, kernels, source=""):
        def call(k, *arrays):
            n = len(k.input_dtypes)
            outs = arrays[n:]
            for out, value in zip(outs, k.evaluate(np, *arrays[:n], shape=outs[0].shape)):
                np.copyto(out, value)
        return [lambda *a, k=k: call(k, *a) for k in kernels]


INTERPRETED = Interpreted("interpreted", np, np.asarray)
