"""The Inside the network tab: the diagram of any ResNet, folding by stage; and what a checkpoint computes on one photo.

The diagram is traced on the meta device (shapes only: nothing is drawn from any generator, nothing
is computed) and kept in a small cache. The photo goes through the checkpoint's own preprocessing and
a private copy of its fp32 network, so the hooks never touch the model other requests are using.
Everything works offline with the "random weights" choice.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any, Optional, Sequence

import gradio as gr
import torch
from PIL import Image
from torch import nn

import resnet
from resnet.anatomy.inspect import describe_responses, layer_responses, never_trained, plain_twin, stage_outputs
from resnet.anatomy.views import feature_grid, filter_tiles, response_plot
from resnet.assets import EXAMPLES
from resnet.checkpoints.config import ModelConfig, imagenet_labels
from resnet.cifar import cifar_resnet
from resnet.diagram import diagram as diagram_svg, diagram_html
from resnet.files import atomic_write
from resnet.transforms import ImageError
from ui.i18n import error_text, language, static, text
from ui.models import ModelPolicy, picker_choices, resolve
from ui.session import gpu, session_dir, upload_path

__all__ = ["NETWORKS", "RANDOM_WEIGHTS", "diagram", "inside", "model_choices", "natural_size", "tab"]

CIFAR_DEPTHS = (20, 32, 44, 56, 110)
# Value -> the name shown (a model name, the same in every language).
NETWORKS = {**{arch: f"ResNet-{arch[6:]}" for arch in resnet.ARCHS}, **{f"cifar{d}": f"CIFAR ResNet-{d}" for d in CIFAR_DEPTHS}}
RANDOM_WEIGHTS = "random weights (works offline)"  # the value API clients send; the page shows it translated
SIZES = (32, 512)  # the input sizes the diagram offers, in pixels
TOP_CHANNELS = 16
TILE = 64  # pixels per feature-map tile: 4 x 4 tiles make a picture about as wide as the photo
# The diagram's own words (``resnet.diagram.WORDS``) -> their texts.
DIAGRAM_WORDS = {
    "input": "inside.word.input", "output": "inside.word.output", "identity": "inside.word.identity",
    "shortcut": "inside.word.shortcut", "no_shortcut": "inside.word.no_shortcut",
}


def natural_size(arch: str) -> int:
    """The input size a network was made for: 32 pixels for the CIFAR nets, 224 for the ImageNet ones."""
    return 32 if arch.startswith("cifar") else 224


def _network(arch: str, plain: bool) -> nn.Module:
    """The network's layers on the meta device: the diagram needs shapes only, so nothing is drawn or computed."""
    with torch.device("meta"):
        if arch.startswith("cifar"):
            return cifar_resnet(int(arch[5:]), plain=plain)
        return resnet.build(arch, plain=plain)


@lru_cache(maxsize=16)
def _drawings(arch: str, plain: bool, size: int, lang: str) -> tuple[str, str]:
    """The foldable HTML and the standalone SVG in ``lang`` (each trace runs one forward pass; both are kept)."""
    model, input_size = _network(arch, plain), (1, 3, size, size)
    words = {word: text(lang, key, shortcut="{shortcut}") for word, key in DIAGRAM_WORDS.items()}  # the library fills {shortcut}
    title = text(lang, "inside.svg_title", name=NETWORKS[arch], plain=text(lang, "inside.plain_suffix") if plain else "", size=size)
    return diagram_html(model, input_size, words=words), diagram_svg(model, input_size, title=title, words=words)


def diagram(arch: str, network: str, input_size: float, request: gr.Request = None) -> tuple[str, str]:
    """The chosen network's diagram for the page (stages folded) and its whole drawing as an SVG file."""
    size = int(input_size)  # the slider and the dropdowns have checked every value against their ranges and choices
    page, svg = _drawings(arch, network == "plain", size, language(request))
    path = session_dir(request) / f"diagram-{arch}-{network}-{size}.svg"
    atomic_write(path, lambda tmp: tmp.write_text(svg, encoding="utf-8"))
    return page, str(path)


