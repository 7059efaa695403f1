"""Looking at a network rather than using it: the per-layer table (``summary``), the one forward-with-hooks helper
(``hooks``), stage outputs and layer responses (``inspect``) and their pictures (``views``), the Architecture tab's
measurements (``measure``), basic block against bottleneck (``block_cost``), and ResNet against other networks
(``compare``, drawn by ``compare_svg``)."""
