"""Jukebox-style raw-audio generation: VQ-VAE codec, priors and upsamplers, sampling pipeline."""

__version__ = "0.1.0"
