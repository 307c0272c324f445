"""Train W-MEMGAN, then score low/high target pairs with an independent VMS predictor.

    python recipes/train_wmemgan.py                                       # 32 px synthetic kitchens, CPU
    python recipes/train_wmemgan.py --alpha 0 --output runs/wmemgan_a0    # without memorability feedback
    python recipes/train_wmemgan.py --preset wmemgan_score_128 --data lsun:~/lsun --predictor ./runs/vms_vae_m32 \
        --scorer ./runs/scorer

The preset names its frozen feedback predictor and its independent scorer (another architecture, input size and
data seed, so the generator is never graded by the network it was trained against). Writes the preset folder,
samples/ (z fixed per row, M rising left to right) and pairs.json. The same as `vms-zoo train PRESET`.
"""

import argparse

from vms_zoo.training import train


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="wmemgan_synthetic_score_32")
    p.add_argument("--data", help="synthetic | folder:DIR | lsun:DIR (default: the preset's)")
    p.add_argument("--alpha", type=float, help="memorability weight (0 = plain WGAN-GP)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int, help="stop after this many generator steps")
    p.add_argument("--predictor", help="feedback predictor: a preset name or a preset folder (./path)")
    p.add_argument("--scorer", help="independent scorer: a preset name or a preset folder (./path)")
    p.add_argument("--pairs", type=int)
    p.add_argument("--distribute", action="store_true", help="data-parallel over all local devices")
    p.add_argument("--overwrite", action="store_true", help="start afresh in an --output holding another run")
    p.add_argument("--output", default="runs/wmemgan")
    args = p.parse_args(argv)
    overrides = {key: value for key, value in (
        ("config.alpha", args.alpha), ("epochs", args.epochs), ("max_steps", args.max_steps),
        ("training.predictor", args.predictor), ("training.scorer", args.scorer), ("pairs", args.pairs)) if value is not None}
    return train(args.preset, data=args.data, output=args.output, overrides=overrides, overwrite=args.overwrite,
                 distribute=args.distribute)


if __name__ == "__main__":
    main()
