"""The symbolic model's default sampling settings, in one place for the Python facade
(``muse.generate.MuseGenerator``), the commands (``muse generate``, ``continue``, ``infill``,
``accompany``, ``composers adherence``) and the demo's controls.

Temperature 1 with nucleus sampling at 0.98 (top-k and min-p off): the model's own distribution
minus its least likely 2% of mass, where stray notes and instruments live. A smaller nucleus (0.95) turns
the copy head's confident repeats into loops and narrows the pitch and velocity spread below the data's; no
nucleus (1) lets the keys wander; a lower temperature shortens notes and thins the texture (the figures for
each are in docs/MODEL_CARD.md). No torch here, so that the commands' ``--help`` stays instant.
"""

from __future__ import annotations

TEMPERATURE = 1.0
TOP_K = 0  # off
TOP_P = 0.98
MIN_P = 0.0  # off

__all__ = ["TEMPERATURE", "TOP_K", "TOP_P", "MIN_P"]
