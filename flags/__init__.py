"""absl flag definitions and recipe presets of the training script."""
