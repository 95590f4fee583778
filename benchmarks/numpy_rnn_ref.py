#!/usr/bin/env python3
"""Hand-written NumPy RNN / LSTM / GRU with full BPTT: the "NumPy limit" reference.

Conventions follow PyTorch (single layer, unidirectional, time-major x of shape
(T, B, D), parameters W_ih (G*H, D), W_hh (G*H, H), b_ih (G*H,), b_hh (G*H,)):

  RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
  LSTM  gates i, f, g, o (in that order); c' = f*c + i*g; h' = o*tanh(c')
  GRU   gates r, z, n;  n = tanh(W_in x + b_in + r*(W_hn h + b_hn));
        h' = (1-z)*n + z*h

Techniques (what an expert writes in plain NumPy):
  * the input projection of all time steps is one GEMM (T*B x D) @ (D x G*H),
    both biases folded into one vector added once;
  * one small GEMM per step for the recurrence, written with out= into
    preallocated buffers; only in-place ufunc calls inside the time loops;
  * one tanh call covers all gates: the sigmoid gates' rows of the weights are
    pre-scaled by 1/2 and sigmoid(a) = 0.5*tanh(a/2) + 0.5 (exact scaling);
  * everything in the backward pass that does not depend on the backward
    recurrence (gate derivatives and their products) is computed for all time
    steps at once before the loop;
  * per time step this leaves 1 GEMM plus, forward / backward, 2 / 2 (RNN),
    9 / 6 (LSTM), 11 / 7 (GRU) ufunc calls on preallocated views;
  * weight gradients are one big GEMM over all time steps after the loop
    ((G*H x T*B) @ (T*B x D) and (G*H x T*B) @ (T*B x H)), dx is one GEMM;
  * a workspace that keeps its buffers across calls of the same shape (no
    allocation or page faults in steady state).

Arrays returned by forward()/backward() may be views into the workspace: copy
them if they must survive the next call of the same object.

Run this file to verify against torch.nn.RNN / LSTM / GRU in float64 (outputs,
final states and every gradient, relative error <= 1e-8) and float32 (loose):

  python benchmarks/numpy_rnn_ref.py   # verification against torch, exits 1 on failure
"""
from __future__ import annotations

import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def init_params(cell: str, D: int, H: int, dtype=np.float32, rng=None) -> dict:
    """PyTorch-style init: U(-1/sqrt(H), 1/sqrt(H)) for every parameter."""
    rng = np.random.default_rng(0) if rng is None else rng
    G = GATES[cell]
    k = 1.0 / np.sqrt(H)
    u = lambda *s: rng.uniform(-k, k, size=s).astype(dtype)  # noqa: E731
    return {"W_ih": u(G * H, D), "W_hh": u(G * H, H), "b_ih": u(G * H), "b_hh": u(G * H)}


class _Base:
    cell = ""

    def __init__(self):
        self._shape = None

    def _ensure(self, T, B, D, H, dtype):
        shape = (T, B, D, H, np.dtype(dtype))
        if shape != self._shape:
            self._shape = shape
            self._alloc(T, B, D, H, dtype)

    # sum-of-squares training step -------------------------------------------------
    def train_step(self, x, params, h0=None, c0=None):
        """loss = sum(y**2) over all outputs; returns (loss, grads)."""
        if self.cell == "lstm":
            y, _ = self.forward(x, **params, h0=h0, c0=c0)
        else:
            y, _ = self.forward(x, **params, h0=h0)
        yf = y.reshape(-1)
        loss = float(np.dot(yf, yf))
        np.multiply(y, 2, out=self._dy)
        return loss, self.backward(self._dy)


