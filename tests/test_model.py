import pytest
import torch
import torchvision
from torch import nn

import resnet
import resnet.model
from resnet.model import BasicBlock, Bottleneck, resnet18, resnet34, resnet50
from tests.hubcache import randomize_norms

PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}


def test_archs_lists_the_five_depths():
    assert resnet.ARCHS == ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


@pytest.mark.parametrize("arch", list(PARAMS))
def test_parameter_count_is_exact(arch):
    model = getattr(resnet.model, arch)()
    assert sum(p.numel() for p in model.parameters()) == PARAMS[arch]


@pytest.mark.parametrize("arch", list(PARAMS))
def test_torchvision_weights_load_both_ways_and_give_the_same_logits(arch):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, arch)()
    randomize_norms(theirs)
    ours = resnet.build(arch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    ours.eval(), theirs.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (ours(x) - theirs(x)).abs().max().item()
    assert diff <= 1e-4


@pytest.mark.parametrize("size", [64, 320, (224, 320)])
def test_other_input_sizes(size):
    h, w = (size, size) if isinstance(size, int) else size
    model = resnet18(num_classes=7).eval()
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 3, h, w))
        logits = model.forward_head(feats)
    assert feats.shape == (1, 512, h // 32, w // 32)
    assert logits.shape == (1, 7)


def test_wrong_channel_count_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, 3, H, W\), got \(1, 1, 224, 224\)"):
        resnet18()(torch.randn(1, 1, 224, 224))


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match="16x16 pixels is too small.*at least 32"):
        resnet18()(torch.randn(1, 3, 16, 16))


def test_bottleneck_strides_on_its_3x3_and_expands_by_four():
    layer2 = resnet50().layer2[0]
    assert isinstance(layer2, Bottleneck)
    assert layer2.conv1.stride == (1, 1) and layer2.conv2.stride == (2, 2)
    layer1 = resnet50().layer1
    assert layer1[0].conv3.out_channels == 256 and layer1[1].conv1.in_channels == 256


def convs(model: nn.Module, skip_downsample: bool) -> list[tuple[str, tuple]]:
    return [
        (name, tuple(m.weight.shape))
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and not (skip_downsample and ".downsample." in name)
    ]


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_plain_twin_has_the_same_convolutions_and_no_shortcuts(arch):
    residual, plain = resnet.build(arch), resnet.build(arch, plain=True)
    assert convs(plain, skip_downsample=False) == convs(residual, skip_downsample=True)
    assert not any(".downsample" in name for name, _ in plain.named_modules())
    assert plain.plain and not residual.plain


@pytest.mark.parametrize("block_cls,planes", [(BasicBlock, 8), (Bottleneck, 2)])
def test_plain_block_adds_no_identity(block_cls, planes):
    # With the residual branch silenced (last norm zeroed), a residual block passes its
    # non-negative input through unchanged; a plain block has nothing left to pass.
    channels = planes * block_cls.expansion
    x = torch.rand(2, channels, 8, 8)
    for residual, expected in ((True, x), (False, torch.zeros_like(x))):
        block = block_cls(channels, planes, residual=residual).eval()
        last_bn = block.bn3 if block_cls is Bottleneck else block.bn2
        nn.init.zeros_(last_bn.weight)
        nn.init.zeros_(last_bn.bias)
        with torch.no_grad():
            torch.testing.assert_close(block(x), expected)


def test_zero_init_residual_makes_each_block_an_identity():
    model = resnet.build("resnet50", zero_init_residual=True).eval()
    block = model.layer1[1]
    x = torch.rand(1, 256, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)
    assert not torch.equal(resnet.build("resnet50").layer1[1].bn3.weight, torch.zeros(256))


def test_bad_arguments_name_the_bad_value():
    with pytest.raises(ValueError, match="'resnet19'"):
        resnet.build("resnet19")
    with pytest.raises(ValueError, match="num_classes must be at least 1, got 0"):
        resnet.build("resnet18", num_classes=0)
    with pytest.raises(ValueError, match="plain=True"):
        resnet.build("resnet18", plain=True, zero_init_residual=True)


def test_reset_classifier_and_pre_logits():
    model = resnet34().eval()
    model.reset_classifier(5)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert model(x).shape == (1, 5)
        assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (1, 512)


def test_build_with_a_generator_is_repeatable_and_leaves_the_global_generator_alone():
    state = torch.get_rng_state()
    first = resnet.build("resnet18", num_classes=5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    second = resnet.build("resnet18", num_classes=5, generator=torch.Generator().manual_seed(3))
    other = resnet.build("resnet18", num_classes=5, generator=torch.Generator().manual_seed(4))
    for (key, a), b, c in zip(first.state_dict().items(), second.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b), key
        if key.endswith(".weight") and "conv" in key:
            assert not torch.equal(a, c), key
    # The same distributions as torchvision's initialisation, running statistics reset.
    assert torch.equal(first.bn1.running_var, torch.ones(64)) and torch.equal(first.bn1.running_mean, torch.zeros(64))
    fan_out = 64 * 7 * 7
    assert float(first.conv1.weight.detach().std()) == pytest.approx((2 / fan_out) ** 0.5, rel=0.05)
    assert float(first.fc.weight.abs().max()) <= 1 / 512**0.5
    first.reset_classifier(3, generator=torch.Generator().manual_seed(0))
    second.reset_classifier(3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first.fc.weight, second.fc.weight) and first.fc.out_features == 3
    assert torch.equal(torch.get_rng_state(), state)


def test_builders_take_options_by_keyword_only():
    with pytest.raises(TypeError):
        resnet.build("resnet18", 10)
