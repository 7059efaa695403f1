"""The Architecture tab (``tab``): the per-layer table, all depths side by side, gradient flow at initialisation."""
