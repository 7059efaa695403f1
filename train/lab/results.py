"""What a lab run gives back: per network, its curves and final errors; for the run, its settings."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from torch import nn

__all__ = ["LabResult", "NetworkResult"]


@dataclass
class NetworkResult:
    """One network's run: curves as ``(step, value)`` pairs, errors as fractions in [0, 1].

    Attributes:
        final_train_error: over the whole training set, eval mode; None when the run was stopped.
        held_out_error: over the held-out set, eval mode; None when stopped or nothing is held out.
        seconds: wall time of its training steps and final evaluation; twins trained as one network
            (``LabConfig.stacked``) share their steps' time evenly.
    """

    name: str  # "plain-20", "residual-56", ...
    depth: int
    plain: bool
    params: int
    train_error: list[tuple[int, float]] = field(default_factory=list)  # running, over the last SMOOTHING batches
    loss: list[tuple[int, float]] = field(default_factory=list)  # the same, for the cross-entropy loss
    final_train_error: Optional[float] = None
    held_out_error: Optional[float] = None
    seconds: float = 0.0
    steps_done: int = 0


@dataclass
class LabResult:
    """What ``run`` returns: one ``NetworkResult`` per network, the settings used and whether it was stopped.

    ``models`` holds the trained networks (eval mode), e.g. for per-layer response statistics;
    it is not part of ``to_dict`` / ``to_json``.
    """

    networks: dict[str, NetworkResult]
    settings: dict[str, Any]
    stopped: bool = False
    models: dict[str, nn.Module] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Networks, settings and the stopped flag as JSON-able values."""
        return {"networks": {k: asdict(v) for k, v in self.networks.items()}, "settings": self.settings, "stopped": self.stopped}

    def to_json(self, path: Optional[str | Path] = None) -> str:
        """``to_dict`` as indented JSON, also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text
