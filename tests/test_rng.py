"""Seeded training draws from generators of its own: runs in threads do not change one another, nor torch's global state."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import resnet
import train
from resnet.anatomy.measure import gradient_flow
from resnet.checkpoints.config import ModelConfig
from resnet.transforms import Preprocessing
from tests.textures import patches
from train.augment import AugmentedSubset, RandomCropFlip, sample_generator
from train.data import in_memory


@pytest.fixture(scope="module")
def tiny_source() -> resnet.Classifier:
    """A randomly initialised ResNet-18 that fine-tunes on 32x32 crops: a from-scratch run in well under a second."""
    model = resnet.build("resnet18", num_classes=2, generator=torch.Generator().manual_seed(7))
    return resnet.Classifier(model, ModelConfig("resnet18", ("x", "y"), Preprocessing(crop_size=32, resize_size=36)), device="cpu")


@pytest.fixture(scope="module")
def tiny_samples() -> dict:
    two = dict(list(patches("train", 5, size=48, seed=2).items())[:2])
    return {f"class {name}": images for name, images in two.items()}


def global_states() -> tuple:
    return torch.get_rng_state(), random.getstate(), np.random.get_state()[1].tobytes()


def same_states(a: tuple, b: tuple) -> bool:
    return torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]


def test_augmentation_depends_on_seed_epoch_and_index_alone():
    data = in_memory({"a": patches("train", 2, size=48)["brick"], "b": patches("train", 2, size=48)["grass"]}, max_images=10)
    augment = RandomCropFlip(Preprocessing(crop_size=32, resize_size=36))
    views = AugmentedSubset(data, [0, 0, 1, 2, 3], augment, seed=5)
    before = global_states()
    first = [views[i][0] for i in range(len(views))]
    assert same_states(before, global_states())
    torch.rand(10), random.random()  # the global generators' state does not decide it
    again = [views[i][0] for i in reversed(range(len(views)))][::-1]  # nor the order items are read in
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1])  # two views of one image differ
    views.set_epoch(1)
    assert not any(torch.equal(a, views[i][0]) for i, a in enumerate(first))  # every epoch draws anew
    assert first[0].shape == (3, 32, 32) and [views[i][1] for i in range(5)] == [0, 0, 0, 1, 1]


def test_crop_boxes_stay_inside_the_image_with_the_requested_area_and_ratio():
    augment = RandomCropFlip(Preprocessing(crop_size=32, resize_size=36), scale=(0.25, 0.5), ratio=(0.5, 2.0))
    for index in range(200):
        top, left, h, w = augment.box(120, 80, sample_generator(0, 0, index))
        assert 0 <= top <= 80 - h and 0 <= left <= 120 - w
        assert 0.24 <= h * w / (120 * 80) <= 0.51 and 0.45 <= w / h <= 2.2  # rounding to whole pixels
    assert augment.box(1000, 10, sample_generator(0, 0, 0)) == (0, 490, 10, 20)  # no fit in ten tries: the centre, at the widest ratio


def finetune_summary(result: train.FinetuneResult) -> tuple:
    losses = [(r["train_loss"], r["val_loss"]) for r in result.history]
    return losses, {k: v.clone() for k, v in result.classifier.model.state_dict().items()}


def test_finetunes_and_gradient_flow_in_threads_equal_the_same_calls_run_alone(tiny_source, tiny_samples):
    def run(seed: int) -> tuple:
        return finetune_summary(train.finetune(tiny_source, tiny_samples, strategy="full", epochs=2, options=train.FinetuneOptions(seed=seed, held_out=0.2), device="cpu"))

    def flow() -> list:
        return gradient_flow("resnet18", plain=True, input_size=64, batch_size=2, seed=4)

    alone, flow_alone = [run(1), run(2)], flow()
    stop = threading.Event()

    def other_users_code() -> None:  # draws from and reseeds the global generators all the while
        with torch.random.fork_rng():
            while not stop.is_set():
                torch.manual_seed(int(torch.randint(0, 1000, ())))
                torch.randn(1000)
                random.random()

    with ThreadPoolExecutor(4) as pool:
        noise, flow_together = pool.submit(other_users_code), pool.submit(flow)
        try:
            together = list(pool.map(run, [1, 2]))
        finally:
            stop.set()
        noise.result()
    assert flow_together.result() == flow_alone
    assert alone[0][0] != alone[1][0]  # two different runs ...
    for (losses, weights), (losses_alone, weights_alone) in zip(together, alone):
        assert losses == losses_alone  # ... each exactly as it is alone
        assert all(torch.equal(weights[k], weights_alone[k]) for k in weights)


@pytest.mark.parametrize("strategy", ["head", "full"])
def test_a_seeded_finetune_leaves_the_global_generators_alone(tiny_samples, strategy):
    before = global_states()
    result = train.finetune("resnet18", tiny_samples, strategy=strategy, epochs=1, options=train.FinetuneOptions(seed=3, views=2), device="cpu")
    assert len(result.history) == 1
    assert same_states(before, global_states())
