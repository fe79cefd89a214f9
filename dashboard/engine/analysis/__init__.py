"""What an image is made of: images and layers, disk use, a build's stages, pip's errors, the
Dockerfile hints (and hadolint), and each layer's files (`layerfiles`, in dive's shape). Never
imports `offline`.

A wing imports itself and the wings below it only (tests/unit/test_layers.py)."""
