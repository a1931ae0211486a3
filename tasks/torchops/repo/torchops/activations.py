"""Activation functions."""

import torch


def softmax(x, dim=-1):
    """Numerically stable softmax of `x` along `dim`."""
    moved = x.movedim(dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    out = torch.empty_like(rows)
    for i in range(rows.shape[0]):
        row = rows[i]
        e = torch.exp(row - row.max())
        out[i] = e / e.sum()
    return out.reshape(moved.shape).movedim(-1, dim)
