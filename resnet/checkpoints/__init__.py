"""Checkpoints in and out: what a checkpoint says (``config``), the three ``config.json`` layouts it may come in
(``layouts``), loading from the Hub, a folder or a file (``hub``), saving and pushing (``saving``), the model card
(``card``), and the two exports that predict what the app predicts: ONNX (``onnx``) and int8 ONNX (``int8``)."""