@lru_cache(maxsize=1)
def _random_classifier() -> resnet.Classifier:
    """A ResNet-18 straight from its initialisation, seeded, with ImageNet's labels and preprocessing: needs no download."""
    model = resnet.build("resnet18", generator=torch.Generator().manual_seed(0))
    return resnet.Classifier(model, ModelConfig("resnet18", imagenet_labels(), source=RANDOM_WEIGHTS), fast=False)


def model_choices(tuned: dict[str, resnet.Classifier], policy: ModelPolicy, current: str, request: gr.Request = None) -> gr.Dropdown:
    """The model picker's choices: the Classify tab's (this session's fine-tuned models first), then random weights."""
    return gr.Dropdown(choices=[*picker_choices(tuned, policy.listed, request), (text(request, "inside.random"), RANDOM_WEIGHTS)], value=current)


def _grids(model: nn.Module, x: torch.Tensor, view: Image.Image, request: Optional[gr.Request]) -> list[tuple[Image.Image, str]]:
    """The network's view of the photo, then the most active channels after the stem and after each stage."""
    size = x.shape[-1]
    shown = [(view, text(request, "inside.view_caption", size=size))]  # captions short enough for one line under a tile
    for stage, fmap in stage_outputs(model, x).items():
        channels, height, width = fmap.shape[1:]
        caption = text(request, "inside.grid_caption", stage=stage, channels=channels, height=height, width=width)
        shown.append((feature_grid(fmap[0], top=TOP_CHANNELS, size=TILE), caption))
    return shown


def _responses(model: nn.Module, x: torch.Tensor, untrained: bool, request: Optional[gr.Request]) -> tuple[str, str]:
    """He et al.'s Fig. 7 for this photo: the plot, and what it shows in words."""
    residual, plain = layer_responses(model, x), layer_responses(plain_twin(model), x)
    plot = response_plot(
        residual, plain, legend=(text(request, "inside.series.residual"), text(request, "inside.series.plain")),
        axis_titles=(text(request, "inside.plot_x"), text(request, "inside.plot_y")),
    )
    code, params = describe_responses(residual, plain)
    layers = params["layers"]
    smaller = round(params["share"] * layers)
    counted = layers - smaller if code == "responses_larger" else smaller  # the layers the sentence speaks of
    count = text(request, "inside.layers_all", layers=layers) if counted == layers else text(request, "inside.layers_some", count=counted, layers=layers)
    key = {"responses_smaller": "inside.responses_smaller", "responses_larger": "inside.responses_larger", "responses_mixed": "inside.responses_mixed"}[code]
    words = text(request, key, count=count, ratio=f"{params['median_ratio']:.2f}")
    caveat = text(request, "inside.random_responses") if untrained else text(request, "inside.twin_caveat")
    return plot, text(request, "inside.measure") + f"\n\n{words} {caveat}"


@gpu
def inside(
    image: Any, model_name: str, tuned: dict[str, resnet.Classifier], policy: ModelPolicy, request: gr.Request = None
) -> tuple[list[tuple[Image.Image, str]], Image.Image, str, str]:
    """Feature maps after the stem and each stage, the first layer's filters, and layer responses against the plain twin."""
    path = upload_path(image, request)
    classifier = _random_classifier() if model_name == RANDOM_WEIGHTS else resolve(model_name, tuned, policy, request)
    try:
        x, view = classifier.prepare(path)  # the checkpoint's own preprocessing, and what it leaves of the photo
    except ImageError as e:
        raise gr.Error(text(request, "inside.bad_file", reason=error_text(request, e)), print_exception=False) from e
    # A copy of the fp32 network: hooks on the shared model would also see other requests' forward passes.
    model = copy.deepcopy(classifier.model)
    x = x[None].to(classifier.device)
    untrained = never_trained(model)
    grids = _grids(model, x, view, request)
    filters = filter_tiles(model.conv1.weight)
    plot, responses = _responses(model, x, untrained, request)
    shown_name = text(request, "inside.random") if model_name == RANDOM_WEIGHTS else model_name
    heading = text(request, "inside.heading", model=shown_name, size=x.shape[-1])
    weights = text(request, "inside.random_note" if untrained else "inside.trained_note")
    return grids, filters, plot, f"{heading} {weights}\n\n{responses}"


