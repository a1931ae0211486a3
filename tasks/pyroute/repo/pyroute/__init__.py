"""pyroute: small routing, text-indexing and statistics helpers (pure Python)."""

from .graph import Graph
from .text import Index, tokenize
from .stats import histogram, moving_median

__all__ = ["Graph", "Index", "tokenize", "histogram", "moving_median"]
__version__ = "0.3.1"
