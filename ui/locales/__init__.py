"""The app's words, one module per language: ``en`` (the fallback) and ``zh_cn`` (简体中文).

Keys are dotted (``tab.classify``); ``{name}`` placeholders are filled when the text is
shown. ``{max_images}``-style constants of the app are filled once, at start-up.
"""
