"""ResNet Studio: see how ResNet is built, classify photos, fine-tune on your own images.

    python app.py                         # http://127.0.0.1:7860
    python app.py --model ./my-model      # default checkpoint: a Hub repo id or a local folder
    python app.py --mcp                   # also serve the stateless actions as MCP tools for agents
    python app.py --help

This file is the entry point Hugging Face Spaces run; the page and the server live in ``ui/app.py``
(installed, the ``resnet-studio`` command runs the same ``main``). Importing it builds the page
without serving it.
"""

from ui.app import CHECKPOINTS, DEFAULT_MODEL, ModelPolicy, build_demo, main, parse_args

__all__ = ["CHECKPOINTS", "DEFAULT_MODEL", "ModelPolicy", "build_demo", "demo", "main", "parse_args"]

demo = build_demo()

if __name__ == "__main__":
    main()
