"""Train a VMS predictor preset and report held-out rho2D / MSE against the category-mean baseline.

    python recipes/train_vms_predictor.py                                   # CPU preset, synthetic scenes
    python recipes/train_vms_predictor.py --preset vms_vae_m32 --data vischema_plus:~/vischema

Writes to --output a preset folder (`vms_zoo.load("./runs/vms_predictor")`), metrics.json (rho2D and MSE per
channel and category, for the model and the baseline) and predictions.png (image | true VMS | predicted VMS |
overlay; green = true schema, red = false schema). The same as `vms-zoo train PRESET`; this file is the
example to read: everything happens in `vms_zoo.training`.
"""

import argparse

from vms_zoo.training import train


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="vms_vae_synthetic_64")
    p.add_argument("--data", help="synthetic | vischema1:DIR | vischema2:DIR | vischema_plus:DIR (default: the preset's)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--image-size", type=int, help="override the preset's (a multiple of 32)")
    p.add_argument("--distribute", action="store_true", help="data-parallel over all local devices")
    p.add_argument("--overwrite", action="store_true", help="start afresh in an --output holding another run")
    p.add_argument("--output", default="runs/vms_predictor")
    args = p.parse_args(argv)
    overrides = {key: value for key, value in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                               ("learning_rate", args.learning_rate),
                                               ("config.image_size", args.image_size)) if value is not None}
    return train(args.preset, data=args.data, output=args.output, overrides=overrides, overwrite=args.overwrite,
                 distribute=args.distribute)


if __name__ == "__main__":
    main()
