"""The speed benchmark (a leaf): convzoo against PyTorch NCHW and channels_last, side by side.

``python -m benchmarks`` or ``convzoo bench``; see ``runner`` for the method and README "Speed".
"""
from .runner import all_cases, cli, main, run

__all__ = ["all_cases", "cli", "main", "run"]
