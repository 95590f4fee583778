"""What every model checks in what it is given: sizes (:func:`check_size`) and token ids
(:func:`check_tokens`, raising :class:`TokenError`)."""

from __future__ import annotations

import numpy as np

__all__ = ["TokenError", "check_tokens", "check_size"]


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
