"""The symbolic model's default sampling settings, in one place for the Python facade
(``muse.generate.MuseGenerator``), the commands (``muse generate``, ``continue``, ``infill``,
``accompany``, ``composers adherence``) and the demo's controls.

Temperature 1 with nucleus sampling at 0.95 (top-k and min-p off): the model's own distribution
minus its least likely 5% of mass, which is where wrong-key notes and stray instruments live; a lower
temperature shortens notes and thins the texture (docs/MODEL_CARD.md). No torch here, so that the
commands' ``--help`` stays instant.
"""

from __future__ import annotations

TEMPERATURE = 1.0
TOP_K = 0  # off
TOP_P = 0.95
MIN_P = 0.0  # off

__all__ = ["TEMPERATURE", "TOP_K", "TOP_P", "MIN_P"]
