"""What every model checks in what it is given: sizes (:func:`check_size`), token ids
(:func:`check_tokens`, raising :class:`TokenError`), float sequences
(:func:`float_sequence`) and sequence lengths (:func:`lengths_mask`)."""

from __future__ import annotations

import numpy as np

__all__ = ["TokenError", "check_tokens", "check_size", "lengths_mask", "float_sequence"]


class TokenError(IndexError, ValueError):
    """Token ids that are not integers or lie outside ``0 .. vocab - 1``.  An ``IndexError``
    (what ``torch.nn.Embedding`` raises) and a ``ValueError`` (like every other bad input)."""


def check_tokens(ids, vocab: int, what: str) -> np.ndarray:
    """``ids`` as an ``int64`` array after checking, with one min and one max, that they are
    integers in ``0 .. vocab - 1``; raises :class:`TokenError` naming ``what``, the first
    offending id and its position, and the vocabulary size."""
    a = ids if hasattr(ids, "dtype") and hasattr(ids, "shape") else np.asarray(ids)
    if a.dtype.kind not in "iu":
        nan = " (NaN among them)" if a.dtype.kind in "fc" and bool(np.isnan(a).any()) else ""
        raise TokenError(f"{what}: token ids must be integers, got {a.dtype} values{nan}; "
                         f"ids are 0..{vocab - 1} (vocab size {vocab})")
    if a.size and (int(a.min()) < 0 or int(a.max()) >= vocab):
        host = np.asarray(a.get() if hasattr(a, "get") else a)
        bad = (host < 0) | (host >= vocab)
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at position {pos if len(pos) != 1 else pos[0]}" if pos else ""
        raise TokenError(f"{what}: token id {int(host[pos])}{where} is outside the vocabulary "
                         f"0..{vocab - 1} (vocab size {vocab})")
    return a.astype(np.int64, copy=False)


def check_size(owner: str, **sizes) -> None:
    """Refuse sizes that are not ints >= 1, naming ``owner`` and the argument."""
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{owner}: {name} must be an int >= 1, got {v!r}")


def lengths_mask(lengths, steps: int, batch: int, owner: str) -> np.ndarray:
    """The bool ``(steps, batch)`` mask of real steps for one length per sequence; refuses
    lengths that are not ``batch`` ints in ``1 .. steps``, naming ``owner``."""
    a = np.asarray(lengths)
    if (a.shape != (batch,) or a.dtype.kind not in "iu" or not a.size
            or a.min() < 1 or a.max() > steps):
        raise ValueError(f"{owner}: lengths must be {batch} ints in 1..{steps}, got "
                         f"{a.tolist()}")
    return np.arange(steps)[:, None] < a[None, :]


def float_sequence(x, size: int, dtype, owner: str, batch_first: bool = False,
                   cast: bool = False) -> np.ndarray:
    """``x`` as a time-major ``(T, B, size)`` array of ``dtype``: 3-D (``(B, T, size)`` when
    ``batch_first``, transposed here), of the model's dtype (converted when ``cast``, else
    a ``TypeError`` names both); the feature size is checked when the program binds it."""
    x = np.asarray(x, dtype=dtype) if cast else np.asarray(x)
    if x.dtype != dtype:
        raise TypeError(f"{owner}: input is {x.dtype}, the model is {np.dtype(dtype)} (cast it, "
                        f"or build the model with dtype={x.dtype})")
    if x.ndim != 3:
        raise ValueError(f"{owner}: input must be 3-D ({'B, T' if batch_first else 'T, B'}, "
                         f"{size}), got shape {x.shape}")
    return x.transpose(1, 0, 2) if batch_first else x
