"""The ZeroGPU wiring, checked with the real ``spaces`` package and no GPU.

A ZeroGPU Space is emulated the way the package recognises one (``SPACES_ZERO_GPU=true``, and the device
API's address it requires). Importing ``spaces`` there patches torch for the whole process, so each check
runs in a child process (``python -m tests.test_zerogpu``) that prints what it saw as JSON. ZeroGPU's
scheduler is the one piece replaced: ``spaces.zero.client.schedule`` records the duration it is asked for
and refuses as the real one does, with the ``gr.Error`` that ``spaces.zero.gradio.error`` makes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from resnet.devices import default_device
from tests.conftest import ROOT

pytest.importorskip("spaces", reason="the spaces package is not installed (pip install -r requirements-dev.txt)")

EXAMPLE = str(ROOT / "examples" / "chelsea.png")
ZH = {"accept-language": "zh-CN,zh;q=0.9"}
WRAPPED = {"classify", "explain", "classify_many", "classify_all_depths", "inside", "finetune", "degradation", "gradient_flow"}
QUOTA = "You have exceeded your free ZeroGPU quota (60s requested vs. 12s left). Try again in 3:00:00."


def probe() -> dict:
    """In a process that believes it runs on ZeroGPU: what is wrapped, the durations asked for, what a refusal does."""
    import gradio as gr
    import spaces.zero.client
    from spaces.zero.gradio import error

    import app  # builds the page: every GPU-worthy callback is wrapped here
    import resnet
    import torch
    from ui.tabs.architecture import tab as architecture
    from ui.tabs.classify import tab as classify
    from ui.tabs.finetune import training as finetune
    from ui import jobs, models, zerogpu
    from ui.tabs.lab import tab as lab

    seen = {"cuda_initialized_at_import": torch.cuda.is_initialized(), "durations": {}, "warnings": []}
    seen["wrapped"] = sorted(f.api_name for f in app.demo.fns.values() if hasattr(f.fn, "zerogpu_budget"))
    seen["wrapped_tools"] = sorted(f.api_name for f in app.build_demo(mcp=True).fns.values() if hasattr(f.fn, "zerogpu_budget") and f.api_name.startswith("mcp_"))
    refusal = {"title": "ZeroGPU quota exceeded"}

    def schedule(task_id, request=None, duration=None, gpu_size=None, **_):
        seen["durations"].setdefault(seen["current"], duration.total_seconds())
        raise error(refusal["title"], QUOTA)

    spaces.zero.client.schedule = schedule
    gr.Warning = lambda message, **_: seen["warnings"].append(message)
    zh = gr.Request(headers=ZH)
    policy = app.ModelPolicy(tuple(app.CHECKPOINTS))
    photos = [EXAMPLE] * 10 + ["photos.zip"]
    slots = ("a", [EXAMPLE] * 20, "b", [EXAMPLE] * 20, "", None, "", None, False)

    def form(source, strategy, epochs, values):  # the page's inputs by name: the slots' values, then rotate90
        return {"source": source, "strategy": strategy, "epochs": epochs, "lr": 0.01, "zip_file": None, **dict(zip(finetune.SLOT_FIELDS, values)), "rotate90": values[-1]}

    def attempt(name, fn, *args, **kwargs):
        seen["current"] = name
        try:
            result = fn(*args, **kwargs)
            return next(result) if hasattr(result, "__next__") else result
        except gr.Error as e:
            return {"error": e.message, "title": e.title}

    # As on the Space: the shared model is loaded in the main process, where spaces' torch says it is on CUDA.
    source = policy.source_for(app.DEFAULT_MODEL)[0]
    seen["shared_device"] = models.MODELS.get(source).device.type
    top, _, timing, _ = attempt("classify", classify.classify, EXAMPLE, app.DEFAULT_MODEL, {}, policy, request=zh)
    direct = resnet.Classifier.from_pretrained(source, device="cpu").predict(EXAMPLE, top_k=1)[0][0]
    seen["classify"] = {"model": app.DEFAULT_MODEL, "top1": max(top, key=top.get), "direct_top1": direct, "timing": timing, "loaded": models.MODELS.loaded()}
    seen["shared_device_after"] = models.MODELS.get(source).device.type  # outside the fallback: the CUDA one again
    attempt("classify_many", classify.classify_many, photos, app.DEFAULT_MODEL, {}, policy, request=zh)
    refusal["title"] = "ZeroGPU worker error"  # not a refusal: raised as it is, nothing runs on the CPU
    for strategy, epochs in (("head", 5), ("full", 50), ("full", 500)):
        attempt(f"finetune {strategy} {epochs}", finetune.finetune, {}, policy, zh, None, **form(finetune.FROM_SCRATCH, strategy, epochs, slots))
    attempt("degradation", lab.degradation, depths=[20, 56], preset="quick", steps=300, request=zh)
    refusal["title"] = "ZeroGPU quota exceeded"
    one_class = ("a", [EXAMPLE], "", None, "", None, "", None, False)  # refused by the data check, after the warning
    seen["finetune_cpu"] = attempt("finetune cpu", finetune.finetune, {}, policy, zh, None, **form(app.DEFAULT_MODEL, "head", 1, one_class))
    plot, words = attempt("gradient_flow", architecture.gradient_flow_plot, "resnet18", 32, request=zh)
    seen["gradient_flow_cpu"] = {"rows": len(plot), "words": bool(words)}

    # A generator refused: it runs on the CPU, and so do the job threads it starts.
    zerogpu.BUDGETS["probe_job"] = zerogpu.Budget(5)

    @zerogpu.gpu
    def probe_job(request=None):
        with jobs.start("probe", request, lambda report, should_stop: str(default_device()), time_limit=60) as job:
            list(job.watch())
        yield job.result(), str(default_device())

    seen["job_devices"] = attempt("probe_job", probe_job, request=zh)
    seen["main_device"] = str(default_device())  # outside the fallback: the patched torch says CUDA
    return seen


@pytest.fixture(scope="module")
def zero(hub_models):  # the test Hub cache: the fallback loads the default model
    env = {**os.environ, "SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": "http://127.0.0.1:9/"}  # nothing listens: never called
    env["PROBE_HUB_CACHE"] = os.environ["HF_HUB_CACHE"]  # the child's conftest import makes an empty cache of its own
    out = subprocess.run([sys.executable, "-m", "tests.test_zerogpu"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_gpu_worthy_action_is_wrapped_and_nothing_touches_cuda_at_import(zero):
    assert set(zero["wrapped"]) == WRAPPED
    assert zero["wrapped_tools"] == ["mcp_classify", "mcp_classify_all_depths", "mcp_explain"]
    assert zero["cuda_initialized_at_import"] is False


def test_durations_follow_the_work_and_stay_under_the_platforms_limit(zero):
    from ui.zerogpu import MAX_DURATION_S

    assert MAX_DURATION_S == 300
    assert zero["durations"] == {
        "classify": 20,
        "classify_many": 31,  # 20 s + (10 photos + 200 assumed for the zip) x 0.05 s, rounded up
        "finetune head 5": 32,  # 30 s + 5 epochs x 40 images x 0.01 s
        "finetune full 50": 150,  # 30 s + 50 x 40 x 0.06 s
        "finetune full 500": 300,  # capped
        "degradation": 39,  # 15 s + 2 depths x 2 nets x 300 steps x 0.02 s
        "finetune cpu": 31,  # 30 s + 1 epoch x 1 image x 0.01 s, rounded up
        "gradient_flow": 20,
        "probe_job": 5,
    }


def test_a_used_up_quota_is_said_in_words_and_the_cpu_takes_over_where_it_can(zero):
    from ui.i18n import text

    # classify answered from a CPU copy of the shared model (which stays on the GPU), as a CPU Classifier would
    classified = zero["classify"]
    assert zero["shared_device"] == zero["shared_device_after"] == "cuda"
    assert classified["top1"] == classified["direct_top1"] and classified["loaded"] == [classified["loaded"][0]] * 2
    said = re.escape(text("zh-CN", "classify.timing", model=classified["model"], ms="MS", device="cpu")).replace("MS", r"\d+")
    assert re.fullmatch(said, classified["timing"]), classified["timing"]  # the answer says where it ran
    # gradient flow and jobs build their own networks: they ran on the CPU too; each time the visitor read why
    assert zero["gradient_flow_cpu"] == {"rows": 2 * 8, "words": True}  # ResNet-18's 8 blocks, plain and residual
    on_cpu, slow = (f"{text('zh-CN', 'zerogpu.quota')} {text('zh-CN', key)}" for key in ("zerogpu.on_cpu", "zerogpu.on_cpu_slow"))
    assert zero["warnings"] == [on_cpu, on_cpu, slow, on_cpu, on_cpu]  # classify, classify_many, fine-tune, gradient flow, job
    assert "error" in zero["finetune_cpu"]  # the one-class data, refused on the CPU as it would be on the GPU
    assert zero["job_devices"] == ["cpu", "cpu"] and zero["main_device"] == "cuda"


def test_elsewhere_spaces_is_never_imported_and_callbacks_are_unchanged():
    code = "import sys, app, ui.tabs.classify.tab as c; print('spaces' in sys.modules, hasattr(c.classify, 'zerogpu_budget'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "SPACES_ZERO_GPU": ""})
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]


def test_a_callback_without_a_budget_is_refused_everywhere():
    from ui.zerogpu import gpu

    def unsized():
        pass

    with pytest.raises(KeyError, match="unsized has no GPU budget"):
        gpu(unsized)


if __name__ == "__main__":
    from huggingface_hub import constants  # imported above by spaces, so the variable alone would come too late

    constants.HF_HUB_CACHE = os.environ["PROBE_HUB_CACHE"]
    print(json.dumps(probe()))
