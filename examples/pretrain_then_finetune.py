"""Pre-train a stack of denoising auto-encoders once, then fine-tune it at three learning rates.

    python examples/pretrain_then_finetune.py

make_train(config) with pretrain_epochs > 0 describes the run as stages: one per hidden layer of
greedy layer-wise DAE pre-training, then supervised fine-tuning. Calling the train runs them all;
here the stages are called one by one, so that one pre-trained stack serves several fine-tuning
learning rates (the lr enters only at start_finetuning), as the sweep engine does.
"""
import jax

import deep_sparse as ds


def main():
    data = ds.train.Data.from_arrays(*ds.data.blobs(300, 1), *ds.data.blobs(100, 2), *ds.data.blobs(100, 3))
    config = ds.config.TrainConfig(hidden_sizes=(32, 32), epochs=3, pretrain_epochs=2, batch_size=10)
    train = ds.train.make_train(config)
    hparams = ds.config.Hparams(pretrain_lr=0.01, noise_level=0.25, l1=1e-3)

    state = jax.jit(train.init)(jax.random.PRNGKey(0), hparams, data)
    for layer, stage in enumerate(train.pretrain):  # one stage per hidden layer
        epoch = jax.jit(stage.epoch)
        for _ in range(stage.epochs):
            state = epoch(state, hparams, data)
        print(f"{stage.name}: validation reconstruction error per epoch {state.curves.pretrain_valid_loss[layer]}")

    start, epoch, finalize = jax.jit(train.start_finetuning), jax.jit(train.finetune.epoch), jax.jit(train.finalize)
    finetuned = {}
    for lr in (0.1, 0.03, 0.01):  # the same stack, three fine-tuning runs (compiled once: lr is traced)
        at_lr = hparams._replace(lr=lr)
        run = start(state, at_lr, data)
        for _ in range(train.finetune.epochs):
            run = epoch(run, at_lr, data)
        finetuned[lr] = finalize(run, at_lr, data)
        print(f"fine-tuned at lr {lr}: test error {float(finetuned[lr].test_error):.3f}")
    return state, finetuned


if __name__ == "__main__":
    main()
