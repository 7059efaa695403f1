"""The app's own helpers: pictures for people, kept out of the callbacks (``resnet/`` and ``train/`` never import this)."""
