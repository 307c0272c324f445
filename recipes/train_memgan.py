"""Train MEMGAN (progressive growing with memorability feedback at every resolution), then score pairs.

    python recipes/train_memgan.py                                        # CPU: grows 4 -> 32 px in minutes
    python recipes/train_memgan.py --preset memgan_foil_synthetic_32 --output runs/memgan_foil
    python recipes/train_memgan.py --preset memgan_256 --data lsun:~/lsun \
        --predictor ./runs/vms_vae_m32_vischema_plus --scorer ./runs/vms_vae_m8 --distribute   # the paper's, on GPUs

Interrupt it at any time and run the same command again: it continues at the saved stage, fade and image
count. Writes the preset folder, samples/ (a grid per phase) and pairs.json. The same as `vms-zoo train PRESET`.
"""

import argparse

from vms_zoo.training import train


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="memgan_synthetic_32")
    p.add_argument("--data", help="synthetic | folder:DIR | lsun:DIR (default: the preset's)")
    p.add_argument("--predictor", help="feedback predictor: a preset name or a preset folder (./path)")
    p.add_argument("--scorer", help="independent scorer: a preset name or a preset folder (./path)")
    p.add_argument("--phase-images", type=int, help="images per fade and per stabilise phase (short runs)")
    p.add_argument("--pairs", type=int)
    p.add_argument("--distribute", action="store_true", help="data-parallel over all local devices")
    p.add_argument("--overwrite", action="store_true", help="start afresh in an --output holding another run")
    p.add_argument("--output", default="runs/memgan")
    args = p.parse_args(argv)
    overrides = {key: value for key, value in (
        ("training.predictor", args.predictor), ("training.scorer", args.scorer), ("pairs", args.pairs),
        ("fade_images", args.phase_images), ("stabilise_images", args.phase_images)) if value is not None}
    return train(args.preset, data=args.data, output=args.output, overrides=overrides, overwrite=args.overwrite,
                 distribute=args.distribute)


if __name__ == "__main__":
    main()
