"""The lesson tab's texts ("Start here", ui/tabs/lesson/tab.py) in both languages: the longest section, kept apart so
each language's module stays readable; ``en.STRINGS`` and ``zh_cn.STRINGS`` merge them."""

EN: dict[str, str] = {
    "tab.lesson": "Start here",
    "lesson.intro": (
        "## New to ResNet? Start here.\n"
        "The story of ResNet in six steps, in the order of the tutorial this app grew from. Each step says what matters "
        "in a few sentences and gives you something live: a measurement made here, or a button that opens the tab where "
        "you can explore it. Nothing here needs a download."
    ),
    "lesson.step1.title": "1. The residual block: y = F(x) + x",
    "lesson.step1": (
        "A residual block does not learn the mapping it should compute, H(x), directly. Its layers learn the "
        "*residual* F(x) = H(x) − x, and a shortcut adds the input back:\n\n$$y = F(x) + x$$\n\n"
        "If the best a block can do is to change nothing, its layers only have to push F towards zero, which is much "
        "easier than making a stack of nonlinear layers behave as an identity. The shortcut costs no parameters and one "
        "addition. See it beside every block of a real network, drawn from the model itself:"
    ),
    "lesson.step2.title": "2. Why: vanishing gradients and degradation",
    "lesson.step2": (
        "For years, stacking more layers stopped helping. Vanishing gradients were largely tamed by careful "
        "initialisation and BatchNorm, yet a deeper *plain* network still ended with a **higher training error** than a "
        "shallower one: the *degradation* problem (He et al. 2015, Fig. 1). It is not overfitting, since the error on "
        "the training data itself is worse; the deeper net is harder to optimise. Shortcuts remove it. Below is a run of "
        "this app's own experiment, shown at once from a file shipped with the project; run it live in the Residual "
        "learning tab, or compare gradients at initialisation in the Architecture tab."
    ),
    "lesson.step3.title": "3. The architecture: basic and bottleneck blocks, 18 to 152 layers",
    "lesson.step3": (
        "Every ResNet is a 7x7 convolution stem, four stages of blocks (each stage halves the feature map and doubles "
        "the width), global average pooling and one linear layer. ResNet-18 and 34 use the **basic block**: two 3x3 "
        "convolutions. ResNet-50, 101 and 152 use the **bottleneck**: a 1x1 convolution narrows the channels by 4, a 3x3 "
        "works at that width, a 1x1 widens back. Why: at 256 channels, two 3x3 convolutions cost about 17 times what "
        "the bottleneck costs (the paper's Fig. 5), which is how ResNet-50 is 16 layers deeper than ResNet-34 at about "
        "the same computation. Measure it here, at any width:"
    ),
    "lesson.step4.title": "4. Applications and transfer learning",
    "lesson.step4": (
        "A ResNet trained on ImageNet's 1.2 million photos has learned features (edges, textures, parts of objects) that "
        "are useful far beyond its 1000 classes, and it became the default backbone for object detection (Faster R-CNN, "
        "Mask R-CNN), segmentation and much more. *Transfer learning* reuses those features: keep the trained layers, "
        "replace the last one, and train on a few images of your own. Its weakness: deep networks **overfit small data "
        "sets**. Trained from scratch on a few dozen images, the whole network fits its training images far better than "
        "held-out ones; training only the head on pretrained features generalises much better. The Fine-tune tab plots "
        "training against held-out accuracy for every epoch, so you can watch it happen."
    ),
    "lesson.step5.title": "5. ResNet against other networks",
    "lesson.step5": (
        "Accuracy against cost, for networks from before and after ResNet. Parameters and multiply-accumulates (GMACs, "
        "one image) are counted here from each architecture, without weights; top-1 is the published ImageNet accuracy "
        "of each network's first weights in torchvision (plain-34: the paper's Table 2). The paper's Fig. 3 trio is "
        "ringed: VGG-19 needs 19.6 GMACs, the 34-layer plain net and ResNet-34 about 3.6, and only the residual one gains "
        "from its depth. The button also times every network here, one image at a time, all in 32-bit floats."
    ),
    "lesson.step6.title": "6. Check the ResNet you wrote",
    "lesson.step6": (
        "Wrote your own ResNet? Save its weights with `safetensors.torch.save_file(model.state_dict(), \"model.safetensors\")`, "
        "or the whole network with `torch.onnx.export(model, torch.zeros(1, 3, 224, 224), \"model.onnx\")`, and upload "
        "the file (a ResNet-50 is about 100 MB: that is fine; pickled .pt files are never opened). You get the first "
        "layer whose shape departs from the reference of the depth you meant, the parameter totals side by side and, "
        "for ONNX, the convolutions inside blocks with no ReLU after them. It catches two common mistakes: a bottleneck "
        "with no ReLU after its first two convolutions, and a ResNet-50 that keeps the basic block's widths (16-channel "
        "1x1 layers, a 512-input classifier instead of 2048). On your own computer, without uploading: "
        "`python -m resnet check my_resnet.py:resnet50 --arch resnet50`."
    ),
    "lesson.open.inside": "See the shortcuts in Inside the network",
    "lesson.open.lab": "Run the degradation experiment live",
    "lesson.open.flow": "Gradient flow in the Architecture tab",
    "lesson.open.architecture": "Every layer of 18 to 152 in the Architecture tab",
    "lesson.open.classify": "Classify your photos with a pretrained ResNet",
    "lesson.open.finetune": "Fine-tune on your own images (and watch it overfit)",
    "lesson.lab.provenance": (
        "Training error of plain and residual nets, from `{command}`, run on {machine} on {date}. "
        "Final training error: {finals}."
    ),
    "lesson.lab.missing": "No recorded run ships with this copy of the app: run the experiment live in the Residual learning tab.",
    "lesson.blocks.width": "Input width (channels, a multiple of 4)",
    "lesson.blocks.map_size": "Feature map size (pixels)",
    "lesson.blocks.button": "Compare the two blocks, and ResNet-34 with ResNet-50",
    "lesson.blocks.basic": "basic",
    "lesson.blocks.bottleneck": "bottleneck",
    "lesson.blocks.bad_width": "The width must be a positive multiple of 4 (the bottleneck narrows it by 4), got {width}.",
    "lesson.blocks.summary": (
        "Measured just now on {device}: at {width} channels on a {size}x{size} map the bottleneck has **{params}x fewer "
        "parameters** and **{macs}x fewer MACs** than the basic block. ResNet-50 is {deeper} layers deeper than ResNet-34, "
        "yet needs only {gmacs}x its GMACs; its forward pass took {time}x as long here (time depends on the device, "
        "counts do not)."
    ),
    "lesson.compare.x": "GMACs per image (log scale)",
    "lesson.compare.y": "ImageNet top-1 (%)",
    "lesson.compare.resnet": "ResNet",
    "lesson.compare.other": "other networks",
    "lesson.compare.fig3": "ringed: the paper's Fig. 3 (VGG-19, plain-34, ResNet-34)",
    "lesson.compare.area": "marker area = parameters",
    "lesson.compare.timed": "Also time every network here (about a minute on two CPU cores)",
    "lesson.compare.button": "Count again (and time) on this device",
    "lesson.compare.csv": "The comparison as CSV",
    "lesson.check.file": "Your model: .safetensors (a state_dict) or .onnx",
    "lesson.check.arch": "The depth you meant to build",
    "lesson.check.button": "Check it",
    "lesson.check.no_file": "Upload your model first: a .safetensors state_dict or an .onnx file.",
    "lesson.check.wrong_type": "{name} is neither .safetensors nor .onnx. Save the state_dict with safetensors, or export to ONNX (pickled .pt/.pth files are never opened).",
    "lesson.check.too_large": "{name} is over the {limit_mb} MB limit. Check a larger model on your own computer: python -m resnet check.",
    "lesson.check.unreadable": "{name} could not be read as a model file: it may be damaged or truncated. Save or export it again.",
    "lesson.check.layers": "Compared with **{arch}**: yours has {layers} convolution and linear layers, the reference {reference}.",
    "lesson.check.same_shapes": "Every layer's weight shape matches the reference.",
    "lesson.check.nothing": "nothing",
    "lesson.check.first": "**First difference, at layer {index}**: yours is {theirs}; the reference has {reference}.",
    "lesson.check.total.parameters": "Parameters: yours **{theirs}**, the reference **{reference}**.",
    "lesson.check.total.conv_linear_weights": (
        "Weights of the convolutions and linear layers (ONNX exporters fold BatchNorm into the convolutions, so only "
        "these are compared): yours **{theirs}**, the reference **{reference}**."
    ),
    "lesson.check.missing_relus": "**No ReLU after {count} convolution(s) inside blocks**: {names}. The paper puts a ReLU after each but the last of a block.",
    "lesson.check.relus_ok": "Every convolution is followed by a ReLU, or by the residual sum.",
    "lesson.check.no_graph": "A state_dict holds no graph, so activations cannot be checked: upload an .onnx export for that.",
    "lesson.column.block": "block",
    "lesson.column.convolutions": "convolutions",
    "lesson.column.params": "params",
    "lesson.column.MACs (M)": "MACs (M)",
    "lesson.column.forward ms": "forward ms (batch 1, fp32)",
    "lesson.column.network": "network",
    "lesson.column.layers": "layers",
    "lesson.column.GMACs": "GMACs",
    "lesson.column.year": "year",
    "lesson.column.input": "input",
    "lesson.column.params (M)": "params (M)",
    "lesson.column.top1": "ImageNet top-1 %",
    "lesson.column.top1 source": "source of top-1",
}

