"""Independent reference for Percept's ranking module (core/src/ranking/).

Reads a JSON object on stdin: {"wins": n×n integer counts (wins[i][j]: i
preferred over j), "ridge": r, "x": [...], "y": [...]} and prints JSON with

- bt_mle: Bradley–Terry maximum likelihood from choix's I-LSR, centred;
- bt_mm: the same from choix's MM algorithm, centred;
- bt_map: choix.opt_pairwise(alpha=ridge), the penalised fit, centred;
- thurstone_mle / thurstone_map: Thurstone Case V in JOD units (pwcmp's
  normal with sigma 1.4826) by scipy.optimize on the (penalised) negative
  log-likelihood, centred;
- kendall_tau / spearman_rho: scipy.stats on x and y.

Run by the test with the project's venv (`cargo xtask setup` installs choix).
"""

import json
import sys

import choix
import numpy as np
from scipy import optimize, stats

SIGMA = 1.4826


def main():
    spec = json.load(sys.stdin)
    wins = np.array(spec["wins"], dtype=np.int64)
    ridge = float(spec["ridge"])
    n = wins.shape[0]
    data = [(i, j) for i in range(n) for j in range(n) for _ in range(int(wins[i, j]))]

    def centred(values):
        values = np.asarray(values, dtype=np.float64)
        return (values - values.mean()).tolist()

    def thurstone(alpha):
        def objective(q):
            d = (q[:, None] - q[None, :]) / SIGMA
            return -np.sum(wins * stats.norm.logcdf(d)) + alpha * np.sum(q**2)

        def gradient(q):
            d = (q[:, None] - q[None, :]) / SIGMA
            mills = np.exp(stats.norm.logpdf(d) - stats.norm.logcdf(d))
            term = wins * mills / SIGMA  # d(-w log Φ)/dq_i = -term[i, j]; /dq_j = +term
            return -term.sum(axis=1) + term.sum(axis=0) + 2 * alpha * q

        result = optimize.minimize(
            objective, np.zeros(n), jac=gradient, method="BFGS", options={"gtol": 1e-12, "maxiter": 10000}
        )
        return centred(result.x)

    out = {
        "bt_mle": centred(choix.ilsr_pairwise(n, data, alpha=0.0, max_iter=10000, tol=1e-12)),
        "bt_mm": centred(choix.mm_pairwise(n, data, alpha=0.0, max_iter=100000, tol=1e-12)),
        "bt_map": centred(choix.opt_pairwise(n, data, alpha=ridge, method="Newton-CG", tol=1e-12)),
        "thurstone_mle": thurstone(0.0),
        "thurstone_map": thurstone(ridge),
        "kendall_tau": float(stats.kendalltau(spec["x"], spec["y"]).statistic),
        "spearman_rho": float(stats.spearmanr(spec["x"], spec["y"]).statistic),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
