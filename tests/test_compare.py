"""ResNet against other networks and the bottleneck's saving: every number against an independent count.

Parameters: ``sum(p.numel())`` of a model built here. MACs: forward hooks placed here on every
convolution and linear layer (a count that shares no code with ``FlopCounterMode``). Accuracy and
GFLOPs: torchvision's own weights metadata (its ``_ops`` GFLOPs are multiply-accumulates, in G).
Only a small subset is timed: timing VGG-19 or ViT-B/16 takes seconds each on a shared CPU.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torchvision.models import get_model, get_model_weights

import resnet
from resnet.anatomy.block_cost import block_cost
from resnet.anatomy.compare import NETWORKS, WEIGHTS, compare_networks, to_csv, to_frame

CONV_ONLY = {"alexnet", "vgg16", "googlenet", "resnet50", "densenet121", "mobilenet_v3_large", "efficientnet_b0"}


def hook_macs(model: nn.Module, size: int) -> int:
    """Multiply-accumulates of convolutions and linear layers, counted with hooks placed here."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += output.numel() * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, size, size))
    finally:
        for h in handles:
            h.remove()
    return total


@pytest.fixture(scope="module")
def rows():
    return {r.key: r for r in compare_networks(timed=("resnet18", "mobilenet_v3_large"))}


def test_every_network_of_the_issue_is_there(rows):
    assert [n.label for n in NETWORKS if n.fig3] == ["VGG-19", "plain-34", "ResNet-34"]
    assert {"alexnet", "vgg16", "vgg19", "googlenet", "inception_v3", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
            "densenet121", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "vit_b_16", "plain34"} == set(rows)
    assert {k for k, r in rows.items() if r.resnet} == {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}


def test_counts_match_torchvisions_published_metadata(rows):
    for key, row in rows.items():
        if key == "plain34":
            continue
        meta = get_model_weights(key)[WEIGHTS].meta
        assert math.isclose(row.gmacs, meta["_ops"], abs_tol=0.0015), key  # _ops: GFLOPs as torchvision counts them = GMACs
        assert row.top1 == meta["_metrics"]["ImageNet-1K"]["acc@1"] and WEIGHTS in row.top1_source, key
        if key != "inception_v3":  # its published count includes the auxiliary classifier that inference drops
            assert row.params == meta["num_params"], key
    assert rows["inception_v3"].params < get_model_weights("inception_v3")[WEIGHTS].meta["num_params"]


@pytest.mark.parametrize("key", sorted(CONV_ONLY))
def test_counts_match_hooks_and_numel_on_a_real_model(rows, key):
    model = get_model(key, weights=None, **({"aux_logits": False, "init_weights": False} if key == "googlenet" else {}))
    assert rows[key].params == sum(p.numel() for p in model.parameters())
    assert rows[key].gmacs * 1e9 == pytest.approx(hook_macs(model, rows[key].input_size), rel=1e-9)


def test_the_papers_fig3_trio(rows):
    """VGG-19 19.6 GFLOPs, plain-34 and ResNet-34 3.6 (the paper's multiply-adds), plain-34 from the paper's Table 2."""
    plain = resnet.build("resnet34", plain=True)
    assert rows["plain34"].params == sum(p.numel() for p in plain.parameters())
    assert rows["plain34"].gmacs * 1e9 == pytest.approx(hook_macs(plain, 224), rel=1e-9)
    assert round(rows["vgg19"].gmacs, 1) == 19.6
    # 3.6 for both in the paper; torchvision's ResNet-34 adds three 1x1 projection shortcuts (option B): 3.66.
    assert round(rows["plain34"].gmacs, 1) == 3.6 and 3.6 < rows["resnet34"].gmacs < 3.7
    assert rows["plain34"].top1 == 71.46 and "Table 2" in rows["plain34"].top1_source


def test_only_the_chosen_networks_are_timed_and_the_csv_carries_all(rows):
    timed = {k for k, r in rows.items() if r.forward_ms is not None}
    assert timed == {"resnet18", "mobilenet_v3_large"} and all(rows[k].forward_ms > 0 for k in timed)
    frame = to_frame(rows.values())
    assert len(frame) == 17 and set(frame["group"]) == {"resnet", "other"} and frame["forward ms"].isna().sum() == 15
    csv = to_csv(rows.values()).splitlines()
    assert len(csv) == 18 and csv[0].startswith("network,") and ",11689512," in next(line for line in csv if line.startswith("ResNet-18,"))
    with pytest.raises(ValueError, match="unknown network 'resnet9'"):
        compare_networks(timed=("resnet9",))


def test_block_cost_against_the_papers_fig5_and_independent_counts():
    cost = block_cost(256, map_size=56, repeats=1)
    basic, bottleneck = cost.blocks
    conv_params = {"basic": 2 * 9 * 256 * 256, "bottleneck": 256 * 64 + 9 * 64 * 64 + 64 * 256}  # Fig. 5, convolutions only
    bn_params = {"basic": 2 * 2 * 256, "bottleneck": 2 * (64 + 64 + 256)}
    for block in (basic, bottleneck):
        assert block.params == conv_params[block.kind] + bn_params[block.kind]
        assert block.macs == conv_params[block.kind] * 56 * 56  # stride 1, padding keeps 56 x 56: weights x positions
        assert block.forward_ms > 0
    assert bottleneck.layers == "1x1 256 -> 64, 3x3 64 -> 64, 1x1 64 -> 256" and cost.saving > 16
    r34, r50 = cost.nets
    for net in (r34, r50):
        model = resnet.build(net.arch)
        assert net.params == sum(p.numel() for p in model.parameters())
        assert net.gmacs * 1e9 == pytest.approx(hook_macs(model, 224), rel=1e-12)
    assert (r34.depth, r50.depth) == (34, 50) and r50.gmacs / r34.gmacs < 1.15  # 16 layers deeper at about the same cost


@pytest.mark.parametrize("width, size", [(6, 56), (0, 56), (64, 0)])
def test_block_cost_refuses_unusable_sizes(width, size):
    with pytest.raises(ValueError):
        block_cost(width, map_size=size, nets=False)


def test_torchvision_stays_off_the_classify_paths_start_up():
    import subprocess
    import sys

    code = "import sys, resnet, resnet.anatomy.compare, resnet.check, resnet.anatomy.block_cost; print('torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