def tab(demo: gr.Blocks, checkpoints: Sequence[str], default_model: str, tuned: gr.State, policy: gr.State) -> None:
    """Declare the Inside the network tab and wire it (the diagram also draws on page load)."""
    networks = [(name, value) for value, name in NETWORKS.items()]
    photos = [[str(p)] for p in sorted(EXAMPLES.glob("*.*")) if p.suffix in (".png", ".jpg")]
    with gr.Tab(static("tab.inside"), elem_id="inside-tab"):
        gr.Markdown(static("inside.intro"))
        with gr.Accordion(static("inside.diagram"), open=True, elem_id="inside-diagram-part"):
            with gr.Row():
                arch = gr.Dropdown(networks, value="resnet50", label=static("inside.arch"), elem_id="inside-arch")
                network = gr.Radio(
                    [(static("arch.residual"), "residual"), (static("arch.plain"), "plain")], value="residual",
                    label=static("arch.network"), elem_id="inside-network",
                )
                size = gr.Slider(*SIZES, value=224, step=32, label=static("arch.input_size"), elem_id="inside-size")
            gr.Markdown(static("inside.diagram_help"))
            drawing = gr.HTML(elem_id="inside-diagram", js_on_load=None)
            svg_file = gr.File(label=static("inside.svg"), elem_id="inside-svg")
        with gr.Accordion(static("inside.photo"), open=True, elem_id="inside-photo-part"):
            with gr.Row():
                image = gr.Image(
                    type="filepath", sources=["upload", "clipboard"], label=static("classify.photo"), height=300, elem_id="inside-image", scale=1
                )
                with gr.Column(scale=1):
                    model = gr.Dropdown(
                        [*((c, c) for c in checkpoints), (static("inside.random"), RANDOM_WEIGHTS)], value=default_model,
                        label=static("classify.model"), allow_custom_value=True, elem_id="inside-model",
                    )
                    button = gr.Button(static("inside.button"), variant="primary", elem_id="inside-button")
                    gr.Examples(photos, inputs=[image], label=static("classify.examples"), elem_id="inside-examples")
                summary = gr.Markdown(elem_id="inside-text", scale=2)
            # One row of six: the photo as the network sees it, the stem, four stages.
            grids = gr.Gallery(label=static("inside.grids"), columns=6, height=240, object_fit="contain", format="png", elem_id="inside-grids")
            with gr.Row():
                filters = gr.Image(label=static("inside.filters"), interactive=False, format="png", height=300, elem_id="inside-filters", scale=1)
                plot = gr.HTML(
                    static("inside.plot_empty"), label=static("inside.plot"), show_label=True, container=True, padding=True, js_on_load=None,
                    elem_id="inside-plot", scale=2,
                )

    shown = [drawing, svg_file]
    gr.on([demo.load, network.change, size.release], diagram, [arch, network, size], shown, api_name="diagram")
    arch.change(natural_size, arch, size, api_name="natural_size").then(diagram, [arch, network, size], shown, api_visibility="private")
    tuned.change(model_choices, [tuned, policy, model], model, api_visibility="private")
    button.click(
        inside, [image, model, tuned, policy], [grids, filters, plot, summary], api_name="inside", preprocess=False,
        concurrency_id="inside", concurrency_limit=2, time_limit=120,
    )
