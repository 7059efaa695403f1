"""The residual learning lab: the degradation experiment of the paper's Fig. 6, small enough for a laptop CPU.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), section 4.2: a deeper
plain net ends with a *higher training error* than a shallower one (it is harder to optimise;
this is not overfitting), while the residual twin of the deeper net trains well. ``run``
trains the plain and the residual net of each depth in lockstep: at every step every network
takes the same batch, with the same schedule, so what differs is the architecture alone.

    python -m train.lab                                   # the default preset: depths 20 and 56
    python -m train.lab --preset quick --out lab.json --plot lab.png
    python -m train.lab --data patches --preset quick       # patches of the example photos instead of the digits
    python -m train.lab --data cifar10 --width 16 --image-size 32 --steps 64000 --depths 20 32 44 56

The running training error is the error of the training batches as they are trained on
(train mode), averaged over the last ``SMOOTHING`` steps. At the end each network's error is
measured again over the whole training set and over the held-out set, in eval mode.
"""

from .cli import main
from .config import PRESETS, SMOOTHING, LabConfig, batch_order, lr_at
from .data import CIFAR10_URL, DIGITS, PATCHES, LabData, load_data
from .findings import PAPER_TABLE6, describe, describe_text
from .experiment import run
from .results import LabResult, NetworkResult
from .twins import TwinResNet

__all__ = [
    "CIFAR10_URL", "DIGITS", "PATCHES", "PRESETS", "PAPER_TABLE6", "SMOOTHING", "LabConfig", "LabData", "LabResult",
    "NetworkResult", "TwinResNet", "batch_order", "describe", "describe_text", "load_data", "lr_at", "main", "run",
]
