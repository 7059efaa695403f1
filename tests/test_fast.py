"""The inference fast path computes the same function as the fp32 eval-mode network."""

import copy
import pickle
import platform

import pytest
import torch

import resnet
import resnet.fast
from resnet.checkpoints.config import ModelConfig
from resnet.fast import fold_batchnorm, onednn_available, optimize_for_inference
from resnet.model import resnet18
from tests.hubcache import randomize_norms, torchvision_model
from tests.textures import patches

CPU = torch.device("cpu")


def _cpu_reports(*flags: str) -> bool:
    """Whether /proc/cpuinfo lists any of ``flags`` (read here, independently of resnet.devices)."""
    try:
        text = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return False
    return platform.machine() in ("x86_64", "AMD64") and any(f" {flag} " in f" {text} ".replace("\n", " ") for flag in flags)


# bf16 where the CPU has AMX or AVX512-BF16 (Sapphire Rapids), fp32 elsewhere (e.g. an AVX2-only EPYC).
EXPECTED_CPU_DTYPE = torch.bfloat16 if _cpu_reports("amx_bf16", "avx512_bf16") else torch.float32
# The fused kernels on x86-64 wherever PyTorch itself says it was built with oneDNN (not resnet.fast's own check).
EXPECTED_CPU_BACKEND = "onednn" if platform.machine() in ("x86_64", "AMD64") and torch.backends.mkldnn.is_available() else "eager"
needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this PyTorch build has no oneDNN CPU kernels")


def relative_error(fast: torch.Tensor, exact: torch.Tensor) -> float:
    return float((fast.float() - exact).norm() / exact.norm())


@pytest.mark.parametrize("arch", resnet.ARCHS)
def test_folding_batchnorm_is_exact(arch):
    model = randomize_norms(resnet.build(arch, num_classes=10), seed=1).eval()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert all(isinstance(m, torch.nn.BatchNorm2d) for name, m in model.named_modules() if name.endswith("bn1"))  # untouched
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert relative_error(folded(x), model(x)) < 1e-5


@pytest.mark.parametrize("arch", resnet.ARCHS)
def test_fast_path_relative_logit_error_is_small(arch):
    reference = torchvision_model(arch, seed=4)
    model = resnet.build(arch)
    model.load_state_dict(reference.state_dict())
    config = ModelConfig(arch, tuple(str(i) for i in range(1000)))
    exact = resnet.Classifier(model, config, device="cpu", fast=False)
    fast = resnet.Classifier(model, config, device="cpu")
    assert fast.fast is not None and fast.fast.dtype == EXPECTED_CPU_DTYPE
    assert fast.fast.backend == EXPECTED_CPU_BACKEND
    x = torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    assert relative_error(fast.logits(x), exact.logits(x)) <= 0.02


@needs_onednn
@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
@pytest.mark.parametrize("plain", [False, True], ids=["residual", "plain"])
def test_fused_onednn_kernels_compute_the_network_exactly_in_fp32(arch, plain):
    # In fp32 the only difference is rounding: this checks each fusion (ReLU, shortcut add, projection).
    model = randomize_norms(resnet.build(arch, num_classes=7, plain=plain), seed=5).eval()
    fast = optimize_for_inference(model, CPU, 64, dtype=torch.float32, backend="onednn")
    assert fast.backend == "onednn"
    assert isinstance(fast.features, resnet.fast.OneDNNFeatures)
    assert all(block.residual != plain for block in fast.features.blocks)
    for shape in [(1, 3, 64, 64), (3, 3, 96, 80)]:  # the size the weights were packed for, and another
        x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            assert relative_error(fast(x), model(x)) < 1e-5
            assert relative_error(fast.forward_features(x), model.forward_features(x)) < 1e-5
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, 3, H, W\)"):
        fast(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="too small"):
        fast(torch.randn(1, 3, 16, 64))


@needs_onednn
def test_fused_path_survives_deepcopy_and_pickle():
    model = randomize_norms(resnet18(num_classes=3), seed=6).eval()
    fast = optimize_for_inference(model, CPU, 64)
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        expected = fast(x)
        for clone in (copy.deepcopy(fast), pickle.loads(pickle.dumps(fast))):
            assert clone.backend == "onednn"
            assert torch.equal(clone(x), expected)