# =============================================================================== RNN
class RNNRef(_Base):
    cell = "rnn"

    def _alloc(self, T, B, D, H, dtype):
        e = lambda *s: np.empty(s, dtype=dtype)  # noqa: E731
        self.h = e(T + 1, B, H)        # h[0] = h0, h[t+1] = output of step t
        self.dA = e(T, B, H)           # grad wrt pre-activation
        self.dh = e(B, H)
        self.dh_next = e(B, H)
        self._dy = e(T, B, H)
        self.hv = [self.h[t] for t in range(T + 1)]
        self.dAv = [self.dA[t] for t in range(T)]

    def forward(self, x, W_ih, W_hh, b_ih, b_hh, h0=None):
        T, B, D = x.shape
        H = W_hh.shape[1]
        self._ensure(T, B, D, H, x.dtype)
        self.x, self.W_ih, self.W_hh = x, W_ih, W_hh
        WhhT = W_hh.T
        # input projection for all steps straight into the state buffer h[1:]
        h, hv = self.h, self.hv
        np.matmul(x.reshape(T * B, D), W_ih.T, out=h[1:].reshape(T * B, H))
        h[1:] += b_ih + b_hh
        if h0 is None:
            h[0] = 0
        else:
            h[0] = h0
        tmp = self.dh  # scratch, free during forward
        mm, tanh = np.matmul, np.tanh
        for t in range(T):
            ht = hv[t + 1]
            mm(hv[t], WhhT, out=tmp)
            ht += tmp
            tanh(ht, out=ht)
        return h[1:], h[T]

    def backward(self, dy, dhN=None):
        x, W_ih, W_hh, h = self.x, self.W_ih, self.W_hh, self.h
        T, B, D = x.shape
        H = W_hh.shape[1]
        dA, dAv, dh, dh_next = self.dA, self.dAv, self.dh, self.dh_next
        # tanh' for all steps at once (stored in dA, multiplied in place in the loop)
        np.multiply(h[1:], h[1:], out=dA)
        np.subtract(1, dA, out=dA)
        if dhN is None:
            dh_next[...] = 0
        else:
            dh_next[...] = dhN
        add, mul, mm = np.add, np.multiply, np.matmul
        for t in range(T - 1, -1, -1):
            add(dy[t], dh_next, out=dh)
            da = dAv[t]
            mul(da, dh, out=da)
            mm(da, W_hh, out=dh_next)
        dAf = dA.reshape(T * B, H)
        db = dAf.sum(axis=0)
        return {
            "W_ih": dAf.T @ x.reshape(T * B, D),
            "W_hh": dAf.T @ h[:T].reshape(T * B, H),
            "b_ih": db,
            "b_hh": db.copy(),
            "x": (dAf @ W_ih).reshape(T, B, D),
            "h0": dh_next,
        }


