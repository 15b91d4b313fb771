"""Speed benchmarks of convzoo against PyTorch; run ``python -m benchmarks --help``."""
