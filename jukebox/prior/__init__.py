"""Priors over codes: the top-level prior and the upsamplers (config, conditioning, the windows they
read, the model, checkpoints, training data, training, lyric alignment)."""
