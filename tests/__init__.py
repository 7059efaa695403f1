"""ResNet Studio tests; the helper modules here (hubcache, server, corpus, textures) are shared with benchmarks/."""
