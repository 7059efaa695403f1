import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
from torch import nn

import resnet
from resnet.anatomy.hooks import hooked
from resnet.anatomy.inspect import layer_responses, stage_outputs
from resnet.anatomy.measure import forward_latency
from resnet.anatomy.summary import FRAME_COLUMNS, summarize
from resnet.model import ResNet, resnet18, resnet34, resnet50
from train.evaluate import evaluate

# torchvision's published GFLOPS for these weights (they count multiply-accumulates).
PUBLISHED_GMACS = {"resnet18": 1.814, "resnet34": 3.664, "resnet50": 4.089, "resnet101": 7.801, "resnet152": 11.514}


@pytest.mark.parametrize("arch", list(PUBLISHED_GMACS))
def test_total_macs_match_torchvision_published_figures(arch):
    s = summarize(resnet.build(arch))
    assert s.total_macs / 1e9 == pytest.approx(PUBLISHED_GMACS[arch], rel=0.005)
    assert s.total_params == sum(p.numel() for p in resnet.build(arch).parameters())


def hand_counted_macs(model: nn.Module, input_size=(1, 3, 224, 224)) -> dict[str, int]:
    """Multiply-accumulates of every conv and linear layer, from output shapes seen by hooks placed here."""
    macs: dict[str, int] = {}

    def hook(module, inputs, output, name):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            macs[name] = output.numel() * k * module.in_channels // module.groups
        else:
            macs[name] = output.numel() * module.in_features

    handles = [
        m.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name))
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(input_size))
    for h in handles:
        h.remove()
    return macs


@pytest.mark.parametrize("depth", [None, 1, 2])
def test_each_row_counts_the_parameters_and_macs_of_its_own_modules(depth):
    model = resnet50()
    macs = hand_counted_macs(model)
    s = summarize(model, depth=depth)
    stem = [r for r in s.rows if "." not in r.name and not r.name.startswith("layer")]
    for r in s.rows:
        assert r.params == sum(p.numel() for p in model.get_submodule(r.name).parameters()), r.name
        assert r.macs == sum(n for name, n in macs.items() if name == r.name or name.startswith(r.name + ".")), r.name
    # Grouped or not, the rows cover the whole network exactly once.
    assert sum(r.params for r in s.rows) == sum(p.numel() for p in model.parameters())
    assert sum(r.macs for r in s.rows) == sum(macs.values()) == s.total_macs
    assert [r.name for r in stem][:2] == ["conv1", "bn1"]
    assert s.param_bytes == 4 * s.total_params


def test_rows_follow_forward_order_and_match_what_hooks_see():
    model = resnet18()
    seen = []
    handles = [
        m.register_forward_hook(lambda m, i, o, name=name: seen.append((name, tuple(o.shape))))
        for name, m in model.named_modules()
        if name and next(m.children(), None) is None
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 224, 224))
    for h in handles:
        h.remove()
    s = summarize(model)
    assert [(r.name, r.output_shape) for r in s.rows] == seen
    assert s.rows[0].name == "conv1" and s.rows[0].kernel_size == 7 and s.rows[0].stride == 2
    assert s.rows[-1].name == "fc" and s.rows[-1].input_shape == (1, 512)


def test_grouped_rows_at_block_and_stage_depth():
    stages = [r.name for r in summarize(resnet34(), depth=1).rows]
    assert stages == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    blocks = summarize(resnet34(), depth=2).rows
    assert [r.name for r in blocks if r.name.startswith("layer3")] == [f"layer3.{i}" for i in range(6)]
    layer2_0 = next(r for r in blocks if r.name == "layer2.0")
    assert layer2_0.kind == "BasicBlock" and layer2_0.input_shape == (1, 64, 56, 56) and layer2_0.output_shape == (1, 128, 28, 28)
    assert layer2_0.params == sum(p.numel() for p in resnet34().layer2[0].parameters())


def main_path_receptive_field(model: ResNet) -> tuple[int, int]:
    """Walk the stem and every block's main-path convolutions in order: r += (k-1)*d*j, j *= s."""
    layers = [model.conv1, model.maxpool]
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            layers += [m for name, m in block.named_children() if name.startswith("conv")]
    r, j = 1, 1
    for m in layers:
        k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
        s = m.stride if isinstance(m.stride, int) else m.stride[0]
        d = m.dilation if isinstance(m.dilation, int) else m.dilation[0]
        r, j = r + (k - 1) * d * j, j * s
    return r, j


@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "resnet152"])
def test_receptive_field_of_the_last_layer4_convolution(arch):
    model = resnet.build(arch)
    s = summarize(model)
    last_conv = [r for r in s.rows if r.name.startswith("layer4") and r.kind == "Conv2d" and "downsample" not in r.name][-1]
    assert (last_conv.rf_size, last_conv.rf_stride) == main_path_receptive_field(model)
    # The residual sum and the ReLU after it see as far as the main path does.
    assert s.rows[-3].name.startswith("layer4") and s.rows[-3].rf_size == last_conv.rf_size


def test_receptive_field_on_a_hand_worked_network():
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3),  # r = 1 + 2*1 = 3, j = 1
        nn.Conv2d(4, 4, 3, stride=2),  # r = 3 + 2*1 = 5, j = 2
        nn.MaxPool2d(2),  # r = 5 + 1*2 = 7, j = 4
        nn.Conv2d(4, 4, 3, dilation=2),  # r = 7 + 2*2*4 = 23, j = 4
        nn.ReLU(),  # unchanged
    )
    s = summarize(net, input_size=(1, 3, 40, 40))
    assert [(r.rf_size, r.rf_stride) for r in s.rows] == [(3, 1), (5, 2), (7, 4), (23, 4), (23, 4)]
    assert [r.output_shape for r in s.rows][:3] == [(1, 4, 38, 38), (1, 4, 18, 18), (1, 4, 9, 9)]
    assert s.rows[0].macs == 38 * 38 * 4 * 3 * 3 * 3


