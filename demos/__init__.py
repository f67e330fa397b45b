"""The musebox web demo (Gradio): compose, continue and explore composer styles, with feedback collection.

``demos.app.build_app`` assembles the page from one module per tab (``demos/tabs``); it calls only
the facades (``muse.generate.MuseGenerator``, ``muse.composers``) and the feedback store.
"""
