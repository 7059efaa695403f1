"""The Classify tab: one photo (``tab``), and many photos or a zip of them at once (``many_photos``)."""