# ============================================================================== LSTM
class LSTMRef(_Base):
    cell = "lstm"

    def _alloc(self, T, B, D, H, dtype):
        e = lambda *s: np.empty(s, dtype=dtype)  # noqa: E731
        self.A = e(T, B, 4 * H)        # gate pre-activations, then activations [i f g o]
        self.h = e(T + 1, B, H)
        self.c = e(T + 1, B, H)
        self.tc = e(T, B, H)           # tanh(c_t)
        self.P = e(T, B, 4 * H)        # backward: d(gate preact)/d(dc or dh) factors
        self.oD = e(T, B, H)           # o * (1 - tanh(c)^2)
        self.dA = e(T, B, 4 * H)
        self.tmp4 = e(B, 4 * H)
        self.tmpH = e(B, H)
        self.dh = e(B, H)
        self.dc = e(B, H)
        self.dh_next = e(B, H)
        self.dc_next = e(B, H)
        self._dy = e(T, B, H)
        self.scale4 = np.array([0.5, 0.5, 1.0, 0.5], dtype=dtype).reshape(4, 1)
        self.off4 = np.array([0.5, 0.5, 0.0, 0.5], dtype=dtype).reshape(4, 1)
        self.gscale = np.repeat(self.scale4.ravel(), H).astype(dtype)  # (4H,)
        A = self.A
        self.Av = [A[t] for t in range(T)]
        self.A4v = [A[t].reshape(B, 4, H) for t in range(T)]
        self.iv = [A[t, :, 0:H] for t in range(T)]
        self.fv = [A[t, :, H:2 * H] for t in range(T)]
        self.gv = [A[t, :, 2 * H:3 * H] for t in range(T)]
        self.ov = [A[t, :, 3 * H:] for t in range(T)]
        self.hv = [self.h[t] for t in range(T + 1)]
        self.cv = [self.c[t] for t in range(T + 1)]
        self.tcv = [self.tc[t] for t in range(T)]
        self.P3v = [self.P[t].reshape(B, 4, H)[:, 0:3, :] for t in range(T)]
        self.Pov = [self.P[t, :, 3 * H:] for t in range(T)]
        self.dA3v = [self.dA[t].reshape(B, 4, H)[:, 0:3, :] for t in range(T)]
        self.dAov = [self.dA[t, :, 3 * H:] for t in range(T)]
        self.dAv = [self.dA[t] for t in range(T)]
        self.oDv = [self.oD[t] for t in range(T)]

    def forward(self, x, W_ih, W_hh, b_ih, b_hh, h0=None, c0=None):
        T, B, D = x.shape
        H = W_hh.shape[1]
        self._ensure(T, B, D, H, x.dtype)
        self.x, self.W_ih, self.W_hh = x, W_ih, W_hh
        s = self.gscale[:, None]
        WihT_s = (W_ih * s).T             # sigmoid rows pre-scaled by 1/2 (exact)
        WhhT_s = (W_hh * s).T
        b_s = (b_ih + b_hh) * self.gscale
        A = self.A
        np.matmul(x.reshape(T * B, D), WihT_s, out=A.reshape(T * B, 4 * H))
        A += b_s
        h, c = self.h, self.c
        if h0 is None:
            h[0] = 0
        else:
            h[0] = h0
        if c0 is None:
            c[0] = 0
        else:
            c[0] = c0
        Av, A4v, iv, fv, gv, ov = self.Av, self.A4v, self.iv, self.fv, self.gv, self.ov
        hv, cv, tcv = self.hv, self.cv, self.tcv
        tmp4, tmpH, scale4, off4 = self.tmp4, self.tmpH, self.scale4, self.off4
        mm, tanh, mul, add = np.matmul, np.tanh, np.multiply, np.add
        for t in range(T):
            a = Av[t]
            mm(hv[t], WhhT_s, out=tmp4)
            a += tmp4
            tanh(a, out=a)
            a4 = A4v[t]
            a4 *= scale4                  # sigmoid = 0.5*tanh(a/2) + 0.5 on i, f, o
            a4 += off4
            ct = cv[t + 1]
            mul(fv[t], cv[t], out=ct)
            mul(iv[t], gv[t], out=tmpH)
            add(ct, tmpH, out=ct)
            tct = tcv[t]
            tanh(ct, out=tct)
            mul(ov[t], tct, out=hv[t + 1])
        return h[1:], (h[T], c[T])

    def backward(self, dy, dhN=None, dcN=None):
        x, W_ih, W_hh = self.x, self.W_ih, self.W_hh
        T, B, D = x.shape
        H = W_hh.shape[1]
        A, P, oD, tc, c = self.A, self.P, self.oD, self.tc, self.c
        i, g, o = A[..., 0:H], A[..., 2 * H:3 * H], A[..., 3 * H:]
        # ---- everything independent of the backward recurrence, all steps at once
        np.subtract(1, A, out=P)
        P *= A                                        # s(1-s) (wrong in the g slot, fixed next)
        Pi, Pf, Pg, Po = P[..., 0:H], P[..., H:2 * H], P[..., 2 * H:3 * H], P[..., 3 * H:]
        np.multiply(g, g, out=Pg)
        np.subtract(1, Pg, out=Pg)                    # 1 - g^2
        Pi *= g                                       # da_i = dc * i(1-i) * g
        Pf *= c[:T]                                   # da_f = dc * f(1-f) * c_prev
        Pg *= i                                       # da_g = dc * (1-g^2) * i
        Po *= tc                                      # da_o = dh * o(1-o) * tanh(c)
        np.multiply(tc, tc, out=oD)
        np.subtract(1, oD, out=oD)
        oD *= o                                       # dc += dh * o * (1 - tanh(c)^2)
        # ---- recurrence
        dh, dc, dh_next, dc_next = self.dh, self.dc, self.dh_next, self.dc_next
        if dhN is None:
            dh_next[...] = 0
        else:
            dh_next[...] = dhN
        if dcN is None:
            dc_next[...] = 0
        else:
            dc_next[...] = dcN
        P3v, Pov, dA3v, dAov, dAv, oDv, fv = self.P3v, self.Pov, self.dA3v, self.dAov, self.dAv, self.oDv, self.fv
        dc_b = dc[:, None, :]
        add, mul, mm = np.add, np.multiply, np.matmul
        for t in range(T - 1, -1, -1):
            add(dy[t], dh_next, out=dh)
            mul(dh, oDv[t], out=dc)
            add(dc, dc_next, out=dc)
            mul(P3v[t], dc_b, out=dA3v[t])            # i, f, g in one broadcast call
            mul(Pov[t], dh, out=dAov[t])
            mul(dc, fv[t], out=dc_next)
            mm(dAv[t], W_hh, out=dh_next)
        dAf = self.dA.reshape(T * B, 4 * H)
        db = dAf.sum(axis=0)
        return {
            "W_ih": dAf.T @ x.reshape(T * B, D),
            "W_hh": dAf.T @ self.h[:T].reshape(T * B, H),
            "b_ih": db,
            "b_hh": db.copy(),
            "x": (dAf @ W_ih).reshape(T, B, D),
            "h0": dh_next,
            "c0": dc_next,
        }


