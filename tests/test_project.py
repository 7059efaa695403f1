"""Project rules: the README's test command is what CI runs, its front matter is a valid Space card, its Deploy
section says what works; one list of runtime pins; the library stays free of the UI."""

import json
import re
import subprocess
import sys
import tomllib

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
    # the model code is ours, and neither package knows the UI. The one exception is resnet/anatomy/compare.py,
    # whose subject is other people's networks (AlexNet, VGG, ViT...): it imports them inside its functions,
    # so the classify path never loads them (checked below).
    for path in sorted((ROOT / "resnet").rglob("*.py")) + sorted((ROOT / "train").rglob("*.py")):
        source = path.read_text()
        if path.name != "compare.py":
            assert not re.search(r"^\s*(from|import)\s+torchvision\.models|torchvision\.models\.", source, re.M), path
        else:
            assert not re.search(r"^(from|import)\s+torchvision", source, re.M), "compare.py imports torchvision at module level"
        assert not re.search(r"^\s*(from|import)\s+(gradio|app|ui)\b", source, re.M), path
    code = "import sys, resnet, train; print(sorted(m for m in sys.modules if m.split('.')[0] in ('gradio', 'app', 'ui')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    code = "import sys, resnet.anatomy.compare, resnet.predict; print(sorted(m for m in sys.modules if m.startswith('torchvision.models.vgg')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", "importing resnet.anatomy.compare loaded torchvision's model zoo"


def runtime_pins() -> dict[str, str]:
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_one_list_of_runtime_pins():
    # pyproject reads requirements.txt: Spaces and the README's "Set up" command install that file before the package exists
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "dependencies" not in project["project"] and "dependencies" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    assert project["project"]["scripts"] == {"resnet-studio": "ui.app:main"}
    pins = runtime_pins()
    assert pins["gradio[mcp]"] == "6.31.0" and "onnx" in pins  # MCP tools and the ONNX export work from the plain install
    dev = [line.split("==")[0] for line in (ROOT / "requirements-dev.txt").read_text().splitlines()[1:] if "==" in line]
    assert not set(dev) & set(pins), "a runtime pin repeated in requirements-dev.txt"


def test_readme_front_matter_is_a_valid_space_card():
    from huggingface_hub import SpaceCard
    from huggingface_hub._space_api import SpaceHardware

    card = SpaceCard.load(ROOT / "README.md")
    assert card.data.sdk == "gradio" and card.data.sdk_version == runtime_pins()["gradio[mcp]"]
    assert (ROOT / card.data.app_file).is_file()
    assert card.data.suggested_hardware in {h.value for h in SpaceHardware}
    assert card.data.suggested_hardware.startswith("zero-")  # a duplicate lands on the free ZeroGPU hardware


def test_readme_deploy_section():
    readme = (ROOT / "README.md").read_text()
    deploy = readme.split("## Deploy\n", 1)[1].split("\n## ", 1)[0]
    assert "pip install . && resnet-studio" in fenced_commands(deploy)
    for words in ("A CPU Space", "A ZeroGPU Space", "quota", "suggested_hardware: zero-a10g", "MCP"):
        assert words in deploy, words
    config = json.loads(re.search(r"```json\n(.*?)```", deploy, re.S).group(1))
    assert config["mcpServers"]["resnet-studio"]["url"].endswith("/gradio_api/mcp/")