ZH_CN: dict[str, str] = {
    "tab.lesson": "从这里开始",
    "lesson.intro": (
        "## 第一次接触 ResNet？从这里开始。\n"
        "按本应用所依据的教程的顺序，用六步讲清 ResNet。每一步先用几句话说明要点，再给你一个可以动手的东西："
        "在这里当场测量的结果，或一个按钮，打开可以深入探索的标签页。这里的一切都不需要下载。"
    ),
    "lesson.step1.title": "1. 残差块：y = F(x) + x",
    "lesson.step1": (
        "残差块并不直接学习它应当计算的映射 H(x)。它的层学习的是*残差* F(x) = H(x) − x，再由一条捷径把输入加回来：\n\n"
        "$$y = F(x) + x$$\n\n"
        "如果一个块最好什么都不改变，它的层只需把 F 推向零；这比让一叠非线性层表现为恒等映射容易得多。"
        "捷径不需要任何参数，只多一次加法。在真实网络的每个块旁边看看它（图由模型本身画出）："
    ),
    "lesson.step2.title": "2. 为什么：梯度消失与退化",
    "lesson.step2": (
        "多年来，层数堆得越多，效果反而不再提升。仔细的初始化和 BatchNorm 已在很大程度上解决了梯度消失，"
        "可更深的*普通*网络最后的**训练误差**仍然高于较浅的网络：这就是*退化*问题（He 等，2015，图 1）。"
        "这不是过拟合，因为连训练数据上的误差都更高；更深的网络只是更难优化。捷径消除了这个问题。"
        "下面是本应用自己的实验跑出的一次结果，直接读取项目自带的文件、立即显示；"
        "可以在“残差学习”标签页里现场重跑，或在“网络结构”标签页里比较初始化时的梯度。"
    ),
    "lesson.step3.title": "3. 网络结构：基本块与瓶颈块，从 18 层到 152 层",
    "lesson.step3": (
        "每个 ResNet 都由一个 7x7 卷积的起始层、四个由残差块组成的阶段（每个阶段把特征图减半、通道数加倍）、"
        "全局平均池化和一个线性层构成。ResNet-18 和 34 使用**基本块**：两个 3x3 卷积。ResNet-50、101 和 152 使用**瓶颈块**："
        "先用 1x1 卷积把通道数缩小到四分之一，再在这个宽度上做 3x3 卷积，最后用 1x1 卷积恢复宽度。"
        "原因：在 256 个通道上，两个 3x3 卷积的开销约是瓶颈块的 17 倍（论文图 5）；正因如此，"
        "ResNet-50 比 ResNet-34 深 16 层，计算量却相差无几。在这里任选宽度亲自测一测："
    ),
    "lesson.step4.title": "4. 应用与迁移学习",
    "lesson.step4": (
        "在 ImageNet 的 120 万张照片上训练过的 ResNet 学到的特征（边缘、纹理、物体的局部）远不止对那 1000 个类别有用，"
        "它因此成为目标检测（Faster R-CNN、Mask R-CNN）、图像分割等众多任务的默认骨干网络。*迁移学习*就是复用这些特征："
        "保留训练好的层，替换最后一层，再用你自己的少量图片训练。它的弱点是：深度网络**容易在小数据集上过拟合**。"
        "用几十张图片从头训练时，整个网络对训练图片的拟合远好于留出图片；而在预训练特征上只训练分类头，泛化要好得多。"
        "“微调”标签页会逐轮画出训练准确率和留出准确率，让你亲眼看到这一点。"
    ),
    "lesson.step5.title": "5. ResNet 与其他网络的比较",
    "lesson.step5": (
        "ResNet 之前和之后的网络，准确率与开销的对比。参数量和乘加运算量（GMACs，每张图像）都是在这里根据各网络的结构"
        "计算出来的，不需要权重；top-1 是 torchvision 中各网络第一版权重公布的 ImageNet 准确率（plain-34 取自论文表 2）。"
        "论文图 3 中的三个网络加了圆环：VGG-19 需要 19.6 GMACs，34 层普通网络和 ResNet-34 约 3.6，"
        "而只有残差网络能从深度中获益。按钮还会在这里逐个测量每个网络处理一张图像的时间，全部使用 32 位浮点。"
    ),
    "lesson.step6.title": "6. 检查你自己写的 ResNet",
    "lesson.step6": (
        "自己写了一个 ResNet？用 `safetensors.torch.save_file(model.state_dict(), \"model.safetensors\")` 保存权重，"
        "或用 `torch.onnx.export(model, torch.zeros(1, 3, 224, 224), \"model.onnx\")` 导出整个网络，然后上传文件"
        "（ResNet-50 约 100 MB，没有问题；pickle 格式的 .pt 文件一律不会打开）。你会得到：与你想实现的深度的参考网络相比，"
        "第一个形状不同的层；双方的参数总数；对于 ONNX，还会列出块内后面没有 ReLU 的卷积。它能发现两个常见错误："
        "瓶颈块的前两个卷积后面没有 ReLU；以及 ResNet-50 沿用了基本块的宽度（16 通道的 1x1 层，分类器输入为 512 而不是 2048）。"
        "在你自己的电脑上，无需上传：`python -m resnet check my_resnet.py:resnet50 --arch resnet50`"
    ),
    "lesson.open.inside": "在“网络内部”中查看捷径",
    "lesson.open.lab": "现场运行退化实验",
    "lesson.open.flow": "在“网络结构”中查看梯度流",
    "lesson.open.architecture": "在“网络结构”中查看 18 到 152 层的每一层",
    "lesson.open.classify": "用预训练的 ResNet 识别你的照片",
    "lesson.open.finetune": "用你自己的图片微调（并观察过拟合）",
    "lesson.lab.provenance": "普通网络与残差网络的训练误差，来自 `{command}`，于 {date} 在 {machine} 上运行。最终训练误差：{finals}。",
    "lesson.lab.missing": "这份应用没有附带记录好的运行结果：请在“残差学习”标签页里现场运行实验。",
    "lesson.blocks.width": "输入宽度（通道数，4 的倍数）",
    "lesson.blocks.map_size": "特征图大小（像素）",
    "lesson.blocks.button": "比较两种块，以及 ResNet-34 与 ResNet-50",
    "lesson.blocks.basic": "基本块",
    "lesson.blocks.bottleneck": "瓶颈块",
    "lesson.blocks.bad_width": "宽度必须是 4 的正整数倍（瓶颈块会把它缩小到四分之一），收到的是 {width}。",
    "lesson.blocks.summary": (
        "刚刚在 {device} 上测得：在 {width} 个通道、{size}x{size} 的特征图上，瓶颈块的**参数少 {params} 倍**，"
        "**乘加运算少 {macs} 倍**。ResNet-50 比 ResNet-34 深 {deeper} 层，GMACs 却只是它的 {gmacs} 倍；"
        "在这里它的前向计算用时是 {time} 倍（时间取决于设备，运算量不取决于设备）。"
    ),
    "lesson.compare.x": "每张图像的 GMACs（对数刻度）",
    "lesson.compare.y": "ImageNet top-1（%）",
    "lesson.compare.resnet": "ResNet",
    "lesson.compare.other": "其他网络",
    "lesson.compare.fig3": "圆环：论文图 3（VGG-19、plain-34、ResNet-34）",
    "lesson.compare.area": "标记面积 = 参数量",
    "lesson.compare.timed": "同时在这里测量每个网络的用时（在两个 CPU 核上约一分钟）",
    "lesson.compare.button": "在这台设备上重新计算（并计时）",
    "lesson.compare.csv": "比较结果（CSV）",
    "lesson.check.file": "你的模型：.safetensors（state_dict）或 .onnx",
    "lesson.check.arch": "你想实现的深度",
    "lesson.check.button": "检查",
    "lesson.check.no_file": "请先上传模型：.safetensors 格式的 state_dict 或 .onnx 文件。",
    "lesson.check.wrong_type": "{name} 既不是 .safetensors 也不是 .onnx。请用 safetensors 保存 state_dict，或导出为 ONNX（pickle 格式的 .pt/.pth 文件一律不会打开）。",
    "lesson.check.too_large": "{name} 超过了 {limit_mb} MB 的上限。更大的模型请在你自己的电脑上检查：python -m resnet check。",
    "lesson.check.unreadable": "无法把 {name} 读取为模型文件：它可能已损坏或不完整。请重新保存或导出。",
    "lesson.check.layers": "与 **{arch}** 比较：你的模型有 {layers} 个卷积层和线性层，参考网络有 {reference} 个。",
    "lesson.check.same_shapes": "每一层权重的形状都与参考网络一致。",
    "lesson.check.nothing": "没有这一层",
    "lesson.check.first": "**第一个不同之处，在第 {index} 层**：你的是 {theirs}；参考网络是 {reference}。",
    "lesson.check.total.parameters": "参数量：你的 **{theirs}**，参考网络 **{reference}**。",
    "lesson.check.total.conv_linear_weights": (
        "卷积层和线性层的权重数（ONNX 导出时会把 BatchNorm 合并进卷积，所以只比较这些）：你的 **{theirs}**，参考网络 **{reference}**。"
    ),
    "lesson.check.missing_relus": "**块内有 {count} 个卷积后面没有 ReLU**：{names}。论文在块内除最后一个卷积外的每个卷积后面都接 ReLU。",
    "lesson.check.relus_ok": "每个卷积后面都接有 ReLU，或接入残差相加。",
    "lesson.check.no_graph": "state_dict 不包含计算图，无法检查激活函数：如需检查，请上传 .onnx 导出文件。",
    "lesson.column.block": "块",
    "lesson.column.convolutions": "卷积",
    "lesson.column.params": "参数量",
    "lesson.column.MACs (M)": "乘加运算（M）",
    "lesson.column.forward ms": "前向用时 ms（批大小 1，fp32）",
    "lesson.column.network": "网络",
    "lesson.column.layers": "层数",
    "lesson.column.GMACs": "GMACs",
    "lesson.column.year": "年份",
    "lesson.column.input": "输入",
    "lesson.column.params (M)": "参数量（M）",
    "lesson.column.top1": "ImageNet top-1 %",
    "lesson.column.top1 source": "top-1 来源",
}
