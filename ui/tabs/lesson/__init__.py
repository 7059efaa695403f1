"""The Start here tab: the lesson (``tab``) and the recorded lab run it shows (``lesson_lab_run.json``)."""
