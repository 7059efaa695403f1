"""Project rules: the README's test command is what CI runs; the library stays free of the UI."""

import re
import subprocess
import sys

from tests.conftest import ROOT


def fenced_commands(text: str) -> list[str]:
    return [line.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines() if line.strip()]


def test_ci_runs_exactly_the_readme_test_command():
    readme = fenced_commands((ROOT / "README.md").read_text())
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    test_command = next(c for c in readme if c.endswith("-m pytest"))
    assert test_command in ci_lines
    assert any(c.endswith("app.py") and "pip install -r requirements.txt" in c for c in readme)


def test_library_imports_neither_gradio_nor_torchvision_models():
    # `import torchvision` itself loads torchvision.models, so this rule is checked in the source:
    # the model code is ours, and neither package knows the UI.
    for path in sorted((ROOT / "resnet").glob("*.py")) + sorted((ROOT / "train").glob("*.py")):
        source = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+torchvision\.models|torchvision\.models\.", source, re.M), path
        assert not re.search(r"^\s*(from|import)\s+(gradio|app|ui)\b", source, re.M), path
    code = "import sys, resnet, train; print(sorted(m for m in sys.modules if m.split('.')[0] in ('gradio', 'app', 'ui')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
