"""The VQ-VAE: audio <-> codes at three hop lengths (config, encoder/decoder, bottleneck, losses,
checkpoints, the ``Codec`` users call, training)."""
