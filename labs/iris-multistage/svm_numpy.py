"""Predict with a fitted StandardScaler + RBF SVC from its arrays alone (NumPy only).

This is libsvm's one-vs-one vote, written out: for each pair of classes, the decision value is
the kernel-weighted sum over both classes' support vectors plus that pair's intercept.
"""

import numpy as np


def predict(model, X):
    X = (np.asarray(X, dtype=float) - model["mean"]) / model["scale"]
    sv = model["support_vectors"]
    sq_dist = (X**2).sum(1)[:, None] + (sv**2).sum(1)[None, :] - 2 * X @ sv.T
    kernel = np.exp(-model["gamma"] * sq_dist)

    n_support, dual_coef = model["n_support"], model["dual_coef"]
    n_classes = len(n_support)
    starts = np.concatenate([[0], np.cumsum(n_support)])
    votes = np.zeros((len(X), n_classes), dtype=int)
    pair = 0
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
            decision = (
                kernel[:, si] @ dual_coef[j - 1, si]
                + kernel[:, sj] @ dual_coef[i, sj]
                + model["intercept"][pair]
            )
            votes[:, i] += decision > 0
            votes[:, j] += decision <= 0
            pair += 1
    return model["classes"][votes.argmax(1)]
