"""What a lab run shows, as message codes with parameters (for a UI to word) and in English; with the paper's Table 6."""

from __future__ import annotations

from typing import Any

from .results import LabResult, NetworkResult

__all__ = ["PAPER_TABLE6", "describe", "describe_text"]

# The paper's Table 6 (CIFAR-10 test error %, option A, 64k iterations): depth -> (params in millions, error).
# Plain nets are not in the table: Fig. 6 shows them only as curves (plain-110 above 60% error).
PAPER_TABLE6: dict[int, tuple[float, float]] = {20: (0.27, 8.75), 32: (0.46, 7.51), 44: (0.66, 7.17), 56: (0.85, 6.97), 110: (1.7, 6.43), 1202: (19.4, 7.93)}


def _error_of(net: NetworkResult) -> float:
    """The whole-set training error, or the last running error of a stopped run."""
    return net.final_train_error if net.final_train_error is not None else net.train_error[-1][1]


def describe(result: LabResult) -> list[tuple[str, dict[str, Any]]]:
    """What the run shows, as ``(message code, parameters)`` pairs for a UI to phrase in its language.

    Codes: ``measure`` (which error is compared), ``plain_deeper_worse`` / ``plain_deeper_not_worse``
    (the deepest plain net against the shallowest), ``residual_better`` / ``residual_not_better`` (per
    depth), ``long_training`` (when the deepest residual net ends above the shallowest: a note on training
    length), ``paper_resnet`` (Table 6, per depth the paper
    lists) and ``paper_plain`` (what the paper says of plain nets). Errors are fractions in [0, 1].
    ``describe_text`` gives the English wording.

    Args:
        result: a ``LabResult``; networks without a single curve point are left out.

    Returns:
        The messages, in reading order.
    """
    nets = {name: net for name, net in result.networks.items() if net.train_error}
    depths = sorted({net.depth for net in nets.values()})
    steps = max((net.steps_done for net in nets.values()), default=0)
    final = all(net.final_train_error is not None for net in nets.values())
    messages: list[tuple[str, dict[str, Any]]] = [("measure", {"final": final, "steps": steps, "smoothing": result.settings["smoothing"]})]
    plain = {d: _error_of(nets[f"plain-{d}"]) for d in depths if f"plain-{d}" in nets}
    residual = {d: _error_of(nets[f"residual-{d}"]) for d in depths if f"residual-{d}" in nets}
    if len(plain) >= 2:
        low, high = min(plain), max(plain)
        code = "plain_deeper_worse" if plain[high] > plain[low] else "plain_deeper_not_worse"
        messages.append((code, {"shallow": low, "deep": high, "shallow_error": plain[low], "deep_error": plain[high], "difference": plain[high] - plain[low]}))
    for d in depths:
        if d in plain and d in residual:
            code = "residual_better" if residual[d] < plain[d] else "residual_not_better"
            messages.append((code, {"depth": d, "plain_error": plain[d], "residual_error": residual[d], "difference": plain[d] - residual[d]}))
    if len(residual) >= 2 and residual[max(residual)] > residual[min(residual)]:  # the deeper residual net has not overtaken yet
        messages.append(("long_training", {"steps": steps, "paper_iterations": 64_000}))
    for d in depths:
        if d in PAPER_TABLE6:
            messages.append(("paper_resnet", {"depth": d, "params_millions": PAPER_TABLE6[d][0], "test_error_percent": PAPER_TABLE6[d][1]}))
    messages.append(("paper_plain", {"plain_110_error_above_percent": 60}))
    return messages


_ENGLISH = {
    "measure": "Compared: {what} after {steps} steps.",
    "plain_deeper_worse": "Degradation: plain-{deep} ends with a higher training error than plain-{shallow} "
    "({deep_error:.1%} vs {shallow_error:.1%}, {difference:+.1%}): the deeper plain net is harder to optimise.",
    "plain_deeper_not_worse": "No degradation this time: plain-{deep} ends at {deep_error:.1%} training error, "
    "plain-{shallow} at {shallow_error:.1%} ({difference:+.1%}).",
    "residual_better": "At {depth} layers the residual net fits better than its plain twin: {residual_error:.1%} vs {plain_error:.1%}.",
    "residual_not_better": "At {depth} layers the residual net does not beat its plain twin: {residual_error:.1%} vs {plain_error:.1%}.",
    "long_training": "Note: deeper residual nets overtake shallower ones only after long training "
    "(the paper trains {paper_iterations:,} iterations; this run {steps:,} steps).",
    "paper_resnet": "Paper, Table 6: ResNet-{depth} ({params_millions}M parameters) has {test_error_percent}% CIFAR-10 test error.",
    "paper_plain": "Paper: plain nets appear only as curves (Fig. 6); their error rises with depth, plain-110's is above {plain_110_error_above_percent}%.",
}


def describe_text(result: LabResult) -> str:
    """``describe`` in English, one sentence a line.

    Args:
        result: a ``LabResult``.

    Returns:
        The text.
    """
    lines = []
    for code, params in describe(result):
        if code == "measure":
            what = "the training error over the whole training set (eval mode)" if params["final"] else f"the running training error (last {params['smoothing']} batches; the run was stopped)"
            params = {**params, "what": what}
        lines.append(_ENGLISH[code].format(**params))
    return "\n".join(lines)
