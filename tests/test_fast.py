"""The inference fast path computes the same function as the fp32 eval-mode network."""

import pytest
import torch

import resnet
from hubcache import randomize_norms, torchvision_model
from resnet.fast import fold_batchnorm, inference_dtype, optimize_for_inference
from textures import patches

CPU = torch.device("cpu")


def relative_error(fast: torch.Tensor, exact: torch.Tensor) -> float:
    return float((fast - exact).norm() / exact.norm())


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
    config = resnet.ModelConfig(arch, tuple(str(i) for i in range(1000)))
    exact = resnet.Classifier(model, config, device="cpu", fast=False)
    fast = resnet.Classifier(model, config, device="cpu")
    assert fast.fast is not None and fast.fast.dtype == inference_dtype(CPU) and not fast.fast.compiled
    x = torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    assert relative_error(fast.logits(x), exact.logits(x)) <= 0.02


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


def test_fp32_fast_path_and_opt_out():
    model = randomize_norms(resnet.resnet18(num_classes=3)).eval()
    fast = optimize_for_inference(model, CPU, 64, dtype=torch.float32)
    assert not fast.compiled and fast.dtype == torch.float32
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert relative_error(fast(x), model(x)) < 1e-5
    assert resnet.Classifier(model, resnet.ModelConfig("resnet18", ("a", "b", "c")), device="cpu", fast=False).fast is None


def test_compiled_fast_path_takes_over_in_the_background():
    model = randomize_norms(resnet.resnet18(num_classes=3), seed=2).eval()
    config = resnet.ModelConfig("resnet18", ("a", "b", "c"), resnet.Preprocessing(crop_size=64, resize_size=73))
    exact = resnet.Classifier(model, config, device="cpu", fast=False)
    clf = resnet.Classifier(model, config, device="cpu", compile=True)
    eager = clf.fast
    x = torch.randn(2, 3, 64, 64)
    assert relative_error(clf.logits(x), exact.logits(x)) <= 0.02  # served while compiling
    assert clf.compile_done.wait(timeout=300)
    assert clf.fast is not eager and clf.fast.compiled
    assert relative_error(clf.logits(x), exact.logits(x)) <= 0.02
