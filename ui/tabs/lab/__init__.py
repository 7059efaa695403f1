"""The residual learning lab tab (``tab``): the degradation experiment, run from the page."""
