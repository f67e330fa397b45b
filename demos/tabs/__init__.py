"""One module per tab of the web demo; each exposes ``build(...)`` called inside the app's ``gr.Blocks``."""