@pytest.mark.parametrize("training", [True, False])
def test_summary_restores_mode_and_leaves_no_hooks(training):
    model = resnet18().train(training)
    summarize(model)
    assert all(m.training == training for m in model.modules())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def frozen_norms(num_classes: int = 1000) -> nn.Module:
    """A ResNet-18 in training mode whose BatchNorms are frozen in eval mode, as fine-tuning leaves it."""
    model = resnet.build("resnet18", num_classes=num_classes, generator=torch.Generator().manual_seed(0)).train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    return model


def run_evaluate(model: nn.Module) -> None:
    data = torch.utils.data.TensorDataset(torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 2]))
    evaluate(model, data, batch_size=2, device=torch.device("cpu"), num_classes=3)


# Every pass that runs the network in eval mode (with hooks or without) hands each module back its own mode.
PASSES = {
    "summarize": lambda model: summarize(model, input_size=(1, 3, 32, 32)),
    "stage_outputs": lambda model: stage_outputs(model, torch.zeros(1, 3, 32, 32)),
    "layer_responses": lambda model: layer_responses(model, torch.zeros(2, 3, 32, 32)),
    "evaluate": run_evaluate,
    "forward_latency": lambda model: forward_latency(model, (1, 3, 32, 32), repeats=1),
}


@pytest.mark.parametrize("name", list(PASSES))
def test_batchnorms_frozen_in_eval_mode_stay_frozen_inside_a_training_model(name):
    model = frozen_norms(num_classes=3)
    modes = {n: m.training for n, m in model.named_modules()}
    assert modes["layer1.0.conv1"] and not modes["layer1.0.bn1"]  # a mixed model, not all-train or all-eval
    PASSES[name](model)
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_hooked_runs_in_the_mode_asked_and_restores_each_module_even_when_the_body_raises():
    model = frozen_norms()
    modes = {n: m.training for n, m in model.named_modules()}
    seen = []
    with pytest.raises(RuntimeError, match="body failed"):
        with hooked(model, training=True, pre_hooks=[(model.bn1, lambda m, i: seen.append(("pre", m.training)))],
                    hooks=[(model.bn1, lambda m, i, o: seen.append(("post", m.training)))]), torch.no_grad():
            model(torch.zeros(2, 3, 32, 32))
            raise RuntimeError("body failed")
    assert seen == [("pre", True), ("post", True)]  # training=True: every module in training mode inside, frozen norms too
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with hooked(model):
        assert not any(m.training for m in model.modules())


def test_failed_forward_still_restores_mode_and_removes_hooks():
    model = resnet18().train()
    with pytest.raises(ValueError, match="expected a batch of shape"):
        summarize(model, input_size=(1, 4, 224, 224))
    assert model.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("size", [64, 320])
def test_other_input_sizes(size):
    s = summarize(resnet50(), input_size=(1, 3, size, size))
    assert s.rows[-1].output_shape == (1, 1000)
    assert [r for r in s.rows if r.name == "layer4.2.relu3"][0].output_shape == (1, 2048, size // 32, size // 32)


def test_bad_inputs_fail_with_clear_messages():
    with pytest.raises(ValueError, match="too small"):
        summarize(resnet18(), input_size=(1, 3, 16, 16))
    with pytest.raises(ValueError, match="got \\(1, 1, 224, 224\\)"):
        summarize(resnet18(), input_size=(1, 1, 224, 224))
    with pytest.raises(ValueError, match="four positive numbers"):
        summarize(resnet18(), input_size=(3, 224, 224))


def test_text_frame_csv_and_json(tmp_path):
    s = summarize(resnet18(), input_size=(1, 3, 64, 64), depth=2)
    text = str(s)
    assert "layer3.1" in text and "Total params: 11,689,512" in text and "Total MACs:" in text
    lines = text.splitlines()
    assert len({len(line) for line in lines[2 : 2 + len(s.rows)]}) <= 2  # aligned columns
    frame = s.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(s.rows)
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert frame["params"].sum() == s.total_params
    conv1 = frame.set_index("layer").loc["conv1"]
    assert (conv1["input"], conv1["output"], conv1["kernel/stride"]) == ("1x3x64x64", "1x64x32x32", "7/2")
    assert conv1["MACs (M)"] == round(64 * 32 * 32 * 7 * 7 * 3 / 1e6, 3)
    # What the user downloads is what the user sees: the same columns, the same values.
    s.to_csv(tmp_path / "s.csv")
    downloaded = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert list(downloaded.columns) == list(frame.columns)
    assert downloaded.astype(str).values.tolist() == frame.astype(str).values.tolist()
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically: no temporary file left
    data = json.loads(s.to_json(tmp_path / "s.json"))
    assert data["totals"]["total_params"] == 11_689_512 and len(data["rows"]) == len(s.rows)
    assert json.loads((tmp_path / "s.json").read_text()) == data


def test_command_line_summary(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "resnet", "summary", "resnet50", "--depth", "1", "--csv", str(tmp_path / "r50.csv")],
        capture_output=True, text=True, check=True,
    )
    assert "Total params: 25,557,032" in out.stdout and "layer4" in out.stdout
    assert (tmp_path / "r50.csv").is_file()
    bad = subprocess.run([sys.executable, "-m", "resnet", "summary", "resnet50", "--input-size", "8"], capture_output=True, text=True)
    assert bad.returncode == 2 and "too small" in bad.stderr


def test_summarize_takes_depth_by_keyword_only():
    with pytest.raises(TypeError):
        summarize(resnet18(), (1, 3, 64, 64), 1)
