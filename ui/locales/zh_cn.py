"""简体中文：界面上的每一段文字。术语按中文深度学习文献的习惯（残差块、瓶颈块、捷径连接、感受野、批量归一化、微调、混淆矩阵）；
ResNet-50、MACs、Grad-CAM 等技术名称保持原样。"""

from .lab import ZH_CN as LAB
from .lesson import ZH_CN as LESSON

STRINGS: dict[str, str] = {
    # --- 页面与标签页
    "app.intro": "# ResNet Studio\n看看 ResNet 是怎样搭起来的，给你的照片分类，再用你自己的图片微调一个模型。",
    "tab.architecture": "网络结构",
    "tab.classify": "图像分类",
    "tab.finetune": "微调",
    # --- 网络结构
    "arch.depth": "深度",
    "arch.input_size": "输入尺寸（像素）",
    "arch.network": "网络",
    "arch.residual": "残差网络",
    "arch.plain": "普通网络（无捷径连接）",
    "arch.rows": "表格的行",
    "arch.rows.layers": "逐层",
    "arch.rows.blocks": "逐块",
    "arch.rows.stages": "逐阶段",
    "arch.csv": "下载此表（CSV）",
    "arch.blocks_explained": (
        "**基本残差块**（ResNet-18/34）：两个 3x3 卷积，每个后接批量归一化（BatchNorm）；\n"
        "两者之间一个 ReLU，捷径连接相加之后再一个 ReLU。\n\n"
        "**瓶颈块**（ResNet-50/101/152）：1x1 卷积把通道数缩小为 1/4，\n"
        "3x3 卷积在这个宽度上计算（torchvision 的 “v1.5” 在这里做步幅），再用 1x1 卷积\n"
        "扩回去；所以 layer1 把 64 个通道变成 256 个。\n\n"
        "**捷径连接**：块的输入直接加到输出上。步幅或宽度变化时，\n"
        "先用 1x1 卷积 + 批量归一化（`downsample`）对输入做投影。\n"
        "*普通网络*有同样的卷积层，但没有捷径连接。\n\n"
        "**RF** 是感受野：一个输出位置能看到多少个输入像素，\n"
        "以及相邻输出位置在输入上相隔多远。"
    ),
    "arch.totals": (
        "**{arch}{plain}**，输入 {size}x{size}：**{params}** 个参数（{param_mb} MB），**{gmacs} G** 次乘加（MACs），"
        "一张图片的激活值共 {activation_mb} MB。"
    ),
    "arch.totals.plain": "（普通网络）",
    "arch.compare": "五种深度并排比较",
    "arch.compare_button": "在本设备上测量所有深度",
    "arch.compare_note": (
        "**前向 ms（快速路径）**：一张照片单独通过网络做一次前向传播的时间（批大小 1，随机权重：耗时与权重无关），"
        "走的是本设备上的快速路径，也就是图像分类标签页所用的路径（批量归一化并入卷积，处理器能快速计算 bf16 时用 bf16）；"
        "预热一次后测 3 次取中位数。图像分类标签页显示的时间还包括读取和预处理照片。"
    ),
    "arch.flow": "初始化时的梯度流：普通网络 vs 残差网络",
    "arch.flow_button": "测量所选深度的梯度流",
    "arch.flow_x": "残差块（从输入端开始）",
    "arch.flow_y": "梯度范数的 log10",
    "arch.flow_text": (
        "刚刚测得（{arch}，一批 {size}x{size} 的随机输入，批量归一化处于训练模式，随机标签）："
        "**普通网络**中第一个块的梯度{plain}；**残差网络**中{residual}。"
        "有了批量归一化，这里的梯度并不会在靠近输入处消失：没有捷径连接时，梯度增长了好几个数量级；"
        "有捷径连接时，只相差几个数量级以内。ResNet 论文本身也指出，批量归一化避免了梯度消失，"
        "深层普通网络的困难在于优化，而捷径连接缓解的正是这一点。"
    ),
    "arch.flow.larger": "**约为最后一个块的 {ratio} 倍**",
    "arch.flow.smaller": "**约为最后一个块的 1/{ratio}**",
    "network.plain": "普通网络",
    "network.residual": "残差网络",
    # 表格列名
    "column.layer": "层",
    "column.type": "类型",
    "column.input": "输入",
    "column.output": "输出",
    "column.kernel/stride": "卷积核/步幅",
    "column.params": "参数量",
    "column.MACs (M)": "MACs（百万）",
    "column.output (kB)": "输出（kB）",
    "column.RF size/stride": "感受野大小/步幅",
    "column.depth": "深度",
    "column.params (M)": "参数量（百万）",
    "column.GMACs": "GMACs",
    "column.forward ms": "前向耗时 ms（批大小 1，本设备）",
    "column.fast ms": "前向 ms（快速路径）",
    "column.top1": "ImageNet top-1 %",
    "column.checkpoint": "检查点",
    "column.class": "类别",
    "column.held-out accuracy": "留出集准确率",
    # --- 图像分类
    "classify.photo": "照片",
    "classify.model": "模型",
    "classify.button": "分类",
    "classify.examples": "示例照片（许可证见 examples/LICENSES.md）",
    "classify.top5": "前 5 个类别",
    "classify.overlay": "Grad-CAM：网络在哪里看到了第一名的类别",
    "classify.timing": "{model}：在 {device} 上端到端用时 {ms} ms（解码照片、缩放、一次前向计算、Grad-CAM 热力图）",
    "classify.no_photo": "请先添加一张照片：上传、用摄像头拍摄、粘贴，或选一张示例。",
    "classify.bad_file": "无法对这个文件分类：{reason}",
    "classify.tuned_name": "微调模型 {number}：{labels}",
    # --- 微调
    "finetune.intro": (
        "给两个或更多类别命名，并为每个类别提供一些图片（可一次上传多个文件，或用摄像头拍照），"
        "也可以上传一个按类别分文件夹的 .zip。最多 {max_images} 张图片，每个文件最大 {max_mb} MB。"
        "每个类别留出五分之一的图片用来测量准确率。"
    ),
    "finetune.sample_button": "载入示例数据：砖墙、草地和碎石的纹理小块",
    "finetune.class": "类别",
    "finetune.class_name": "名称",
    "finetune.images": "图片",
    "finetune.snapshot": "摄像头拍照",
    "finetune.zip": "……或一个按类别分文件夹的 .zip（<类别>/<图片>）",
    "finetune.start_from": "起点模型",
    "finetune.offline_start": "{model} 目前无法在此服务器上加载（服务器的缓存中没有它，也连不上 Hub），因此改为从零训练，无需下载。有可用模型后，可在上方选择其他起点。",
    "finetune.from_scratch": "resnet18（从零训练：可离线使用）",
    "finetune.strategy": "训练哪些部分",
    "finetune.strategy.head": "只训练分类头（快）",
    "finetune.strategy.last-stage": "最后一个阶段 + 分类头",
    "finetune.strategy.full": "全部",
    "finetune.epochs": "训练轮数（epoch）",
    "finetune.lr": "学习率",
    "finetune.rotate90": "朝向无关",
    "finetune.rotate90_info": "同时用旋转 90° 倍数的图片训练：适合无论怎么放都一样的东西（纹理、细胞、航拍图）",
    "finetune.button": "开始训练",
    "finetune.curve_x": "轮次",
    "finetune.curve_series": "曲线",
    "finetune.loss_y": "损失",
    "finetune.accuracy_y": "准确率",
    "finetune.per_class": "各类别的留出集准确率",
    "finetune.confusion": "留出图片的混淆矩阵（行：真实类别，列：预测类别）",
    "finetune.download": "下载模型（.zip：model.onnx、preprocessing.json、config.json、model.safetensors、模型卡）",
    "finetune.push": "把模型推送到 Hugging Face Hub",
    "finetune.repo": "仓库 id",
    "finetune.repo_placeholder": "your-name/texture-classifier",
    "finetune.token": "写入权限令牌（不会保存）",
    "finetune.push_button": "推送",
    "finetune.features": "正在计算主干网络特征",
    "finetune.epoch": "第 {epoch}/{epochs} 轮",
    "finetune.epoch_status": "第 {epoch}/{epochs} 轮：训练损失 {loss}",
    "finetune.epoch_accuracy": "，留出集准确率 {accuracy}",
    "finetune.done": "完成：**{name}**。",
    "finetune.done_accuracy": "留出集准确率 {accuracy}。",
    "finetune.done_where": "它已加入“图像分类”标签页的模型列表，仅在当前浏览器会话中可用。",
    "finetune.skipped": " zip 中跳过了：{notes}。",
    "finetune.dropped": " 每个会话最多保留 {limit} 个微调模型：已移除 {names}。",
    "finetune.unnamed": "有一个类别有图片但没有名称：请给每个类别命名。",
    "finetune.stop": "停止",
    "finetune.stopped": "已在完成 {epoch}/{epochs} 轮后停止：曲线显示了这些轮次；没有保留模型。请重新训练以得到模型。",
    "finetune.stopped_early": "在第一轮结束前已停止；没有保留模型。",
    "finetune.not_running": "当前浏览器会话中没有正在进行的训练。",
    "finetune.onnx_failed": " ONNX 导出失败（{reason}）；zip 中只有 PyTorch 检查点。",
    "finetune.download_files": "下载模型：一个 .zip，内含 {files}",
    "finetune.file.separator": "、",
    "finetune.file.card": "README.md（模型卡）",
    "finetune.int8_kept": (
        " zip 中还有 model-int8.onnx：在 {count} 张留出图像中，它与全精度模型给出相同首选类别的比例为 {agreement}；"
        "在本服务器的处理器上每张照片用时 {int8_ms} 毫秒（全精度模型 {fp32_ms} 毫秒）。"
    ),
    "finetune.int8_disagrees": " zip 中没有 model-int8.onnx：在 {count} 张留出图像中，它与全精度模型的首选类别只有 {agreement} 一致（至少需要 {needed}）。",
    "finetune.int8_no_held_out": " zip 中没有 model-int8.onnx：没有留出图像可用来检查它（每个类别至少需要两张图像）。",
    "finetune.int8_no_calibration": " zip 中没有 model-int8.onnx：没有剩余的训练图像可用来校准它。",
    "finetune.int8_no_onnxruntime": " zip 中没有 model-int8.onnx：本服务器未安装 ONNX Runtime（请运行 pip install -r requirements.txt）。",
    "finetune.int8_failed": " zip 中没有 model-int8.onnx：int8 转换失败（{reason}）。",
    "finetune.checks_failed": "这些图片还不能用来训练：{problems}。",
    "finetune.warnings": " 请检查数据：{problems}。",
    "mistakes.title": "留出图片：判断错误的，或最没把握的",
    "mistakes.filter": "显示（或点击混淆矩阵中的一格）",
    "mistakes.gallery": "模型判断错误的留出图片（真实 → 所选），按严重程度排列，叠加其所选类别的激活图",
    "mistakes.gallery_right": "没有判断错误：这些是模型最没把握的正确回答，叠加其所选类别的激活图",
    "mistakes.all": "全部（{count}）",
    "mistakes.caption": "{true} → {predicted} {probability}",
    "mistakes.least_sure": "{true} {probability}",
    "mistakes.none_yet": "请先微调一个模型：这里显示的是当前会话最近一次微调的错误。",
    "preview.title": "实时试用",
    "preview.intro": "把摄像头对准物体，或拖入一张照片：当前会话最新的微调模型会给每一帧打上标签。",
    "preview.webcam": "摄像头（连续传送画面）",
    "preview.photo": "……或一张照片",
    "preview.label": "实时预测",
    "preview.no_model": "请先微调一个模型：预览使用当前会话最新的模型。",
    "preview.model": "模型：{name}",
    "check.too_few_images": "类别 {label!r} 只有 {count} 张图片；至少需要 {minimum} 张，才能留出一张用于测试",
    "check.unreadable": "类别 {label!r} 中的 {name} 无法读取：{reason}",
    "check.imbalance": "类别 {largest!r} 有 {largest_count} 张图片，而类别 {smallest!r} 只有 {smallest_count} 张（{ratio} 倍）；模型会偏向较大的类别",
    "check.duplicate": "类别 {label!r} 中有同一张图片的 {count} 个副本（{names}）；留出的副本测不出新东西",
    "check.duplicate_across_classes": "同一张图片出现在类别 {labels} 中（{names}）；它不可能同时属于这些类别",
    "check.too_small": "类别 {label!r} 中有 {count} 张图片（{names}）短边小于 {minimum} 像素（最小的是 {smallest}）；它们会被放大，因而变模糊",
    "finetune.series.train_loss": "训练损失",
    "finetune.series.val_loss": "留出集损失",
    "finetune.series.train_top1": "训练（滚动平均，增强后）",
    "finetune.series.val_top1": "留出集（每轮结束时）",
    "push.no_model": "请先微调一个模型。",
    "push.bad_repo": "请填写仓库 id，例如 your-name/my-classifier。",
    "push.failed": "无法推送到 {repo}：{reason}",
    "push.done": "已把 **{name}** 推送到 [{repo}]({url})。",
    # --- 访客可以加载的模型
    "session.ended": "此页面已关闭，请刷新页面重新开始。",
    # --- ZeroGPU Spaces (ui/zerogpu.py)
    "zerogpu.quota": "你在这个 Space 上的免费 GPU 时间暂时用完了（Hugging Face 为每位访客提供每日 ZeroGPU 配额，登录后配额更多）。",
    "zerogpu.busy": "这个 Space 暂时没有空闲的 GPU。",
    "zerogpu.on_cpu": "改为在 CPU 上运行，会慢一些。",
    "zerogpu.on_cpu_slow": "改为在 CPU 上微调，可能需要好几分钟（减少轮数或照片，或选“只训练分类头”策略，会快一些）。",
    "models.not_in_session": "{name!r} 不是当前浏览器会话的模型（微调模型只属于创建它的会话）。",
    "models.refused": "{name!r} 不是本应用提供的模型。请从列表中选择，或选择你在本会话中微调的模型；本服务器允许{rule}。",
    "models.rule.none": "的只有这些",
    "models.rule.patterns": "匹配 {patterns} 的 Hub 模型",
    "models.advice": " 请换一个模型，或在“微调”标签页从零训练一个。如果这个应用由你运行：用 --model PATH_OR_REPO（或 RESNET_STUDIO_MODEL=...）重新启动。",
    "load.not_found": "在 Hugging Face Hub 上找不到 {name}。",
    "load.gated": "{name} 在 Hugging Face Hub 上需要申请访问权限，本应用无法加载。",
    "load.unreachable": (
        "Hugging Face Hub 没有响应：本服务器连不上它（可能处于离线状态），而 {name} 不在本服务器的缓存中。"
        "不依赖 Hub 也能用的：已经加载的模型、从零微调，以及“网络结构”标签页。"
    ),
    "load.timeout": (
        "Hugging Face Hub 接受了连接，但没有及时响应，而 {name} 不在本服务器的缓存中。"
        "不依赖 Hub 也能用的：已经加载的模型、从零微调，以及“网络结构”标签页。"
    ),
    "load.download": "{name} 还不在本服务器上：第一次分类时会从 Hugging Face Hub 下载（可能需要一分钟）。",
    "models.advice.not_cached": (
        " 如果这个应用由你运行：取消 HF_HUB_OFFLINE 以便下载模型，把 HF_HOME 指向存有该模型的 Hugging Face 缓存，"
        "或用 --model ./folder（含 config.json 和 model.safetensors 的文件夹）重新启动。"
    ),
    "models.advice.unreachable": (
        " 如果这个应用由你在无网络的环境中运行：设置 HF_HUB_OFFLINE=1 并把 HF_HOME 指向存有该模型的 Hugging Face 缓存，"
        "或用 --model ./folder（含 config.json 和 model.safetensors 的文件夹）重新启动。"
    ),
    "models.advice.timeout": (
        " 请过一分钟再试。如果这个应用由你运行而 Hub 一直没有响应（可能是代理占住了连接）：设置 HF_HUB_OFFLINE=1 "
        "并把 HF_HOME 指向存有该模型的 Hugging Face 缓存，或用 --model ./folder 重新启动。"
    ),
    "load.not_cached": "{name} 不在本地 Hugging Face 缓存中，而本服务器处于离线模式（HF_HUB_OFFLINE=1）。",
    "load.unsupported": "{name} 不是本应用能加载的 ResNet（支持 ResNet-18 到 152，timm、transformers 或 ResNet Studio 格式）。",
    "load.damaged": "{name} 的文件已损坏，或与其网络结构不符。",
    # --- 无法使用的图片
    "image.not_image": "不是本应用能读取的图片格式（请用 JPEG、PNG、WebP、GIF、BMP 或 TIFF）",
    "image.corrupt": "图片数据不完整或已损坏",
    "image.too_large": "{name} 超过了 {limit_mb} MB 的上限",
    "image.too_many_pixels": "图片为 {width}x{height} 像素，超过了 {limit} 像素的上限；请先缩小",
    "image.bomb": "图片声称有 {pixels} 像素，像素过多，无法安全解码",
    "image.aspect": "图片为 {width}x{height} 像素，长宽比超过 {ratio}:1；请裁剪得更靠近主体",
    "image.empty": "{name} 是空文件（0 字节）",
    "image.no_file": "文件 {name} 已不存在；请重新上传",
    "image.unsupported_input": "这个输入无法作为图片读取",
    # --- 无法使用的训练数据
    "data.data": "训练数据无法使用",
    "data.unnamed_class": "有一个类别名称为空；请给每个类别命名",
    "data.same_names": "类别名称不能重复：{names}",
    "data.one_class": "至少需要两个类别才能区分，目前只有 {count} 个",
    "data.empty_class": "类别 {name!r} 没有图片；请添加图片或删除这个类别",
    "data.too_many_images": "共 {count} 张图片，超过了 {limit} 张的上限；请减少每个类别的图片",
    "data.unreadable_images": "有 {count} 张图片无法读取：{names}",
    "data.bad_zip": "{name} 不是可读取的 zip 压缩包",
    "data.zip_too_large": "zip 解压后有 {mb} MB，超过了 {limit_mb} MB 的上限",
    "data.zip_bomb": "{name} 解压后膨胀过大：疑似 zip 炸弹，已拒绝",
    "data.zip_too_many": "zip 中的图片超过 {limit} 张；请减少",
    "data.zip_malformed": "{name} 比 zip 文件头声明的更大：压缩包格式异常，已拒绝",
    "data.zip_empty": "zip 中没有放在类别文件夹里的图片（应为 <类别>/<图片>.jpg）",
    "zip.unsafe_path": "{name}（路径不安全）",
    "zip.symlink": "{name}（符号链接）",
    "zip.nested_archive": "{name}（不会打开压缩包里的压缩包）",
    "zip.not_image": "{name}（不是图片）",
    "zip.no_class": "{name}（不在类别文件夹中：应为 <类别>/<图片>）",
    "error.invalid": "{reason}",
    # --- Gradio 自带的文字（ui/style.py）：它自带的中文缺少的，以及一处它不经过 i18n 直接写出的
    "common.runs": "运行记录",
    "common.runs_description": "查看保存在此浏览器中的运行记录",
    "common.back_to_app": "应用",
    "common.back_to_app_description": "返回应用",
    "common.download_all": "全部下载",
    "common.progress": "进度",
    "common.run": "运行",
    "common.complete": "完成",
    "common.upload": "上传",
    "status.queue_position": "排队中：第 {position} 位，共 {size} 位",
    "dataframe.filter": "筛选",
    "dataframe.clear_filter": "清除筛选",
    "gradio.error": "错误",
    "gradio.warning": "警告",
    "gradio.webcam": "点击访问摄像头",
    "gradio.remove_file": "移除此文件",
    "gradio.reset": "恢复默认值",
    "gradio.upload_or_drop": "点击上传或拖放文件",
    "gradio.number_input_for": "数值输入框：",
    "gradio.range_slider_for": "滑块：",
    # --- inside the network (ui/tabs/inside/tab.py): add keys below this line
    "tab.inside": "网络内部",
    "inside.intro": (
        "从内部看 ResNet：由模型本身画出的结构图，标出每个张量的形状；以及一个检查点在你的照片上算出了什么。"
        "这里的一切都可以离线使用：结构图不需要权重，“随机权重”模型不需要下载。"
    ),
    "inside.diagram": "网络结构图，逐块展开",
    "inside.arch": "网络（ImageNet 或 CIFAR-10）",
    "inside.diagram_help": (
        "点击一个阶段展开其中的残差块，再点击一个块查看它的各层。每个箭头标出张量的形状（通道 x 高 x 宽）；"
        "块旁的橙色线是它的捷径连接，为 1x1 投影时画成方框。图中的标注沿用论文的写法。SVG 文件包含完全展开的整个网络。"
    ),
    "inside.svg": "整张结构图（SVG）",
    "inside.photo": "让一张照片通过检查点",
    "inside.random": "随机权重（可离线使用）",
    "inside.button": "查看网络内部",
    "inside.grids": "网络看到的图像，以及主干（stem）和每个阶段之后最活跃的 16 个通道（每块按自身范围缩放；黄色表示高）",
    "inside.filters": "第一个卷积层的滤波器，按 RGB 显示（各自按自身范围缩放）",
    "inside.plot": "每个 3x3 层的响应（标准差）：这个网络与它的普通孪生网络",
    "inside.plot_empty": "点击“查看网络内部”后在此绘制。",
    "inside.bad_file": "无法用这个文件查看网络内部：{reason}",
    "inside.svg_title": "{name}{plain}，输入 3 x {size} x {size}",
    "inside.plain_suffix": "（普通网络）",
    "inside.word.input": "输入",
    "inside.word.output": "输出",
    "inside.word.identity": "恒等映射",
    "inside.word.shortcut": "捷径连接：{shortcut}",
    "inside.word.no_shortcut": "无捷径连接",
    "inside.view_caption": "输入，3 x {size} x {size}",
    "inside.grid_caption": "{stage}，{channels} x {height} x {width}",
    "inside.series.residual": "残差网络",
    "inside.series.plain": "普通网络",
    "inside.plot_x": "3x3 层（从输入端起）",
    "inside.plot_y": "响应的标准差",
    "inside.heading": "**{model}** 处理这张照片：经检查点自身的预处理后为 {size}x{size}。",
    "inside.random_note": (
        "**这些权重是随机的**（从未训练：每个批量归一化层仍保留初始统计量），所以滤波器是噪声，特征图显示的是"
        "网络结构本身对照片做了什么，而不是学到的特征。选择一个训练过的检查点才能看到学到的特征。"
    ),
    "inside.trained_note": "它的批量归一化统计量已偏离初始值：这些权重经过训练。",
    "inside.measure": (
        "**层响应**（He 等，2016，图 7）：对这张照片，每个 3x3 层在批量归一化之后、相加与 ReLU 之前的输出的标准差，"
        "分别在这个网络和它的*普通孪生网络*（同样的权重，去掉捷径连接）中测量。"
    ),
    "inside.responses_smaller": (
        "这里，{count}残差网络的响应小于普通孪生网络（比值的中位数为 {ratio}），"
        "与论文的图一致：残差函数比普通网络要学习的函数更接近零。"
    ),
    "inside.responses_larger": (
        "这里，{count}残差网络的响应大于普通孪生网络（比值的中位数为 {ratio}），与论文的图相反。"
    ),
    "inside.responses_mixed": (
        "这里，两个网络的响应没有明显的大小之分：{count}残差网络的响应更小（比值的中位数为 {ratio}）。"
    ),
    "inside.layers_all": "在全部 {layers} 个层中，",
    "inside.layers_some": "在 {layers} 个层中的 {count} 个层里，",
    "inside.twin_caveat": (
        "论文比较的是单独训练的普通网络；这里的孪生网络从未在没有捷径连接的情况下训练过，它的各层看到的输入"
        "与测得其批量归一化统计量时的输入不同：这是一种探测，不是对论文的复现。"
    ),
    "inside.random_responses": "权重是随机的，所以这只说明训练之前网络结构对一张照片做了什么，与学到的东西无关。",
    # --- classify, one pass and many photos (ui/tabs/classify/): add keys below this line
    "classify.hint": "点击前 5 个类别中的一个，查看网络在哪里看到了它（不再运行一次网络）。",
    "classify.map_for": "Grad-CAM：网络在哪里看到了 {label}",
    "classify.unknown_class": "{label} 不是这个模型的类别。",
    "classify.column.file": "文件",
    "classify.column.top1": "第一名类别",
    "classify.column.probability": "概率",
    "classify.column.top5": "前 5 个类别",
    "classify.column.error": "错误",
    "classify.column.agrees": "与谁一致",
    "classify.column.forward_ms": "前向计算 ms",
    "classify.agree.both": "多数深度和最深的网络",
    "classify.agree.majority": "多数深度",
    "classify.agree.deepest": "最深的网络",
    "classify.agree.neither": "都不一致",
    "classify.agree.not_deepest": "与最深的网络不一致",
    "classify.many.title": "一次分类多张照片",
    "classify.many.files": "照片，或装有照片的 .zip 文件（最多 {max_images} 张照片，每个文件最大 {max_mb} MB）",
    "classify.many.button": "全部分类",
    "classify.many.table": "每张照片一行",
    "classify.many.csv": "表格（CSV）",
    "classify.many.none": "请先添加照片，或一个装有照片的 .zip 文件。",
    "classify.many.too_many": "照片超过 {limit} 张；请分批发送。",
    "classify.many.progress": "正在对照片分类",
    "classify.many.done": "{model}：{total} 张照片中已分类 {classified} 张，用时 {seconds} s（每张 {per_photo} ms，每批 {batch} 张）。",
    "classify.many.failed": "{failed} 张无法读取：见“错误”一列。",
    "classify.many.skipped": "zip 中跳过的文件：{notes}。",
    "classify.depths.title": "所有深度：这张照片依次通过 ResNet-18 到 ResNet-152",
    "classify.depths.intro": (
        "上面的照片通过本服务器拥有的每个深度的检查点（已缓存，或可从 Hub 获取）："
        "每个网络的第一名类别、公布的 ImageNet top-1 准确率，以及它是否与最深的网络一致；"
        "有三个或更多深度给出结果时，还看它是否与多数深度一致。*前向计算 ms* 只算一次前向计算，"
        "此刻在“分类”所用的快速路径上测得（批大小 1，本服务器的设备）；“分类”自己的用时还包括解码照片和 Grad-CAM 热力图。"
    ),
    "classify.depths.no_majority": "只有两个深度时谈不上多数：每个都只与最深的网络比较。",
    "classify.depths.button": "用每个深度分类",
    "classify.depths.answered": "{total} 个深度中有 {answered} 个给出了结果。",
    "classify.depths.missing": "不可用：{reasons}",
    "data.zip_no_images": "这个 zip 中没有图片",
    # --- fine-tune, finished (ui/tabs/finetune/): add keys below this line
    "finetune.random_features": (
        "从随机权重出发选择“{strategy}”，只是在随机特征上训练分类器：留出集准确率会接近随机猜测。"
        "请选择“全部”从零训练整个网络，或从预训练模型开始。"
    ),
    "finetune.overfitting": (
        "它对训练图片的拟合远好于留出图片（{train} 对 {held_out}）：它记住的更多是这些图片，而不是类别本身（过拟合）。"
        "每类更多图片，或从预训练模型开始并只训练分类头，会有帮助。"
    ),
    "finetune.step.mistakes": "正在找出留出集中的错误并绘制 Grad-CAM 激活图……",
    "finetune.step.download": "正在打包下载文件（检查点和 ONNX）……",
    **LAB,  # the residual learning lab's texts (ui/locales/lab.py)
    **LESSON,  # the lesson tab's texts (ui/locales/lesson.py)
}
