"""KernelBench's second baseline: the reference model under torch.compile (inductor, default mode)."""

import torch
import torch.nn as nn

from reference import Model


class ModelNew(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self.compiled = torch.compile(Model(*args))

    def forward(self, *inputs):
        return self.compiled(*inputs)
