"""The page's tabs, one folder each: ``tab.py`` declares the tab and wires its events, beside the helpers only that
tab uses. In page order: ``lesson`` (Start here), ``architecture``, ``classify``, ``finetune``, ``lab``, ``inside``."""
