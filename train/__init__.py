"""Training and fine-tuning for ResNet Studio (imports ``resnet``, never the app)."""
