"""``jukebox`` sub-commands: argument parsing only; the work is done by library facades."""
