"""Train networks with the paper's procedure and pick the learning rate on the validation set.

Each combination of --activation and --lr is one network (all of them trained as one batched sweep);
the summary gives, per activation, the network with the lowest validation error, as section 4.1 does
("a constant learning rate ... with respect to the supervised validation error").

Example (section 4.1's supervised networks at paper scale, on CPU):
  python -m sweeps.train --dataset mnist --activation rectifier tanh softplus --l1 0.001 \\
      --lr 0.1 0.01 0.001 0.0001 --out results/mnist-no-pretraining
"""
from __future__ import annotations

import argparse
import os

import deep_sparse as ds
from deep_sparse import names
from sweeps import common

MODULE = "sweeps.train"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("model and data")
    model.add_argument("--dataset", default="mnist", help="data set name (default: %(default)s)")
    model.add_argument("--activation", nargs="+", default=["rectifier"],
                       help="hidden activation(s), e.g. rectifier tanh softplus (default: rectifier)")
    model.add_argument("--hidden-sizes", type=common.sizes, default=(1000, 1000, 1000),
                       help="hidden widths, e.g. 1000-1000-1000 (default)")
    model.add_argument("--train-size", type=int, default=None, help="use the first N training examples")
    model.add_argument("--valid-size", type=int, default=None, help="use the first N validation examples")
    model.add_argument("--test-size", type=int, default=None, help="use the first N test examples")
    model.add_argument("--hidden-bias-init", type=float, default=0.0,
                       help="the constant every hidden bias starts at (default: 0, the paper's initialization)")
    model.add_argument("--output-layer-init", choices=names.OUTPUT_LAYER_INITS, default="uniform",
                       help="the softmax layer's initial weights: uniform (the paper's) or zeros (the LISA lab "
                            "tutorials' logistic regression) (default: %(default)s)")
    opt = parser.add_argument_group("training (section 4.1)")
    opt.add_argument("--lr", type=float, nargs="+", default=[0.1, 0.01, 0.001, 0.0001],
                     help="learning rate(s); the best on validation is reported (default: the paper's grid)")
    opt.add_argument("--l1", type=float, nargs="+", default=[0.001], help="L1 activation penalty (default: 0.001)")
    opt.add_argument("--seed", type=int, nargs="+", default=[0], help="random seed(s) (default: 0)")
    opt.add_argument("--epochs", type=int, default=30, help="maximum supervised epochs (default: %(default)s)")
    opt.add_argument("--patience", type=int, default=5,
                     help="stop after this many epochs without a better validation error; 0 = never "
                          "(default: %(default)s)")
    opt.add_argument("--batch-size", type=int, default=10, help="mini-batch size (default: %(default)s)")
    pre = parser.add_argument_group("denoising auto-encoder pre-training (section 3.2)")
    pre.add_argument("--pretrain-epochs", type=int, default=0, help="epochs per hidden layer; 0 = none (default)")
    pre.add_argument("--pretrain-lr", type=float, nargs="+", default=[0.01], help="(default: 0.01)")
    pre.add_argument("--noise-level", type=float, default=0.25, help="masking probability (default: 0.25)")
    pre.add_argument("--pretrain-strategy", default=None, help="reconstruction strategy (default: the paper's)")
    pre.add_argument("--corruption", choices=names.CORRUPTIONS, default="mask",
                     help="corruption of every auto-encoder's input (default: %(default)s, the paper's masking)")
    pre.add_argument("--first-layer-corruption", choices=names.CORRUPTIONS, default=None,
                     help="the first layer's corruption when it differs (e.g. mask with --corruption none: only "
                          "the input pixels are corrupted, as the paper's 'each pixel has a probability of 0.25' "
                          "may be read)")
    pre.add_argument("--untied-decoder", action="store_true",
                     help="give each auto-encoder decoder weights of its own, (W_enc, b_enc, W_dec, b_dec) as "
                          "section 3.2 of the AISTATS paper writes them (default: tied, W_dec = W_enc^T, the "
                          "workshop paper's)")
    pre.add_argument("--labeled-fraction", type=float, default=1.0,
                     help="fraction of training labels used for fine-tuning (default: 1)")
    common.add_run_arguments(parser, default_out="runs/train")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    common.configure_jax(args)
    config = ds.config.TrainConfig(
        dataset=args.dataset, hidden_sizes=args.hidden_sizes, activation=args.activation[0],
        batch_size=args.batch_size, epochs=args.epochs, patience=args.patience or None,
        pretrain_epochs=args.pretrain_epochs, pretrain_strategy=args.pretrain_strategy,
        labeled_fraction=args.labeled_fraction, train_size=args.train_size, valid_size=args.valid_size,
        test_size=args.test_size, num_classes=ds.data.num_classes(args.dataset),
        hidden_bias_init=args.hidden_bias_init, output_layer_init=args.output_layer_init,
        tied_decoder=not args.untied_decoder, corruption=args.corruption,
        first_layer_corruption=args.first_layer_corruption,
    )
    for activation in args.activation:  # every structural choice is checked before anything runs
        config.replace(activation=activation)
    grid = ds.sweep.product(activation=args.activation, lr=args.lr, l1=args.l1, seed=args.seed,
                            pretrain_lr=args.pretrain_lr, noise_level=[args.noise_level])
    rows = ds.sweep.run(config, grid, args.out, options=common.sweep_options(
        args, argv=common.command_line(MODULE), extra_metadata={"experiment": "train"}))
    columns = ["activation", "lr", "l1", "seed", "valid_error", "test_error", "train_error", "sparsity",
               "epochs_run", "best_epoch", "diverged"]
    formats = {"valid_error": ".4f", "test_error": ".4f", "train_error": ".4f", "sparsity": ".3f", "lr": "g", "l1": "g"}
    best = common.best_by_validation(rows, ["activation", "l1", "seed"])
    text = "\n".join([
        f"# {args.dataset}: every network", "", ds.results_io.format_table(rows, columns, formats), "",
        "# Selected on validation (per activation, L1 and seed)", "",
        ds.results_io.format_table(best, columns, formats), "",
    ])
    common.write_text(os.path.join(args.out, "summary.md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
