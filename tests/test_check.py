"""check_resnet: the tutorial's two mistakes, built from their description, and a correct ResNet-50.

The mistakes (students write them exactly so): a bottleneck with no ReLU after its first two
convolutions, checked as ONNX; and a ResNet-50 at the basic block's widths (16-channel 1x1 layers in
the first stage, a 512-input classifier instead of 2048), checked as a safetensors state_dict and
through ``python -m resnet check model.py:factory``.
"""

from __future__ import annotations

import importlib.util
import io
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import resnet
from resnet.__main__ import main
from resnet.check import MAX_MODEL_BYTES, check_resnet

# What a student writes: the model file the command line imports, and the tests build their models from.
STUDENT_MODEL = '''
import torch
from torch import nn
from resnet.model import Bottleneck, ResNet


class NoInnerReluBottleneck(Bottleneck):
    """The tutorial's bottleneck: conv-bn, conv-bn, conv-bn, add, ReLU: no ReLU inside."""

    def forward(self, x):
        out = self.bn2(self.conv2(self.bn1(self.conv1(x))))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


class BasicWidthBottleneck(nn.Module):
    """The tutorial's ResNet-50 block: 1x1 down to a quarter of the basic block's width, 3x3, 1x1 back (no 4x expansion)."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, *, residual=True):
        super().__init__()
        mid = planes // 4
        self.conv1 = nn.Conv2d(inplanes, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


def no_inner_relu():
    return ResNet(NoInnerReluBottleneck, [3, 4, 6, 3])


def basic_widths():
    return ResNet(BasicWidthBottleneck, [3, 4, 6, 3])
'''


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """The student's model.py, written to a folder and imported."""
    path = tmp_path_factory.mktemp("student") / "model.py"
    path.write_text(STUDENT_MODEL, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("student_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.path = path
    return module


def _onnx(model: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, 3, 64, 64),), str(path), dynamo=False, opset_version=17)
    return path


def _safetensors(model: torch.nn.Module, path: Path) -> Path:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def test_bottleneck_without_inner_relus_is_found_in_onnx(student, tmp_path):
    report = check_resnet(_onnx(student.no_inner_relu(), tmp_path / "tutorial.onnx"), "resnet50")
    assert report.source == "onnx" and report.first_difference is None  # the shapes are right...
    expected = {f"layer{s}.{b}.conv{c}" for s, n in zip((1, 2, 3, 4), (3, 4, 6, 3)) for b in range(n) for c in (1, 2)}
    assert set(report.missing_relus) == expected  # ...but all 32 inner ReLUs are missing, and nothing else
    assert not report.matches and "layer1.0.conv1" in str(report)


def test_correct_resnet50_matches_as_onnx_and_safetensors(tmp_path):
    model = resnet.build("resnet50")
    onnx_report = check_resnet(_onnx(model, tmp_path / "ok.onnx"), "resnet50")
    assert onnx_report.matches and onnx_report.missing_relus == ()
    # BatchNorm folds into the convolutions on export: the ONNX total is the convolution and linear weights.
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    assert onnx_report.theirs_total == onnx_report.reference_total == weights
    state_report = check_resnet(_safetensors(model, tmp_path / "ok.safetensors"), "resnet50")
    assert state_report.matches and state_report.layers == state_report.reference_layers == 54
    assert state_report.theirs_total == state_report.reference_total == sum(p.numel() for p in model.parameters()) == 25_557_032


def test_basic_widths_resnet50_as_safetensors(student, tmp_path):
    model = student.basic_widths()
    report = check_resnet(_safetensors(model, tmp_path / "tutorial.safetensors"), "resnet50")
    d = report.first_difference
    assert d.index == 1 and d.theirs.name == d.reference.name == "layer1.0.conv1"  # the stem matches; the first 1x1 does not
    assert d.theirs.shape == (16, 64, 1, 1) and d.reference.shape == (64, 64, 1, 1)
    assert report.theirs_total == sum(p.numel() for p in model.parameters()) < report.reference_total == 25_557_032
    assert report.missing_relus is None  # a state_dict has no graph to look at


def test_a_resnet34_checked_as_resnet50_departs_at_its_first_block(tmp_path):
    report = check_resnet(_safetensors(resnet.build("resnet34"), tmp_path / "r34.safetensors"), "resnet50")
    assert report.first_difference.theirs.shape == (64, 64, 3, 3) and report.first_difference.reference.shape == (64, 64, 1, 1)


def test_command_line_imports_the_students_file(student, capsys):
    assert main(["check", f"{student.path}:basic_widths", "--arch", "resnet50"]) == 1
    out = capsys.readouterr().out
    assert "layer1.0.conv1 16x64x1x1" in out and "64x64x1x1" in out
    assert main(["check", f"{student.path}:no_inner_relu", "--arch", "resnet50"]) == 1
    assert "No ReLU after 32 convolution(s)" in capsys.readouterr().out
    assert main(["check", f"{student.path}:nothing", "--arch", "resnet50"]) == 2
    assert "has no function nothing" in capsys.readouterr().err


def test_refuses_pickles_and_oversized_files(tmp_path):
    pickle = tmp_path / "model.pth"
    torch.save({"x": torch.zeros(1)}, pickle)
    with pytest.raises(ValueError, match="never opened"):
        check_resnet(pickle, "resnet50")
    big = tmp_path / "big.onnx"
    with open(big, "wb") as f:
        f.truncate(MAX_MODEL_BYTES + 1)
    with pytest.raises(ValueError, match="over the 128 MB limit"):
        check_resnet(big, "resnet50")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable .safetensors"):
        check_resnet(junk, "resnet50")
