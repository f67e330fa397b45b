"""Errors raised at the boundary with user input. Each message names the file or value at fault."""

from __future__ import annotations

from musetok.errors import TokenizerError


class UserError(Exception):
    """Base class for errors caused by user input (files, arguments, configs, uploads)."""


class ConfigError(UserError, ValueError):
    """A config file or config value is invalid (unknown/missing key, wrong type)."""


class CheckpointError(UserError):
    """A checkpoint file cannot be read or does not match the model."""


class AudioError(UserError):
    """An audio file cannot be read or written."""


# TokenizerError lives in musetok (which never imports muse or torch); the CLIs treat both
# families as user errors and print their one-line message instead of a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (UserError, TokenizerError)

__all__ = ["UserError", "ConfigError", "CheckpointError", "AudioError", "TokenizerError", "USER_ERRORS"]
