"""What hierarchical sampling needs besides the priors: finding and loading a model's files, int8
weights for CPU sampling (``jukebox.pipeline`` is the facade that samples)."""
