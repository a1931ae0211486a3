"""Multi-head self-attention."""

import math

import torch

from .activations import softmax


class Attention(torch.nn.Module):
    """Multi-head scaled dot-product self-attention with input and output projections.

    forward(x) takes x of shape (batch, seq, dim) and returns the same shape. With
    causal=True, position i attends only to positions <= i.
    """

    def __init__(self, dim, heads, causal=False):
        super().__init__()
        if dim % heads:
            raise ValueError("dim must be divisible by heads")
        self.dim = dim
        self.heads = heads
        self.causal = causal
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)

    def forward(self, x):
        batch, seq, dim = x.shape
        hd = dim // self.heads
        scale = 1.0 / math.sqrt(hd)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        out = torch.empty_like(q)
        for b in range(batch):
            for h in range(self.heads):
                cols = slice(h * hd, (h + 1) * hd)
                qh, kh, vh = q[b, :, cols], k[b, :, cols], v[b, :, cols]
                for i in range(seq):
                    scores = (kh @ qh[i]) * scale
                    if self.causal:
                        scores[i + 1:] = float("-inf")
                    weights = softmax(scores.unsqueeze(0))[0]
                    out[b, i, cols] = weights @ vh
        return self.proj(out)
