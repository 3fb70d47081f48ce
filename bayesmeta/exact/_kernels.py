"""Compiled (numba) versions of the exact engine's hot paths; numpy stays the reference.

The numpy functions in ``_rule`` and ``_mixtures`` define every number. These have a compiled
twin in ``_compiled``, the same arithmetic in fused loops (no temporaries, each entry iterating
to its own convergence as the numpy solvers do), for the intercept-only model and designs of
two columns under a half-normal, half-Cauchy or exponential tau prior without padding (other
models stay in numpy):

- ``loglik1``, ``loglik2``: the log likelihood of tau with the coefficients integrated out
  (``_rule._loglik1``; ``_rule._loglik_design``'s two-column closed form);
- ``locate``, ``trange``, ``rule``, ``functionals``: the rule's steps (``_rule._locate``,
  ``_range``, ``_rule``, ``_functionals``);
- ``tau_solve``, ``tau_mode``, ``tau_summary``: the tau quantile and mode solvers
  (``_rule._quantile_solver``, ``_mode_solver``), each a single call for all entries;
- ``mix_quantile`` and ``mix_mode``: the normal-mixture quantile (Halley steps in a bracket) and
  mode (Newton on the log density) solvers of ``_mixtures``;
- ``mix_table``: one call for a summary's mixture rows (``_mixtures._mix_table``: mean, sd,
  start, quantiles, mode). It solves the same equations from a local expansion of each
  mixture's CDF (nine density derivatives per evaluation, one or two evaluations per
  quantile), accepted only where what it leaves out is below 1e-16 of the local length
  scale; the mode starts where ``_mode_row``'s own steps from the median lead on that
  expansion and is then polished by them. Each evaluation takes exp and the normal CDF as
  polynomials (``exp_neg``; ``ndtr_e``, Cody's approximations, as R's ``pnorm``) instead of
  libm calls, so its loop over the components runs on SIMD lanes.

They agree with numpy to rounding (tested to 1e-12 in ``tests/test_exact_kernels.py``; the tau
modes, found with finite differences, to 1e-9). numba
is optional and never imported by ``import bayesmeta.exact``: importing it costs about 0.3 s, so
the kernels load only where they pay for themselves, namely a batch of at least
``AUTO_MIN_ANALYSES`` analyses (:func:`~bayesmeta.exact.exact_posterior_batch`,
``fit_many``), or everywhere when the environment sets ``BAYESMETA_NUMBA=1``;
``BAYESMETA_NUMBA=0`` keeps everything in numpy. Once loaded they serve every later call in the
process. Compiled code is cached on disk (numba ``cache=True``), so only the first process on a
machine pays the compile (a few seconds).
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace
from typing import Any

#: Batches at least this large load the kernels (numba's import, ~0.3 s, then pays off).
AUTO_MIN_ANALYSES = 2000

_STATE: dict[str, Any] = {"kernels": None, "failed": False}


def _setting() -> str:
    return os.environ.get("BAYESMETA_NUMBA", "auto").strip().lower()


def loaded() -> Any:
    """Return the compiled kernels if loaded (or ``BAYESMETA_NUMBA=1`` asks), else None."""
    k = _STATE["kernels"]
    if k is not None:
        return None if _setting() in ("0", "off", "false", "no") else k
    if _setting() in ("1", "on", "true", "yes"):
        return ensure()
    return None


def ensure(n_analyses: int | None = None) -> Any:
    """Load and return the kernels (``n_analyses``: only if >= ``AUTO_MIN_ANALYSES``), or None.

    None when ``BAYESMETA_NUMBA=0``, numba is not installed, or the batch is too small.
    """
    setting = _setting()
    if setting in ("0", "off", "false", "no") or _STATE["failed"]:
        return None
    if _STATE["kernels"] is not None:
        return _STATE["kernels"]
    if n_analyses is not None and n_analyses < AUTO_MIN_ANALYSES and "numba" not in sys.modules:
        return None
    try:
        _STATE["kernels"] = _build()
    except ImportError:
        _STATE["failed"] = True
        return None
    return _STATE["kernels"]


def _build() -> SimpleNamespace:
    from bayesmeta.exact import _compiled

    return SimpleNamespace(
        loglik1=_compiled.loglik1,
        loglik2=_compiled.loglik2,
        mix_quantile=_compiled.mix_quantile,
        mix_mode=_compiled.mix_mode,
        mix_table=_compiled.mix_table,
        tau_solve=_compiled.tau_solve,
        tau_mode=_compiled.tau_mode,
        tau_summary=_compiled.tau_summary,
        locate=_compiled.locate,
        trange=_compiled.trange,
        rule=_compiled.rule,
        functionals=_compiled.functionals,
    )