# =============================================================================== GRU
class GRURef(_Base):
    cell = "gru"

    def _alloc(self, T, B, D, H, dtype):
        e = lambda *s: np.empty(s, dtype=dtype)  # noqa: E731
        self.A = e(T, B, 3 * H)        # input part, then activations [r z n]
        self.Gh = e(T, B, 3 * H)       # recurrent GEMM output; Gh[..., 2H:] = W_hn h + b_hn
        self.h = e(T + 1, B, H)
        self.P = e(T, B, 3 * H)        # backward factors [Pr Pz Pn]
        self.dGh = e(T, B, 3 * H)      # [da_r, da_z, da_n * r]  (grad wrt W_hh h + b_hh)
        self.dAn = e(T, B, H)          # da_n                   (grad wrt W_in x + b_in)
        self.tmpH = e(B, H)
        self.dh = e(B, H)
        self.dh_next = e(B, H)
        self._dy = e(T, B, H)
        self.gscale = np.repeat(np.array([0.5, 0.5, 1.0], dtype=dtype), H).astype(dtype)
        A, Gh = self.A, self.Gh
        self.rzv = [A[t, :, 0:2 * H] for t in range(T)]
        self.rv = [A[t, :, 0:H] for t in range(T)]
        self.zv = [A[t, :, H:2 * H] for t in range(T)]
        self.nv = [A[t, :, 2 * H:] for t in range(T)]
        self.Ghv = [Gh[t] for t in range(T)]
        self.Ghrzv = [Gh[t, :, 0:2 * H] for t in range(T)]
        self.Ghnv = [Gh[t, :, 2 * H:] for t in range(T)]
        self.hv = [self.h[t] for t in range(T + 1)]
        P, dGh = self.P, self.dGh
        self.Prv = [P[t, :, 0:H] for t in range(T)]
        self.Pzv = [P[t, :, H:2 * H] for t in range(T)]
        self.Pnv = [P[t, :, 2 * H:] for t in range(T)]
        self.dGhv = [dGh[t] for t in range(T)]
        self.dGhrv = [dGh[t, :, 0:H] for t in range(T)]
        self.dGhzv = [dGh[t, :, H:2 * H] for t in range(T)]
        self.dGhnv = [dGh[t, :, 2 * H:] for t in range(T)]
        self.dAnv = [self.dAn[t] for t in range(T)]

    def forward(self, x, W_ih, W_hh, b_ih, b_hh, h0=None):
        T, B, D = x.shape
        H = W_hh.shape[1]
        self._ensure(T, B, D, H, x.dtype)
        self.x, self.W_ih, self.W_hh = x, W_ih, W_hh
        s = self.gscale
        WihT_s = (W_ih * s[:, None]).T    # r, z rows pre-scaled by 1/2 (exact)
        WhhT_s = (W_hh * s[:, None]).T
        b_s = b_ih.copy()
        b_s[: 2 * H] += b_hh[: 2 * H]     # b_hr, b_hz fold into the input part; b_hn cannot
        b_s *= s
        b_hn = b_hh[2 * H:]
        A = self.A
        np.matmul(x.reshape(T * B, D), WihT_s, out=A.reshape(T * B, 3 * H))
        A += b_s
        h = self.h
        if h0 is None:
            h[0] = 0
        else:
            h[0] = h0
        rzv, rv, zv, nv, Ghv, Ghrzv, Ghnv, hv = (self.rzv, self.rv, self.zv, self.nv, self.Ghv, self.Ghrzv,
                                                 self.Ghnv, self.hv)
        tmpH = self.tmpH
        mm, tanh, mul, add, sub = np.matmul, np.tanh, np.multiply, np.add, np.subtract
        for t in range(T):
            gh = Ghv[t]
            mm(hv[t], WhhT_s, out=gh)
            rz = rzv[t]
            add(rz, Ghrzv[t], out=rz)
            tanh(rz, out=rz)
            mul(rz, 0.5, out=rz)
            add(rz, 0.5, out=rz)              # r, z = sigmoid
            ghn = Ghnv[t]
            add(ghn, b_hn, out=ghn)           # W_hn h + b_hn (kept for backward)
            n = nv[t]
            mul(rv[t], ghn, out=tmpH)
            add(n, tmpH, out=n)
            tanh(n, out=n)
            sub(hv[t], n, out=tmpH)
            mul(tmpH, zv[t], out=tmpH)
            add(n, tmpH, out=hv[t + 1])       # h' = n + z*(h - n)
        return h[1:], h[T]

    def backward(self, dy, dhN=None):
        x, W_ih, W_hh, A, P, h = self.x, self.W_ih, self.W_hh, self.A, self.P, self.h
        T, B, D = x.shape
        H = W_hh.shape[1]
        z, n = A[..., H:2 * H], A[..., 2 * H:]
        Pr, Pz, Pn = P[..., 0:H], P[..., H:2 * H], P[..., 2 * H:]
        # ---- all steps at once
        np.subtract(1, A[..., :2 * H], out=P[..., :2 * H])
        P[..., :2 * H] *= A[..., :2 * H]                  # r(1-r), z(1-z)
        Pr *= self.Gh[..., 2 * H:]                        # da_r = da_n * r(1-r) * (W_hn h + b_hn)
        np.subtract(h[:T], n, out=Pn)                     # Pn as scratch: h_prev - n
        Pz *= Pn                                          # da_z = dh * z(1-z) * (h_prev - n)
        np.multiply(n, n, out=Pn)
        np.subtract(1, Pn, out=Pn)
        np.subtract(1, z, out=self.dAn)                   # dAn as scratch: (1 - z)
        Pn *= self.dAn                                    # da_n = dh * (1-z) * (1-n^2)
        # ---- recurrence
        dh, dh_next, tmpH = self.dh, self.dh_next, self.tmpH
        if dhN is None:
            dh_next[...] = 0
        else:
            dh_next[...] = dhN
        Prv, Pzv, Pnv, dGhv, dGhrv, dGhzv, dGhnv, dAnv, rv, zv = (self.Prv, self.Pzv, self.Pnv, self.dGhv, self.dGhrv,
                                                                 self.dGhzv, self.dGhnv, self.dAnv, self.rv, self.zv)
        add, mul, mm = np.add, np.multiply, np.matmul
        for t in range(T - 1, -1, -1):
            add(dy[t], dh_next, out=dh)
            mul(dh, Pzv[t], out=dGhzv[t])
            dan = dAnv[t]
            mul(dh, Pnv[t], out=dan)
            mul(dan, Prv[t], out=dGhrv[t])
            mul(dan, rv[t], out=dGhnv[t])
            mm(dGhv[t], W_hh, out=dh_next)
            mul(dh, zv[t], out=tmpH)
            add(dh_next, tmpH, out=dh_next)
        dGhf = self.dGh.reshape(T * B, 3 * H)
        dAi = self.dGh.copy()                             # grad wrt W_ih x + b_ih: [da_r, da_z, da_n]
        dAi[..., 2 * H:] = self.dAn
        dAif = dAi.reshape(T * B, 3 * H)
        return {
            "W_ih": dAif.T @ x.reshape(T * B, D),
            "W_hh": dGhf.T @ h[:T].reshape(T * B, H),
            "b_ih": dAif.sum(axis=0),
            "b_hh": dGhf.sum(axis=0),
            "x": (dAif @ W_ih).reshape(T, B, D),
            "h0": dh_next,
        }


