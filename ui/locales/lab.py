"""The residual learning lab's texts (ui/tabs/lab/tab.py) in both languages, kept apart like the lesson's so each
language's module stays under its size; ``en.STRINGS`` and ``zh_cn.STRINGS`` merge them."""

EN: dict[str, str] = {
    "tab.lab": "Residual learning",
    "lab.intro": (
        "**Why shortcuts?** A deeper *plain* network fits its own training data worse than a shallower one: the "
        "*degradation problem* (He et al. 2015, Fig. 1 and Fig. 6). Here the paper's CIFAR networks (6n+2 layers, "
        "three stages, option A shortcuts) are trained live on this device, plain and residual twins side by side, on "
        "the same batches of the data you choose: by default handwritten digits (UCI), each scaled to 16 x 16 pixels. "
        "The curves show the running training error; at the end each network's error over its whole training set is measured. How long "
        "matters: with the longer preset the gap narrows on these small digits, as the deep plain net catches up late."
    ),
    "lab.depths": "Depths (layers)",
    "lab.preset": "How long",
    "lab.preset.quick": "quick: about 25 seconds on two CPU cores",
    "lab.preset.default": "standard: about a minute on two CPU cores",
    "lab.preset.longer": "longer: four depths, about five minutes on two CPU cores",
    "lab.steps": "SGD steps per network",
    "lab.data": "Data",
    "lab.data.digits": "handwritten digits (UCI: 1,797 images of 10 digits)",
    "lab.data.patches": "patches of the five example photos (class: the photo)",
    "lab.data.zip": "your own .zip of class folders",
    "lab.zip": "A .zip of class folders (<class>/<image>.jpg), each image scaled to 16 x 16 pixels",
    "lab.samples": "Training images of the chosen data, a row per class",
    "lab.no_zip": "Upload a .zip of class folders first, or choose other data.",
    "lab.few_steps": "Choose at least {steps} steps: fewer show nothing of the effect.",
    "lab.too_few": "The data has {count} training images, fewer than one batch of {batch}: use more images.",
    "lab.run": "Run the experiment",
    "lab.stop": "Stop",
    "lab.plot_x": "SGD step",
    "lab.plot_y": "training error (running)",
    "lab.no_depth": "Choose at least one depth.",
    "lab.stopped": "Stopped at step {step} of {steps}: the curves show the steps done.",
    "lab.stopped_early": "Stopped before the first step.",
    "lab.running": "Training every network on the same batches: step {step} of {steps}.",
    "lab.evaluating": "Training done: measuring each network's error over the whole training set and the held-out images...",
    "lab.data_changed": "Other data chosen: press **Run the experiment** to train the networks on them.",
    "lab.measure.final": "Measured just now: the training error over the whole training set (eval mode) after {steps} steps.",
    "lab.measure.running": "Stopped after {steps} steps: the running training error of the last {smoothing} batches.",
    "lab.plain_deeper_worse": (
        "**Degradation**: plain-{deep} ends with a higher training error than plain-{shallow} ({deep_error} vs "
        "{shallow_error}, {difference}): the deeper plain net is harder to optimise."
    ),
    "lab.plain_deeper_not_worse": "No degradation this time: plain-{deep} ends at {deep_error} training error, plain-{shallow} at {shallow_error} ({difference}).",
    "lab.residual_better": "At {depth} layers the **residual** net fits better than its plain twin: {residual_error} vs {plain_error}.",
    "lab.residual_not_better": "At {depth} layers the residual net does not beat its plain twin: {residual_error} vs {plain_error}.",
    "lab.long_training": (
        "Longer training would change this: deeper *residual* nets overtake shallower ones only after long training "
        "(the paper trains {paper_iterations:,} iterations; this run {steps:,} steps)."
    ),
    "lab.paper_resnet": "The paper's Table 6 (not measured here): ResNet-{depth} ({params_millions}M parameters) has {test_error_percent}% CIFAR-10 test error.",
    "lab.paper_plain": "The paper (not measured here): plain nets appear only as curves (Fig. 6); their error rises with depth, plain-110's is above {plain_110_error_above_percent}%.",
}