@needs_onednn
def test_oneDNN_failure_falls_back_to_the_eager_path_with_a_warning(monkeypatch):
    def broken(self, x, shortcut=None):
        raise RuntimeError("no kernel for this CPU")

    monkeypatch.setattr(resnet.fast.OneDNNConv2d, "forward", broken)
    model = randomize_norms(resnet18(num_classes=3), seed=7).eval()
    with pytest.warns(RuntimeWarning, match="no kernel for this CPU"):
        fast = optimize_for_inference(model, CPU, 64, dtype=torch.float32)
    assert fast.backend == "eager"
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert relative_error(fast(x), model(x)) < 1e-5


def test_fast_path_predictions_equal_fp32_on_a_trained_model(texture_model):
    exact = resnet.Classifier.from_pretrained(texture_model, device="cpu", fast=False)
    fast = resnet.Classifier.from_pretrained(texture_model, device="cpu")
    held_out = [image for images in patches("val", 12, seed=21).values() for image in images]
    exact_top = [exact.predict(image, top_k=1)[0] for image in held_out]
    fast_top = [fast.predict(image, top_k=1)[0] for image in held_out]
    assert [label for label, _ in fast_top] == [label for label, _ in exact_top]
    assert max(abs(a - b) for (_, a), (_, b) in zip(fast_top, exact_top)) < 0.05
    assert sum(p > 0.6 for _, p in exact_top) > len(exact_top) / 2  # confident predictions: a meaningful comparison


def test_explain_on_the_fast_path_agrees_with_fp32(texture_model):
    image = patches("val", 1, seed=3)["brick"][0]
    exact = resnet.Classifier.from_pretrained(texture_model, device="cpu", fast=False).explain(image)
    fast = resnet.Classifier.from_pretrained(texture_model, device="cpu").explain(image)
    assert fast.label == exact.label
    assert float(abs(fast.heatmap - exact.heatmap).max()) < 0.1


def test_eager_fp32_fast_path_and_opt_out():
    model = randomize_norms(resnet18(num_classes=3)).eval()
    fast = optimize_for_inference(model, CPU, 64, dtype=torch.float32, backend="eager")
    assert fast.backend == "eager" and fast.dtype == torch.float32
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert relative_error(fast(x), model(x)) < 1e-5
    assert resnet.Classifier(model, ModelConfig("resnet18", ("a", "b", "c")), device="cpu", fast=False).fast is None


# Written out by hand: (machine, whether the build has the oneDNN kernels, backend asked for, backend used).
BACKEND_CASES = [
    ("x86_64", True, None, "onednn"),
    ("AMD64", True, None, "onednn"),
    ("x86_64", False, None, "eager"),  # a PyTorch built without oneDNN
    ("arm64", True, None, "eager"),  # not measured there: the eager path
    ("aarch64", True, None, "eager"),
    ("x86_64", True, "eager", "eager"),  # asked for
]


@pytest.mark.parametrize("machine,has_onednn,asked,expected", BACKEND_CASES)
def test_oneDNN_is_the_default_on_x86_only(monkeypatch, machine, has_onednn, asked, expected):
    if expected == "onednn" and not torch.backends.mkldnn.is_available():
        pytest.skip("this PyTorch build has no oneDNN CPU kernels to run")
    model = resnet18(num_classes=3).eval()
    monkeypatch.setattr(resnet.fast.platform, "machine", lambda: machine)
    monkeypatch.setattr(resnet.fast, "onednn_available", lambda: has_onednn)
    assert optimize_for_inference(model, CPU, 64, backend=asked).backend == expected


def test_oneDNN_is_available_only_where_pytorch_has_it(monkeypatch):
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert not onednn_available()


def test_backend_is_checked():
    model = resnet18(num_classes=3).eval()
    with pytest.raises(ValueError, match="'onednn' or 'eager'"):
        optimize_for_inference(model, CPU, 64, backend="compile")
    with pytest.raises(ValueError, match="CPU only"):
        optimize_for_inference(model, torch.device("meta"), 64, backend="onednn")
