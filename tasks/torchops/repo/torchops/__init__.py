"""torchops: reference implementations of a few transformer building blocks in PyTorch."""

from .activations import softmax
from .attention import Attention
from .norm import layer_norm, rms_norm

__all__ = ["softmax", "Attention", "layer_norm", "rms_norm"]
__version__ = "0.1.0"