ZH_CN: dict[str, str] = {
    "tab.lab": "残差学习",
    "lab.intro": (
        "**为什么要捷径连接？** 更深的*普通网络*反而比浅的更难拟合自己的训练数据：这就是*退化问题*"
        "（He et al. 2015，图 1 和图 6）。这里在本设备上现场训练论文中的 CIFAR 网络（6n+2 层，三个阶段，"
        "A 型捷径连接），普通网络和残差网络成对比较，用的是你所选数据中的同一批图片：默认是手写数字（UCI），"
        "每张缩放到 16 x 16 像素。曲线是滑动平均的训练误差；训练结束时再测量每个网络在整个训练集上的误差。"
        "训练时长很重要：选“更长”时，在这些小小的手写数字上差距会缩小，深的普通网络只是追得更晚。"
    ),
    "lab.depths": "深度（层数）",
    "lab.preset": "训练时长",
    "lab.preset.quick": "快速：双核 CPU 上约 25 秒",
    "lab.preset.default": "标准：双核 CPU 上约一分钟",
    "lab.preset.longer": "更长：四种深度，双核 CPU 上约五分钟",
    "lab.steps": "每个网络的 SGD 步数",
    "lab.data": "数据",
    "lab.data.digits": "手写数字（UCI：10 个数字共 1,797 张图）",
    "lab.data.patches": "从五张示例照片上切下的图块（类别即所属照片）",
    "lab.data.zip": "你自己的 zip（每个类别一个文件夹）",
    "lab.zip": "按类别分文件夹的 zip（<类别>/<图片>.jpg），每张图缩放到 16 x 16 像素",
    "lab.samples": "所选数据中的训练图片，每行一个类别",
    "lab.no_zip": "请先上传按类别分文件夹的 zip，或者选择其他数据。",
    "lab.few_steps": "请至少选择 {steps} 步：步数更少时看不出任何效果。",
    "lab.too_few": "数据中只有 {count} 张训练图片，不够一个批次（{batch} 张）：请使用更多图片。",
    "lab.run": "开始实验",
    "lab.stop": "停止",
    "lab.plot_x": "SGD 步数",
    "lab.plot_y": "训练误差（滑动平均）",
    "lab.no_depth": "请至少选择一种深度。",
    "lab.stopped": "已在第 {step}/{steps} 步停止：曲线显示已完成的步数。",
    "lab.stopped_early": "在第一步之前已停止。",
    "lab.running": "所有网络正在相同的批次上训练：第 {step}/{steps} 步。",
    "lab.evaluating": "训练完成：正在测量每个网络在整个训练集和留出图片上的错误率……",
    "lab.data_changed": "已换用其他数据：点击 **开始实验** 在这些数据上训练网络。",
    "lab.measure.final": "刚刚测得：训练 {steps} 步之后，在整个训练集上的训练误差（评估模式）。",
    "lab.measure.running": "在第 {steps} 步停止：最近 {smoothing} 个批次的滑动训练误差。",
    "lab.plain_deeper_worse": (
        "**退化**：plain-{deep} 最终的训练误差高于 plain-{shallow}（{deep_error} 对 {shallow_error}，{difference}）："
        "更深的普通网络更难优化。"
    ),
    "lab.plain_deeper_not_worse": "这次没有出现退化：plain-{deep} 的训练误差为 {deep_error}，plain-{shallow} 为 {shallow_error}（{difference}）。",
    "lab.residual_better": "在 {depth} 层时，**残差网络**比对应的普通网络拟合得更好：{residual_error} 对 {plain_error}。",
    "lab.residual_not_better": "在 {depth} 层时，残差网络没有胜过对应的普通网络：{residual_error} 对 {plain_error}。",
    "lab.long_training": (
        "训练更久会改变结果：更深的*残差网络*要经过长时间训练才会超过较浅的"
        "（论文训练了 {paper_iterations:,} 次迭代；本次只有 {steps:,} 步）。"
    ),
    "lab.paper_resnet": "论文表 6（并非此处测得）：ResNet-{depth}（{params_millions}M 个参数）在 CIFAR-10 上的测试误差为 {test_error_percent}%。",
    "lab.paper_plain": "论文（并非此处测得）：普通网络只以曲线形式出现（图 6）；误差随深度上升，plain-110 高于 {plain_110_error_above_percent}%。",
}