REFS = {"rnn": RNNRef, "lstm": LSTMRef, "gru": GRURef}


# ====================================================================== verification
def _torch_reference(cell, x, params, h0, c0):
    import torch

    T, B, D = x.shape
    H = params["W_hh"].shape[1]
    dt = torch.float64 if x.dtype == np.float64 else torch.float32
    mod = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](D, H).to(dt)
    with torch.no_grad():
        for k in ("W_ih", "W_hh", "b_ih", "b_hh"):
            getattr(mod, k.replace("W_", "weight_").replace("b_", "bias_") + "_l0").copy_(torch.from_numpy(params[k]))
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    h0t = torch.from_numpy(h0.copy())[None].requires_grad_(True)
    if cell == "lstm":
        c0t = torch.from_numpy(c0.copy())[None].requires_grad_(True)
        y, (hN, cN) = mod(xt, (h0t, c0t))
    else:
        y, hN = mod(xt, h0t)
    loss = (y ** 2).sum()
    loss.backward()
    out = {
        "y": y.detach().numpy(), "hN": hN.detach().numpy()[0], "loss": loss.item(),
        "x": xt.grad.numpy(), "h0": h0t.grad.numpy()[0],
        "W_ih": mod.weight_ih_l0.grad.numpy(), "W_hh": mod.weight_hh_l0.grad.numpy(),
        "b_ih": mod.bias_ih_l0.grad.numpy(), "b_hh": mod.bias_hh_l0.grad.numpy(),
    }
    if cell == "lstm":
        out["cN"] = cN.detach().numpy()[0]
        out["c0"] = c0t.grad.numpy()[0]
    return out


