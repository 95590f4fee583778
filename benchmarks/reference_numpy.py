"""Hand-written, expert NumPy (or CuPy) training steps for one-layer RNN (tanh), LSTM and GRU.

The baseline the engine is measured against: PyTorch's weight layout, the input projection
hoisted into one GEMM over all steps, every buffer preallocated once, and the weight
gradients computed as one GEMM over all steps.  Loss: sum of squares of the output sequence
and of the final state(s).  ``step(x)`` returns ``(loss, grads)``, grads by PyTorch name.
The same code runs on the GPU with ``xp=cupy`` (the hand-written CuPy baseline).
"""

from __future__ import annotations

import numpy as np


def _sig(x, out, xp=np):
    xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    xp.multiply(out, 0.5, out=out)
    xp.add(out, 0.5, out=out)
    return out


class Reference:
    """Preallocated buffers for one cell type at fixed (T, B, D, H)."""

    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}

    def __init__(self, mode: str, T: int, B: int, D: int, H: int, params: dict, dtype=np.float32,
                 xp=np):
        self.mode, self.T, self.B, self.D, self.H, self.xp = mode, T, B, D, H, xp
        G = self.gates[mode] * H
        self.p = {k: xp.asarray(v, dtype) for k, v in params.items()}
        z = lambda *s: xp.zeros(s, dtype)
        self.pre_x = z(T, B, G)          # x @ W_ih.T + biases, all steps at once
        self.hs = z(T + 1, B, H)         # h[0] = 0, h[1..T]
        self.acts = z(T, B, G)           # gate activations per step
        self.rec = z(B, G)               # h @ W_hh.T
        self.dpre = z(T, B, G)           # gradients of the input pre-activations
        self.dh = z(B, H)
        self.tmp = z(B, H)
        self.tmp2 = z(B, H)
        self.grads = {k: xp.zeros_like(v) for k, v in self.p.items()}
        if mode == "LSTM":
            self.cs = z(T + 1, B, H)
            self.tanh_c = z(T, B, H)
            self.dc = z(B, H)
        if mode == "GRU":
            self.gh = z(T, B, G)         # h @ W_hh.T + b_hh (needed by the n gate)
            self.dgh = z(T, B, G)

    def step(self, x):
        xp = self.xp
        m, p, T, B, D, H = self.mode, self.p, self.T, self.B, self.D, self.H
        x2 = x.reshape(T * B, D)
        pre2 = self.pre_x.reshape(T * B, -1)
        xp.matmul(x2, p["weight_ih_l0"].T, out=pre2)
        pre2 += p["bias_ih_l0"]
        if m != "GRU":
            pre2 += p["bias_hh_l0"]
        whh_t = p["weight_hh_l0"].T
        hs = self.hs
        for t in range(T):
            a = self.acts[t]
            if m == "RNN":
                xp.matmul(hs[t], whh_t, out=a)
                a += self.pre_x[t]
                xp.tanh(a, out=hs[t + 1])
            elif m == "LSTM":
                xp.matmul(hs[t], whh_t, out=a)
                a += self.pre_x[t]
                _sig(a[:, :2 * H], a[:, :2 * H], xp)
                xp.tanh(a[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
                _sig(a[:, 3 * H:], a[:, 3 * H:], xp)
                c = self.cs[t + 1]
                xp.multiply(a[:, H:2 * H], self.cs[t], out=c)
                xp.multiply(a[:, :H], a[:, 2 * H:3 * H], out=self.tmp)
                c += self.tmp
                xp.tanh(c, out=self.tanh_c[t])
                xp.multiply(a[:, 3 * H:], self.tanh_c[t], out=hs[t + 1])
            else:  # GRU
                gh = self.gh[t]
                xp.matmul(hs[t], whh_t, out=gh)
                gh += p["bias_hh_l0"]
                xp.add(self.pre_x[t][:, :2 * H], gh[:, :2 * H], out=a[:, :2 * H])
                _sig(a[:, :2 * H], a[:, :2 * H], xp)
                xp.multiply(a[:, :H], gh[:, 2 * H:], out=a[:, 2 * H:])
                a[:, 2 * H:] += self.pre_x[t][:, 2 * H:]
                xp.tanh(a[:, 2 * H:], out=a[:, 2 * H:])
                # h = n + z * (h_prev - n)
                xp.subtract(hs[t], a[:, 2 * H:], out=self.tmp)
                self.tmp *= a[:, H:2 * H]
                xp.add(a[:, 2 * H:], self.tmp, out=hs[t + 1])
        out = hs[1:]
        loss = float(xp.vdot(out, out)) + float(xp.vdot(hs[T], hs[T]))
        if m == "LSTM":
            loss += float(xp.vdot(self.cs[T], self.cs[T]))
        # ---- backward
        dh, g = self.dh, self.grads
        xp.multiply(hs[T], 2.0, out=dh)            # from the final state
        if m == "LSTM":
            xp.multiply(self.cs[T], 2.0, out=self.dc)
        for t in range(T - 1, -1, -1):
            xp.add(dh, out[t], out=dh)
            xp.add(dh, out[t], out=dh)             # d(sum h^2)/dh = 2h
            a, d = self.acts[t], self.dpre[t]
            if m == "RNN":
                xp.multiply(hs[t + 1], hs[t + 1], out=self.tmp)
                xp.subtract(1.0, self.tmp, out=self.tmp)
                xp.multiply(dh, self.tmp, out=d)
                xp.matmul(d, p["weight_hh_l0"], out=dh)
            elif m == "LSTM":
                i, f, gg, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
                tc = self.tanh_c[t]
                xp.multiply(dh, tc, out=d[:, 3 * H:])           # do
                xp.multiply(dh, o, out=self.tmp)                # dc += dh * o * (1 - tc^2)
                xp.multiply(tc, tc, out=self.tmp2)
                xp.subtract(1.0, self.tmp2, out=self.tmp2)
                self.tmp *= self.tmp2
                self.dc += self.tmp
                xp.multiply(self.dc, gg, out=d[:, :H])          # di
                xp.multiply(self.dc, self.cs[t], out=d[:, H:2 * H])   # df
                xp.multiply(self.dc, i, out=d[:, 2 * H:3 * H])  # dg
                self.dc *= f
                for s, act in ((slice(0, H), i), (slice(H, 2 * H), f), (slice(3 * H, 4 * H), o)):
                    xp.subtract(1.0, act, out=self.tmp)
                    self.tmp *= act
                    d[:, s] *= self.tmp
                xp.multiply(gg, gg, out=self.tmp)
                xp.subtract(1.0, self.tmp, out=self.tmp)
                d[:, 2 * H:3 * H] *= self.tmp
                xp.matmul(d, p["weight_hh_l0"], out=dh)
            else:  # GRU
                r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
                dgh = self.dgh[t]
                xp.subtract(hs[t], n, out=self.tmp)             # dz = dh * (h_prev - n)
                xp.multiply(dh, self.tmp, out=d[:, H:2 * H])
                xp.subtract(1.0, z, out=self.tmp)               # dn = dh * (1 - z)
                xp.multiply(dh, self.tmp, out=d[:, 2 * H:])
                xp.multiply(n, n, out=self.tmp)
                xp.subtract(1.0, self.tmp, out=self.tmp)
                d[:, 2 * H:] *= self.tmp                        # through tanh
                xp.multiply(d[:, 2 * H:], r, out=dgh[:, 2 * H:])
                xp.multiply(d[:, 2 * H:], self.gh[t][:, 2 * H:], out=d[:, :H])  # dr
                for s, act in ((slice(0, H), r), (slice(H, 2 * H), z)):
                    xp.subtract(1.0, act, out=self.tmp)
                    self.tmp *= act
                    d[:, s] *= self.tmp
                dgh[:, :2 * H] = d[:, :2 * H]
                dh *= z                                          # direct path
                xp.matmul(dgh, p["weight_hh_l0"], out=self.tmp2)
                dh += self.tmp2
        d2 = self.dpre.reshape(T * B, -1)
        xp.matmul(d2.T, x2, out=g["weight_ih_l0"])
        xp.sum(d2, axis=0, out=g["bias_ih_l0"])
        hprev = hs[:T].reshape(T * B, H)
        if m == "GRU":
            dgh2 = self.dgh.reshape(T * B, -1)
            xp.matmul(dgh2.T, hprev, out=g["weight_hh_l0"])
            xp.sum(dgh2, axis=0, out=g["bias_hh_l0"])
        else:
            xp.matmul(d2.T, hprev, out=g["weight_hh_l0"])
            g["bias_hh_l0"][...] = g["bias_ih_l0"]
        return loss, g
