"""One-off studies: precision vs accuracy, compressed students, the Quickstart's own run."""
