"""A PyTorch Lightning research codebase: `python -m src fit --config configs/<experiment>.yaml`."""
