"""Independent float64 NumPy references that tests compare the library with."""
import numpy as np


def numpy_sgd_step(params, lr, l1, x, y, activation, nll="mean"):
    """One SGD step of NLL + l1 * sum_layers mean_examples sum_units |h|, by hand in float64: the forward
    pass, the chain rule layer by layer, then W <- W - lr * dW. ``nll``: "mean" (averaged over the
    mini-batch, this library's cost) or "sum" (summed over it); the L1 term is averaged either way."""
    act, slope = {"rectifier": (lambda z: np.maximum(z, 0), lambda z, h: (z > 0).astype(float)),
                  "tanh": (np.tanh, lambda z, h: 1 - h ** 2)}[activation]
    ws = [np.asarray(layer["w"], np.float64) for layer in params]
    bs = [np.asarray(layer["b"], np.float64) for layer in params]
    inputs, pre, codes, h = [], [], [], np.asarray(x, np.float64)
    for w, b in zip(ws[:-1], bs[:-1]):
        inputs.append(h)
        z = h @ w + b
        h = act(z)
        pre.append(z)
        codes.append(h)
    inputs.append(h)
    logits = h @ ws[-1] + bs[-1]
    shifted = logits - logits.max(-1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)
    n = len(y)
    data_scale = 1.0 / n if nll == "mean" else 1.0
    loss = -np.log(probs[np.arange(n), y]).sum() * data_scale + l1 * sum(np.abs(c).sum(-1).mean() for c in codes)
    delta = probs.copy()
    delta[np.arange(n), y] -= 1
    delta *= data_scale
    grads = []
    for i in range(len(ws) - 1, -1, -1):
        grads.append((inputs[i].T @ delta, delta.sum(0)))
        if i:
            dh = delta @ ws[i].T + l1 * np.sign(codes[i - 1]) / n
            delta = dh * slope(pre[i - 1], codes[i - 1])
    grads.reverse()
    return [{"w": w - lr * gw, "b": b - lr * gb} for w, b, (gw, gb) in zip(ws, bs, grads)], loss