def _relerr(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def verify(cell, T, B, D, H, dtype=np.float64, seed=0, zero_state=False):
    rng = np.random.default_rng(seed)
    params = init_params(cell, D, H, dtype, rng)
    x = rng.standard_normal((T, B, D)).astype(dtype)
    h0 = np.zeros((B, H), dtype) if zero_state else (0.5 * rng.standard_normal((B, H))).astype(dtype)
    c0 = np.zeros((B, H), dtype) if zero_state else (0.5 * rng.standard_normal((B, H))).astype(dtype)
    ref = REFS[cell]()
    kw = {"h0": h0, "c0": c0} if cell == "lstm" else {"h0": h0}
    # run twice on the same object: the second call exercises workspace reuse
    for _ in range(2):
        y, states = ref.forward(x, **params, **kw)
        y = y.copy()
        states = tuple(s.copy() for s in states) if cell == "lstm" else states.copy()
        loss = float(np.sum(y.astype(np.float64) ** 2))
        grads = {k: v.copy() for k, v in ref.backward(2 * y).items()}
    # train_step must agree with the explicit path
    loss2, grads2 = ref.train_step(x, params, **kw)
    tref = _torch_reference(cell, x, params, h0, c0)
    errs = {"y": _relerr(y, tref["y"]), "loss": abs(loss - tref["loss"]) / abs(tref["loss"])}
    if cell == "lstm":
        errs["hN"] = _relerr(states[0], tref["hN"])
        errs["cN"] = _relerr(states[1], tref["cN"])
    else:
        errs["hN"] = _relerr(states, tref["hN"])
    for k in grads:
        errs["d" + k] = _relerr(grads[k], tref[k])
        errs["d" + k + "(step)"] = _relerr(grads2[k], tref[k])
    errs["loss(step)"] = abs(loss2 - tref["loss"]) / abs(tref["loss"])
    return errs


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="Verify the NumPy references against torch.nn")
    ap.add_argument("--tol64", type=float, default=1e-8)
    ap.add_argument("--tol32", type=float, default=1e-4)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    cases = [(1, 1, 1, 1), (5, 3, 4, 7), (20, 1, 8, 32), (50, 4, 3, 16), (30, 8, 16, 64), (7, 16, 40, 24)]
    ok = True
    print(f"{'cell':5} {'dtype':8} {'T,B,D,H':16} {'worst rel err':>14}  worst quantity")
    for dtype, tol in ((np.float64, args.tol64), (np.float32, args.tol32)):
        for cell in ("rnn", "lstm", "gru"):
            for i, (T, B, D, H) in enumerate(cases):
                errs = verify(cell, T, B, D, H, dtype=dtype, seed=i, zero_state=(i == 2))
                k = max(errs, key=errs.get)
                good = errs[k] <= tol
                ok &= good
                print(f"{cell:5} {np.dtype(dtype).name:8} {str((T, B, D, H)):16} {errs[k]:14.3e}  {k}"
                      f"{'' if good else '   <-- FAIL (tol %.0e)' % tol}")
    print("ALL PASS" if ok else "FAILURES")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
