"""English: every text the app shows (also the fallback for languages the app does not have)."""

from .lab import EN as LAB
from .lesson import EN as LESSON

STRINGS: dict[str, str] = {
    # --- page and tabs
    "app.intro": "# ResNet Studio\nSee how ResNet is built, classify your photos, fine-tune one on your own images.",
    "tab.architecture": "Architecture",
    "tab.classify": "Classify",
    "tab.finetune": "Fine-tune",
    # --- Architecture
    "arch.depth": "Depth",
    "arch.input_size": "Input size (pixels)",
    "arch.network": "Network",
    "arch.residual": "Residual",
    "arch.plain": "Plain (no shortcuts)",
    "arch.rows": "Table rows",
    "arch.rows.layers": "Layers",
    "arch.rows.blocks": "Blocks",
    "arch.rows.stages": "Stages",
    "arch.csv": "This table as CSV",
    "arch.blocks_explained": (
        "**Basic block** (ResNet-18/34): two 3x3 convolutions, each followed by BatchNorm;\n"
        "a ReLU between them and one after the shortcut is added.\n\n"
        "**Bottleneck** (ResNet-50/101/152): a 1x1 convolution narrows the channels by 4,\n"
        "a 3x3 convolution works at that width (and strides, in torchvision's \"v1.5\"), a 1x1\n"
        "widens back; so layer1 turns 64 channels into 256.\n\n"
        "**Shortcut**: the block's input is added to its output. When the stride or width\n"
        "changes, a 1x1 convolution + BatchNorm (`downsample`) projects the input first.\n"
        "The *plain* network has the same convolutions and no shortcuts.\n\n"
        "**RF** is the receptive field: how many input pixels one output position can see,\n"
        "and how far apart neighbouring positions are."
    ),
    "arch.totals": (
        "**{arch}{plain}** at {size}x{size}: **{params}** parameters ({param_mb} MB), **{gmacs} G** MACs, "
        "{activation_mb} MB of activations for one image."
    ),
    "arch.totals.plain": " (plain)",
    "arch.compare": "All five depths side by side",
    "arch.compare_button": "Measure all depths on this device",
    "arch.compare_note": (
        "**forward ms (fast path)**: one photo's forward pass through the network alone (batch 1, random weights: the time does not "
        "depend on them), on this device's fast path, the one the Classify tab runs (BatchNorm folded into the "
        "convolutions, bf16 where the processor computes it fast); the median of 3 passes after a warm-up. The time "
        "the Classify tab shows also counts reading and preprocessing the photo."
    ),
    "arch.flow": "Gradient flow at initialisation: plain vs residual",
    "arch.flow_button": "Measure gradient flow for the chosen depth",
    "arch.flow_x": "block (input side first)",
    "arch.flow_y": "log10 of the gradient norm",
    "arch.flow_text": (
        "Measured just now ({arch}, one random batch at {size}x{size}, BatchNorm in training mode, random labels): "
        "in the **plain** net the first block's gradient is {plain}; in the **residual** net it is {residual}. "
        "With BatchNorm, gradients here do not vanish towards the input: without shortcuts they grow by many orders "
        "of magnitude, and with them they stay within a few. The ResNet paper itself says BatchNorm keeps gradients "
        "from vanishing and places the trouble with deep plain nets in optimisation, which is what shortcuts ease."
    ),
    "arch.flow.larger": "**about {ratio} times the last block's**",
    "arch.flow.smaller": "**about 1/{ratio} of the last block's**",
    "network.plain": "plain",
    "network.residual": "residual",
    # table columns (the summary's, the comparison's)
    "column.layer": "layer",
    "column.type": "type",
    "column.input": "input",
    "column.output": "output",
    "column.kernel/stride": "kernel/stride",
    "column.params": "params",
    "column.MACs (M)": "MACs (M)",
    "column.output (kB)": "output (kB)",
    "column.RF size/stride": "RF size/stride",
    "column.depth": "depth",
    "column.params (M)": "params (M)",
    "column.GMACs": "GMACs",
    "column.forward ms": "forward ms (batch 1, this device)",
    "column.fast ms": "forward ms (fast path)",
    "column.top1": "ImageNet top-1 %",
    "column.checkpoint": "checkpoint",
    "column.class": "class",
    "column.held-out accuracy": "held-out accuracy",
    # --- Classify
    "classify.photo": "Photo",
    "classify.model": "Model",
    "classify.button": "Classify",
    "classify.examples": "Example photos (licences in examples/LICENSES.md)",
    "classify.top5": "Top 5",
    "classify.overlay": "Grad-CAM: where the network saw the top class",
    "classify.timing": "{model}: {ms} ms on {device}, end to end (decoding the photo, resizing, one forward pass, the Grad-CAM map)",
    "classify.no_photo": "Add a photo first: upload one, take one with the webcam, paste one, or pick an example.",
    "classify.bad_file": "Cannot classify this file: {reason}",
    "classify.tuned_name": "fine-tuned {number}: {labels}",
    # --- Fine-tune
    "finetune.intro": (
        "Name two or more classes and give each some images (upload several files at once, or take webcam "
        "snapshots), or upload one .zip of class folders. At most {max_images} images; each file at most "
        "{max_mb} MB. A fifth of each class is held out to measure accuracy."
    ),
    "finetune.sample_button": "Load the sample set: brick, grass and gravel texture patches",
    "finetune.class": "Class",
    "finetune.class_name": "name",
    "finetune.images": "Images",
    "finetune.snapshot": "Webcam snapshot",
    "finetune.zip": "...or one .zip of class folders (<class>/<image>)",
    "finetune.start_from": "Start from",
    "finetune.offline_start": "{model} cannot be loaded on this server right now (it is not in the server's cache and the Hub cannot be reached), so training starts from scratch, which needs no download. Pick another start above once a model is available.",
    "finetune.from_scratch": "resnet18 (from scratch: works offline)",
    "finetune.strategy": "What to train",
    "finetune.strategy.head": "Head only (fast)",
    "finetune.strategy.last-stage": "Last stage + head",
    "finetune.strategy.full": "Everything",
    "finetune.epochs": "Epochs",
    "finetune.lr": "Learning rate",
    "finetune.rotate90": "Any way up",
    "finetune.rotate90_info": "Also train on the images turned by quarter turns: for things that look the same whatever way up (textures, cells, aerial views)",
    "finetune.button": "Train",
    "finetune.curve_x": "epoch",
    "finetune.curve_series": "series",
    "finetune.loss_y": "loss",
    "finetune.accuracy_y": "accuracy",
    "finetune.per_class": "Held-out accuracy per class",
    "finetune.confusion": "Confusion matrix of held-out images (rows: true, columns: predicted)",
    "finetune.download": "Download the model (.zip: model.onnx, preprocessing.json, config.json, model.safetensors, model card)",
    "finetune.push": "Push the model to the Hugging Face Hub",
    "finetune.repo": "Repo id",
    "finetune.repo_placeholder": "your-name/texture-classifier",
    "finetune.token": "Write token (not stored)",
    "finetune.push_button": "Push",
    "finetune.features": "Computing backbone features",
    "finetune.epoch": "Epoch {epoch}/{epochs}",
    "finetune.epoch_status": "Epoch {epoch}/{epochs}: train loss {loss}",
    "finetune.epoch_accuracy": ", held-out accuracy {accuracy}",
    "finetune.done": "Done: **{name}**. ",
    "finetune.done_accuracy": "Held-out accuracy {accuracy}. ",
    "finetune.done_where": "It is now in the Classify tab's model list, for this browser session only.",
    "finetune.skipped": " Skipped in the zip: {notes}.",
    "finetune.dropped": " This session keeps {limit} fine-tuned models: dropped {names}.",
    "finetune.unnamed": "A class has images but no name: name every class.",
    "finetune.stop": "Stop",
    "finetune.stopped": "Stopped after {epoch} of {epochs} epochs: the curve shows them; no model was kept. Train again to get one.",
    "finetune.stopped_early": "Stopped before the first epoch ended; no model was kept.",
    "finetune.not_running": "Nothing is training in this browser session.",
    "finetune.onnx_failed": " The ONNX export failed ({reason}); the zip holds the PyTorch checkpoint only.",
    "finetune.download_files": "Download the model: a .zip of {files}",
    "finetune.file.separator": ", ",
    "finetune.file.card": "README.md (model card)",
    "finetune.int8_kept": (
        " The zip also holds model-int8.onnx: the same top class as the full-precision model for {agreement} of the {count} held-out"
        " images, {int8_ms} ms per photo instead of {fp32_ms} ms on this server's processor."
    ),
    "finetune.int8_disagrees": (
        " model-int8.onnx is not in the zip: its top class matched the full-precision model's for only {agreement} of the {count}"
        " held-out images ({needed} needed)."
    ),
    "finetune.int8_no_held_out": " model-int8.onnx is not in the zip: no images were held out to check it on (give each class at least two).",
    "finetune.int8_no_calibration": " model-int8.onnx is not in the zip: no training images were left to calibrate it on.",
    "finetune.int8_no_onnxruntime": " model-int8.onnx is not in the zip: ONNX Runtime is not installed on this server (pip install -r requirements.txt).",
    "finetune.int8_failed": " model-int8.onnx is not in the zip: the int8 conversion failed ({reason}).",
    "finetune.checks_failed": "The images cannot be trained on yet: {problems}.",
    "finetune.warnings": " Check the data: {problems}.",
    "mistakes.title": "Held-out images: the mistakes, or else the least sure answers",
    "mistakes.filter": "Show (or click a cell of the confusion matrix)",
    "mistakes.gallery": "Held-out images the model got wrong (true → chosen), worst first, with the map of the class it chose",
    "mistakes.gallery_right": "No mistakes: the model's least sure right answers, with the map of the class it chose",
    "mistakes.all": "all ({count})",
    "mistakes.caption": "{true} → {predicted} {probability}",
    "mistakes.least_sure": "{true} {probability}",
    "mistakes.none_yet": "Fine-tune a model first: the mistakes are those of this session's last fine-tune.",
    "preview.title": "Try it live",
    "preview.intro": "Point the webcam at things, or drop a photo: this session's newest fine-tuned model labels every frame.",
    "preview.webcam": "Webcam (streams frames)",
    "preview.photo": "...or a photo",
    "preview.label": "Live prediction",
    "preview.no_model": "Fine-tune a model first: the preview uses this session's newest one.",
    "preview.model": "Model: {name}",
    "check.too_few_images": "class {label!r} has {count} image(s); it needs at least {minimum}, so that one can be held out to test on",
    "check.unreadable": "{name} in class {label!r} could not be read: {reason}",
    "check.imbalance": "class {largest!r} has {largest_count} images but class {smallest!r} only {smallest_count} ({ratio}x); the model will lean towards the larger class",
    "check.duplicate": "class {label!r} holds {count} copies of one image ({names}); a held-out copy tests nothing new",
    "check.duplicate_across_classes": "one image is in classes {labels} ({names}); it cannot be right in all of them",
    "check.too_small": "{count} image(s) of class {label!r} ({names}) are smaller than {minimum} px on their shorter side (the smallest is {smallest}); they will be enlarged, which blurs them",
    "finetune.series.train_loss": "train loss",
    "finetune.series.val_loss": "held-out loss",
    "finetune.series.train_top1": "training (running, augmented)",
    "finetune.series.val_top1": "held-out (end of epoch)",
    "push.no_model": "Fine-tune a model first.",
    "push.bad_repo": "Give a repo id such as your-name/my-classifier.",
    "push.failed": "Could not push to {repo}: {reason}",
    "push.done": "Pushed **{name}** to [{repo}]({url}).",
    # --- models a visitor may load (ui.models)
    "session.ended": "This page was closed; reload it to start again.",
    # --- ZeroGPU Spaces (ui/zerogpu.py)
    "zerogpu.quota": "Your free GPU time on this Space is used up for now (Hugging Face gives each visitor a daily ZeroGPU quota; logging in gives more).",
    "zerogpu.busy": "No GPU was free on this Space just now.",
    "zerogpu.on_cpu": "Running it on the CPU instead: this takes longer.",
    "zerogpu.on_cpu_slow": "Fine-tuning on the CPU instead: this can take many minutes (fewer epochs or photos, or “Head only”, make it quicker).",
    "models.not_in_session": "{name!r} is not a model of this browser session (fine-tuned models stay with the session that made them).",
    "models.refused": (
        "{name!r} is not a model this app offers. Choose one from the list or a model you fine-tuned in "
        "this session; this server allows {rule}."
    ),
    "models.rule.none": "no other models",
    "models.rule.patterns": "Hub models matching {patterns}",
    "models.advice": (
        " Pick another model, or fine-tune one from scratch in the Fine-tune tab. If you run this app: restart "
        "it with --model PATH_OR_REPO (or RESNET_STUDIO_MODEL=...)."
    ),
    "load.not_found": "{name} was not found on the Hugging Face Hub.",
    "load.gated": "{name} is gated on the Hugging Face Hub; this app cannot load it.",
    "load.unreachable": (
        "The Hugging Face Hub did not answer: this server cannot reach it (it may be offline), and {name} is not in "
        "its cache. What works without the Hub: the models already loaded, fine-tuning from scratch, and the Architecture tab."
    ),
    "load.timeout": (
        "The Hugging Face Hub accepted the connection but did not answer in time, and {name} is not in this server's "
        "cache. What works without the Hub: the models already loaded, fine-tuning from scratch, and the Architecture tab."
    ),
    "load.download": "{name} is not on this server yet: the first Classify downloads it from the Hugging Face Hub (that can take a minute).",
    "models.advice.not_cached": (
        " If you run this app: unset HF_HUB_OFFLINE so that it can download the model, point HF_HOME at a Hugging Face "
        "cache that holds it, or restart it with --model ./folder (a folder with config.json and model.safetensors)."
    ),
    "models.advice.unreachable": (
        " If you run this app without network: set HF_HUB_OFFLINE=1 and point HF_HOME at a Hugging Face cache that holds "
        "the model, or restart it with --model ./folder (a folder with config.json and model.safetensors)."
    ),
    "models.advice.timeout": (
        " Try again in a minute. If you run this app and the Hub stays silent (a proxy may hold the connection): set "
        "HF_HUB_OFFLINE=1 and point HF_HOME at a Hugging Face cache that holds the model, or restart it with --model ./folder."
    ),
    "load.not_cached": "{name} is not in the local Hugging Face cache, and this server runs offline (HF_HUB_OFFLINE=1).",
    "load.unsupported": "{name} is not a ResNet this app can load (ResNet-18 to 152, in the timm, transformers or ResNet Studio layout).",
    "load.damaged": "The files of {name} are damaged or do not match its architecture.",
    # --- images that cannot be used (resnet.transforms.ImageError codes)
    "image.not_image": "not an image format this app can read (use JPEG, PNG, WebP, GIF, BMP or TIFF)",
    "image.corrupt": "the image data is truncated or corrupt",
    "image.too_large": "{name} is over the {limit_mb} MB limit",
    "image.too_many_pixels": "the image is {width}x{height} pixels, over the limit of {limit} pixels; resize it first",
    "image.bomb": "the image claims {pixels} pixels, too many pixels to decode safely",
    "image.aspect": "the image is {width}x{height} pixels, longer than {ratio}:1; crop it closer to the subject",
    "image.empty": "{name} is empty (0 bytes)",
    "image.no_file": "the file {name} is gone; upload it again",
    "image.unsupported_input": "this input cannot be read as an image",
    # --- training data that cannot be used (train.data.DataError codes, zip notes)
    "data.data": "the training data cannot be used",
    "data.unnamed_class": "a class has an empty name; give every class a name",
    "data.same_names": "class names must differ: {names}",
    "data.one_class": "need at least two classes to tell apart, got {count}",
    "data.empty_class": "class {name!r} has no images; add some or remove the class",
    "data.too_many_images": "{count} images is over the limit of {limit}; use fewer per class",
    "data.unreadable_images": "{count} image(s) could not be read: {names}",
    "data.bad_zip": "{name} is not a readable zip archive",
    "data.zip_too_large": "the zip expands to {mb} MB, over the {limit_mb} MB limit",
    "data.zip_bomb": "{name} expands too far: refusing a possible zip bomb",
    "data.zip_too_many": "the zip holds more than {limit} images; use fewer",
    "data.zip_malformed": "{name} is larger than its zip header says: refusing a malformed archive",
    "data.zip_empty": "the zip holds no images in class folders (expected <class>/<image>.jpg)",
    "zip.unsafe_path": "{name} (unsafe path)",
    "zip.symlink": "{name} (symbolic link)",
    "zip.nested_archive": "{name} (archives inside the archive are not opened)",
    "zip.not_image": "{name} (not an image)",
    "zip.no_class": "{name} (not inside a class folder: expected <class>/<image>)",
    "error.invalid": "{reason}",
    # --- Gradio's own texts (ui/style.py): those its bundled Chinese lacks, and one it writes without its i18n
    "common.runs": "Runs",
    "common.runs_description": "View runs saved in this browser",
    "common.back_to_app": "App",
    "common.back_to_app_description": "Return to the app",
    "common.download_all": "Download All",
    "common.progress": "Progress",
    "common.run": "Run",
    "common.complete": "Complete",
    "common.upload": "Upload",
    "status.queue_position": "In queue: {position} of {size}",
    "dataframe.filter": "Filter",
    "dataframe.clear_filter": "Clear filters",
    "gradio.error": "Error",
    "gradio.warning": "Warning",
    "gradio.webcam": "Click to Access Webcam",
    "gradio.remove_file": "Remove this file",
    "gradio.reset": "Reset to default value",
    "gradio.upload_or_drop": "Click to upload or drop files",
    "gradio.number_input_for": "number input for ",
    "gradio.range_slider_for": "range slider for ",
    # --- inside the network (ui/tabs/inside/tab.py): add keys below this line
    "tab.inside": "Inside the network",
    "inside.intro": (
        "See a ResNet from the inside: its diagram, drawn from the model itself with the shape of every tensor, "
        "and what a checkpoint computes on a photo of yours. Everything here works offline: the diagram needs no "
        "weights, and the \"random weights\" model needs no download."
    ),
    "inside.diagram": "The network, block by block",
    "inside.arch": "Network (ImageNet or CIFAR-10)",
    "inside.diagram_help": (
        "Click a stage to unfold its blocks, and a block to see its layers. Each arrow carries the shape of its "
        "tensor (channels x height x width); the orange line beside a block is its shortcut, a box when it is a "
        "1x1 projection. The labels use the paper's notation. The SVG file holds the whole network, unfolded."
    ),
    "inside.svg": "The whole diagram as SVG",
    "inside.photo": "A photo through a checkpoint",
    "inside.random": "random weights (works offline)",
    "inside.button": "Look inside",
    "inside.grids": (
        "What the network sees, then the 16 most active channels after the stem and after each stage "
        "(each tile scaled to its own range; yellow is high)"
    ),
    "inside.filters": "The first convolution's filters as RGB (each scaled to its own range)",
    "inside.plot": "Response of each 3x3 layer (std): the network and its plain twin",
    "inside.plot_empty": "Drawn here when you press “Look inside”.",
    "inside.bad_file": "Cannot look inside with this file: {reason}",
    "inside.svg_title": "{name}{plain}, input 3 x {size} x {size}",
    "inside.plain_suffix": " (plain)",
    "inside.word.input": "input",
    "inside.word.output": "output",
    "inside.word.identity": "identity",
    "inside.word.shortcut": "shortcut: {shortcut}",
    "inside.word.no_shortcut": "no shortcut",
    "inside.view_caption": "input, 3 x {size} x {size}",
    "inside.grid_caption": "{stage}, {channels} x {height} x {width}",
    "inside.series.residual": "residual",
    "inside.series.plain": "plain",
    "inside.plot_x": "3x3 layer (input side first)",
    "inside.plot_y": "std of the response",
    "inside.heading": "**{model}** on this photo, at {size}x{size} after the checkpoint's own preprocessing.",
    "inside.random_note": (
        "**These weights are random** (never trained: every BatchNorm still holds its initial statistics), so the "
        "filters are noise and the feature maps show what the architecture alone does to the photo, not learned "
        "features. Pick a trained checkpoint to see those."
    ),
    "inside.trained_note": "Its BatchNorm statistics have moved from their initial values: these weights were trained.",
    "inside.measure": (
        "**Layer responses** (He et al. 2016, Fig. 7): the standard deviation of each 3x3 layer's output after its "
        "BatchNorm, before the addition and the ReLU, for this photo, in this network and in its *plain twin*: "
        "the same weights with the shortcuts taken out."
    ),
    "inside.responses_smaller": (
        "Here the residual network responds less than its plain twin in {count} (median ratio {ratio}), as in the "
        "paper's figure, where residual functions stay closer to zero than the functions a plain network has to learn."
    ),
    "inside.responses_larger": (
        "Here the residual network responds more than its plain twin in {count} (median ratio {ratio}), the opposite "
        "of the paper's figure."
    ),
    "inside.responses_mixed": (
        "Here neither network clearly responds less: the residual one is lower in {count} (median ratio {ratio})."
    ),
    "inside.layers_all": "all {layers} layers",
    "inside.layers_some": "{count} of the {layers} layers",
    "inside.twin_caveat": (
        "The paper compares a plain network trained on its own; this twin was never trained without shortcuts, so "
        "its layers see other inputs than the ones their BatchNorm statistics were measured on: a probe, not a "
        "replication."
    ),
    "inside.random_responses": (
        "With random weights this shows what the architecture does to a photo before any training, nothing about "
        "what was learned."
    ),
    # --- classify, one pass and many photos (ui/tabs/classify/): add keys below this line
    "classify.hint": "Click a class in the top 5 to see where the network saw it (no second pass through the network).",
    "classify.map_for": "Grad-CAM: where the network saw {label}",
    "classify.unknown_class": "{label} is not a class of this model.",
    "classify.column.file": "file",
    "classify.column.top1": "top-1 class",
    "classify.column.probability": "probability",
    "classify.column.top5": "top 5",
    "classify.column.error": "error",
    "classify.column.agrees": "agrees with",
    "classify.column.forward_ms": "forward pass ms",
    "classify.agree.both": "the majority and the deepest",
    "classify.agree.majority": "the majority",
    "classify.agree.deepest": "the deepest",
    "classify.agree.neither": "neither",
    "classify.agree.not_deepest": "not the deepest",
    "classify.many.title": "Many photos at once",
    "classify.many.files": "Photos, or .zip files of photos (at most {max_images} photos, {max_mb} MB per file)",
    "classify.many.button": "Classify them all",
    "classify.many.table": "One row per photo",
    "classify.many.csv": "The table as CSV",
    "classify.many.none": "Add photos or a .zip of photos first.",
    "classify.many.too_many": "That is more than {limit} photos; send fewer at a time.",
    "classify.many.progress": "Classifying the photos",
    "classify.many.done": "{model}: {classified} of {total} photos classified in {seconds} s ({per_photo} ms per photo, in batches of {batch}).",
    "classify.many.failed": " {failed} could not be read: see the error column.",
    "classify.many.skipped": " Skipped in the zip: {notes}.",
    "classify.depths.title": "All depths: this photo through ResNet-18 to ResNet-152",
    "classify.depths.intro": (
        "The photo above through the checkpoint of every depth this server has (cached, or reachable on the Hub): "
        "each one's top class, its published ImageNet top-1, and whether it agrees with the deepest one and, where "
        "three or more answered, with the majority. *forward pass ms* is one forward pass alone, measured now on the "
        "fast path Classify uses (batch 1, this server's device); Classify's own time also counts decoding the photo "
        "and the Grad-CAM map."
    ),
    "classify.depths.no_majority": " With two, there is no majority: each is compared with the deepest.",
    "classify.depths.button": "Classify with every depth",
    "classify.depths.answered": "{answered} of {total} depths answered.",
    "classify.depths.missing": " Not available: {reasons}",
    "data.zip_no_images": "the zip holds no images",
    # --- fine-tune, finished (ui/tabs/finetune/): add keys below this line
    "finetune.random_features": (
        "With random weights, “{strategy}” trains a classifier on random features: expect held-out accuracy near chance. "
        "Choose Everything to train the whole network from scratch, or start from a pretrained checkpoint."
    ),
    "finetune.overfitting": (
        "It fits its training images far better than the held-out ones ({train} against {held_out}): it has learned these "
        "images more than the classes (overfitting). More images per class, or a pretrained start with Head only, help. "
    ),
    "finetune.step.mistakes": "Finding the held-out mistakes and drawing their Grad-CAM maps...",
    "finetune.step.download": "Packaging the download (checkpoint and ONNX)...",
    **LAB,  # the residual learning lab's texts (ui/locales/lab.py)
    **LESSON,  # the lesson tab's texts (ui/locales/lesson.py)
}
