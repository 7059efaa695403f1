#!/usr/bin/env bash
# The GPU checks of issue #20, prepared for one lent CUDA machine (docs/GPU.md says what they check).
#
#   bash benchmarks/gpu_device_run.sh tests   # the device-generic tests on CUDA (about 4 minutes)
#   bash benchmarks/gpu_device_run.sh bench   # python -m benchmarks.gpu: at most 8 minutes
#   bash benchmarks/gpu_device_run.sh all     # both, one after the other (longer than one 10-minute device call)
#
# Everything it writes goes under $OUT (default /tmp/gpu-device-run): nvidia-smi.txt, tests.log,
# bench.log and PERFORMANCE-GPU.md; copy that last one to docs/ to publish it. The machine has
# torch and torchvision but no gradio: only tests that do not import the app run here.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu-device-run}"
PYTHON="${PYTHON:-python3}"
stage="${1:-all}"
case "$stage" in tests|bench|all) ;; *) echo "usage: $0 [tests|bench|all], not '$stage'" >&2; exit 2;; esac
mkdir -p "$OUT"
# Offline and quiet; CUBLAS_WORKSPACE_CONFIG lets cuBLAS repeat its sums exactly (the exact-resume test).
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 RESNET_TEST_DEVICE=cuda CUBLAS_WORKSPACE_CONFIG=:4096:8

{ nvidia-smi; "$PYTHON" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"; } \
    > "$OUT/nvidia-smi.txt" 2>&1
tail -n 1 "$OUT/nvidia-smi.txt"
status=0
if [[ "$stage" != bench ]]; then
    # The torchrun and SIGKILL tests exercise the CPU only and take minutes: left to CI.
    timeout 420 "$PYTHON" -m pytest -q -p no:cacheprovider --durations=15 \
        tests/test_gpu.py tests/test_model.py tests/test_predict.py tests/test_fast.py tests/test_devices.py tests/test_lab.py tests/test_train.py \
        -k "not torchrun and not sigkill" 2>&1 | tee "$OUT/tests.log" || status=1
fi
if [[ "$stage" != tests ]]; then
    timeout 540 "$PYTHON" -m benchmarks.gpu --out "$OUT/PERFORMANCE-GPU.md" 2>&1 | tee "$OUT/bench.log" || status=1
fi
exit "$status"
