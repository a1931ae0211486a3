"""Normalization layers over the last dimension."""

import torch


def layer_norm(x, weight, bias, eps=1e-5):
    """Layer normalization over the last dimension (biased variance), then scale and shift."""
    d = x.shape[-1]
    if weight.shape != (d,) or bias.shape != (d,):
        raise ValueError("weight and bias must have shape (%d,)" % d)
    rows = x.reshape(-1, d)
    out = torch.empty_like(rows)
    for i in range(rows.shape[0]):
        row = rows[i]
        mean = row.mean()
        var = ((row - mean) ** 2).mean()
        out[i] = (row - mean) / torch.sqrt(var + eps) * weight + bias
    return out.reshape(x.shape)


def rms_norm(x, weight, eps=1e-6):
    """Root-mean-square normalization over the last dimension, then scale."""
    d = x.shape[-1]
    if weight.shape != (d,):
        raise ValueError("weight must have shape (%d,)" % d)
    rows = x.reshape(-1, d)
    out = torch.empty_like(rows)
    for i in range(rows.shape[0]):
        row = rows[i]
        out[i] = row / torch.sqrt((row * row).mean() + eps) * weight
    return out.reshape(x.shape)
