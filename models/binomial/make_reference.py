"""Reference posterior of the binomial-normal model by deterministic numerical integration.

Run from the repository root (numpy and scipy only; the package is not imported):

    python models/binomial/make_reference.py

writes models/binomial/reference.json. The model is bayesmeta.models.Binomial's:

    a_i ~ Bin(n1_i, logistic(alpha_i + theta_i)),  c_i ~ Bin(n2_i, logistic(alpha_i)),
    theta_i ~ N(mu, tau^2),  alpha_i ~ N(0, 5^2),  mu ~ N(0, 2.5^2),  tau ~ HalfNormal(1).

Integration, study by study (the studies are independent given mu and tau):
1. g_i(theta) = int Bin(a_i | alpha + theta) Bin(c_i | alpha) N(alpha; 0, 5^2) d alpha, by the
   trapezoid rule on a fine alpha grid (the integrand is smooth and decays at both ends, where the
   rule converges geometrically), for theta on a fine grid (step 0.005).
2. L_i(mu, tau) = int g_i(theta) N(theta; mu, tau^2) d theta on the same grid, as a convolution
   (FFT) with the normal kernel normalised on the grid, for every tau of the tau grid; mu runs over
   the theta grid points in [-5, 5].
3. p(mu, tau | y) on that (mu, tau) grid with the priors; marginal moments and quantiles of mu and
   tau by the trapezoid rule and linear interpolation of the marginal CDFs.
The result is checked by halving every step (the stored `refinement_change` is the largest change
of any stored value between the two resolutions). For the "large counts" case the normal-normal
posterior of the log odds ratios (empirical logit variances) is stored too: with counts x 100,
the two posteriors agree to the order of the normal approximation's error.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy import signal, special, stats

OUT = Path("models/binomial/reference.json")
PRIORS = {"mu": ("normal", 0.0, 2.5), "tau": ("halfnormal", 1.0), "alpha": ("normal", 0.0, 5.0)}
CASES = {
    "moderate": {"ai": [12, 8, 20], "n1i": [50, 40, 60], "ci": [18, 15, 22], "n2i": [50, 42, 58]},
    "rare_zero_cell": {"ai": [0, 2, 1, 3], "n1i": [40, 55, 60, 80], "ci": [3, 4, 5, 6],
                       "n2i": [40, 50, 62, 78]},
    "moderate_x100": {"ai": [1200, 800, 2000], "n1i": [5000, 4000, 6000],
                      "ci": [1800, 1500, 2200], "n2i": [5000, 4200, 5800]},
}
PROBS = [0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975]


def log_g(a, n1, c, n2, theta, n_alpha):
    """log of int Bin(a|alpha+theta) Bin(c|alpha) N(alpha; 0, 5^2) d alpha for each theta."""
    alpha = np.linspace(-25.0, 25.0, n_alpha)
    da = alpha[1] - alpha[0]
    lp_alpha = stats.norm.logpdf(alpha, 0.0, PRIORS["alpha"][2])
    lc = stats.binom.logpmf(c, n2, special.expit(alpha))
    out = np.empty(theta.size)
    for j in range(0, theta.size, 256):
        t = theta[j : j + 256, None]
        la = stats.binom.logpmf(a, n1, special.expit(alpha[None, :] + t))
        f = la + lc + lp_alpha
        m = f.max(axis=1, keepdims=True)
        w = np.exp(f - m)
        out[j : j + 256] = m[:, 0] + np.log(da * (w.sum(1) - 0.5 * (w[:, 0] + w[:, -1])))
    return out


def posterior(case, scale):
    d_theta = 0.005 / scale
    theta = np.arange(-12.0, 12.0 + d_theta / 2, d_theta)
    n_alpha = int(6000 * scale)
    keep = np.abs(theta) <= 5.0 + 1e-9
    mu = theta[keep]
    tau = np.linspace(0.0, 5.0, int(1000 * scale) + 1)
    logpost = stats.norm.logpdf(mu, 0.0, PRIORS["mu"][2])[:, None] + stats.halfnorm.logpdf(
        tau, scale=1.0
    )[None, :]
    for a, n1, c, n2 in zip(case["ai"], case["n1i"], case["ci"], case["n2i"]):
        lg = log_g(a, n1, c, n2, theta, n_alpha)
        g = np.exp(lg - lg.max())
        for j, t in enumerate(tau):
            # L(mu, tau) = sum_theta g(theta) N(theta; mu, tau^2) d_theta, the kernel normalised
            # on the grid (so tau -> 0 tends to g(mu) itself)
            half = min(int(np.ceil(12 * t / d_theta)) + 1, theta.size - 1)
            offs = np.arange(-half, half + 1) * d_theta
            ker = np.exp(-0.5 * (offs / t) ** 2) if t > 0 else (offs == 0).astype(float)
            ker /= ker.sum()
            conv = signal.fftconvolve(g, ker, mode="same")
            with np.errstate(divide="ignore"):
                logpost[:, j] += lg.max() + np.log(np.maximum(conv[keep], 0.0))
    post = np.exp(logpost - logpost.max())
    p_mu = np.trapezoid(post, tau, axis=1)
    p_tau = np.trapezoid(post, mu, axis=0)
    return summarise(mu, p_mu), summarise(tau, p_tau)


def summarise(x, dens):
    dens = dens / np.trapezoid(dens, x)
    mean = np.trapezoid(x * dens, x)
    sd = math.sqrt(np.trapezoid((x - mean) ** 2 * dens, x))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    q = np.interp(PROBS, cdf, x)
    return {"mean": float(mean), "sd": float(sd), "quantiles": dict(zip(map(str, PROBS), map(float, q)))}


def flatten(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def normal_normal(case):
    a, n1, c, n2 = (np.asarray(case[k], float) for k in ("ai", "n1i", "ci", "n2i"))
    y = np.log(a / (n1 - a)) - np.log(c / (n2 - c))
    v = 1 / a + 1 / (n1 - a) + 1 / c + 1 / (n2 - c)
    mu = np.linspace(-5.0, 5.0, 2001)
    tau = np.linspace(0.0, 5.0, 2000)
    M, T = np.meshgrid(mu, tau, indexing="ij")
    lp = stats.norm.logpdf(M, 0, 2.5) + stats.halfnorm.logpdf(T, scale=1.0)
    for yi, vi in zip(y, v):
        lp += stats.norm.logpdf(yi, M, np.sqrt(vi + T**2))
    post = np.exp(lp - lp.max())
    return {"mu": summarise(mu, np.trapezoid(post, tau, axis=1)),
            "tau": summarise(tau, np.trapezoid(post, mu, axis=0))}


def main():
    out = {"provenance": {"script": "models/binomial/make_reference.py", "priors": PRIORS,
                          "numpy": np.__version__, "scipy": __import__("scipy").__version__},
           "cases": []}
    for name, case in CASES.items():
        fine_mu, fine_tau = posterior(case, 1.0)
        half_mu, half_tau = posterior(case, 0.5)
        fine = {"mu": fine_mu, "tau": fine_tau}
        half = {"mu": half_mu, "tau": half_tau}
        change = max(abs(a - b) for (_, a), (_, b) in zip(flatten(fine), flatten(half)))
        entry = {"id": name, "data": case, "posterior": fine, "refinement_change": change}
        if name.endswith("_x100"):
            entry["normal_normal"] = normal_normal(case)
        out["cases"].append(entry)
        print(name, fine["mu"]["mean"], fine["mu"]["sd"], fine["tau"]["mean"], fine["tau"]["sd"],
              "change", change, flush=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
