"""Sweep W-MEMGAN's memorability weight alpha with keras-tuner (the paper's Fig. 3).

    python recipes/tune_alpha.py --output runs/tune_alpha                       # grid {0, 10, 25, 50}, CPU
    python recipes/tune_alpha.py --seeds 4 --pairs 1000 --epochs 20             # 4 generators per alpha
    python recipes/tune_alpha.py --tuner bayesian --trials 6 --distribute

Each trial trains the preset's W-MEMGAN with one alpha, then generates pairs from the same z with a low and a
high target, graded by the preset's independent scorer (a VMS predictor, or a scalar scorer such as resmem).
The objective is their separation (paired Cohen's d); mean memorability and FID / KID against real images (the
quality guard, on --features) are recorded too. With --seeds K every alpha trains K generators and gets an
across-generator t-test. Writes alpha_sweep.csv/.json, alpha_sweep_generators.csv and alpha_sweep.png.
Rerunning the same command resumes an interrupted sweep.
Everything happens in `vms_zoo.training.alpha_sweep.sweep`.
"""

import argparse

from vms_zoo.training.alpha_sweep import DEFAULT_ALPHAS, TUNERS, sweep


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="wmemgan_synthetic_score_32")
    p.add_argument("--alphas", type=float, nargs="+", default=list(DEFAULT_ALPHAS))
    p.add_argument("--tuner", default="grid", choices=sorted(TUNERS))
    p.add_argument("--trials", type=int, help="max trials (default: one per alpha)")
    p.add_argument("--seeds", type=int, default=1, help="generators trained per alpha")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--num-scenes", type=int, default=8000, help="synthetic scenes to draw the category from")
    p.add_argument("--pairs", type=int, default=500)
    p.add_argument("--data", help="synthetic | folder:DIR | lsun:DIR (default: the preset's)")
    p.add_argument("--features", default="auto",
                   help="quality guard's FID features: auto | resmem | inception | inception:PATH | none")
    p.add_argument("--distribute", action="store_true", help="data-parallel over all local devices")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming the sweep")
    p.add_argument("--verbose", type=int, default=1)
    p.add_argument("--output", default="runs/tune_alpha")
    args = p.parse_args(argv)
    return sweep(args.output, preset=args.preset, alphas=args.alphas, tuner=args.tuner, trials=args.trials,
                 seeds=args.seeds, pairs=args.pairs, data=args.data, features=args.features,
                 overrides={"epochs": args.epochs, "num_scenes": args.num_scenes}, overwrite=args.overwrite,
                 distribute=args.distribute, verbose=args.verbose)


if __name__ == "__main__":
    main()
