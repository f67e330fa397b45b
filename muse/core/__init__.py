"""The transformer core shared by the symbolic (muse) and raw-audio (jukebox) halves."""
