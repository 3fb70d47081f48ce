r"""Random-effects meta-analysis of 2x2 tables with a binomial likelihood (log odds ratio).

.. math::

    a_i &\sim \mathrm{Binomial}(n_{1i}, p_{1i}), \quad c_i \sim \mathrm{Binomial}(n_{2i}, p_{2i}) \\
    \mathrm{logit}\, p_{2i} &= \alpha_i, \qquad \mathrm{logit}\, p_{1i} = \alpha_i + \theta_i \\
    \theta_i &= \mu + \tau z_i, \quad z_i \sim N(0, 1), \qquad \alpha_i \sim N(0, 5^2)

Arm 1 is the intervention. No continuity correction: studies with zero events in an arm enter
the likelihood as they are, and double-zero studies contribute (almost) nothing about
:math:`\theta_i`. ``mu`` is the average log odds ratio; the study baselines :math:`\alpha_i` are
fixed effects with a weak prior (``"alpha"``), as in Smith, Spiegelhalter & Thomas (1995).

See also: metafor::rma.glmm(measure = "OR", model = "UM.FS"); R bayesmeta (normal approximation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from bayesmeta import _dims as D
from bayesmeta.errors import ModelSpecError
from bayesmeta.models.base import Z_NEW, BaseModel, Z, default_priors
from bayesmeta.models.random_effects import _single_outcome, check_parameterization
from bayesmeta.priors import Normal
from bayesmeta.table import EffectTable

__all__ = ["Binomial"]

ALPHA = "alpha"


class Binomial(BaseModel):
    """Binomial-normal random-effects model for 2x2 counts (log odds ratio).

    Parameters
    ----------
    table
        An :class:`~bayesmeta.table.EffectTable` of one outcome with measure ``"OR"`` and arm
        columns ``ai`` and ``ci`` (events) and ``n1i``, ``n2i`` (totals) or ``bi``, ``di``
        (non-events), e.g. from :meth:`EffectTable.from_arms`.
    priors
        ``"mu"`` (default ``Normal(0, 2.5)``), ``"tau"`` (``HalfNormal(1)``) and ``"alpha"``
        (baseline log odds of every study, ``Normal(0, 5)``).
    parameterization
        ``"noncentered"`` (default) or ``"centered"``.

    Examples
    --------
    >>> from bayesmeta import EffectTable, datasets
    >>> bcg = EffectTable.from_arms(datasets.load_bcg(), "OR",
    ...     columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"})
    >>> Binomial(bcg).counts()[0]
    (4, 123, 11, 139)
    """

    name: ClassVar[str] = "binomial"
    prior_names: ClassVar[dict[str, str]] = {D.MU: "mu", D.TAU: "tau", ALPHA: "mu"}

    def __init__(
        self,
        table: EffectTable,
        *,
        priors: Mapping[str, Any] | None = None,
        parameterization: str = "noncentered",
    ) -> None:
        if isinstance(table, EffectTable):
            _single_outcome(table, type(self).__name__)
            self._counts = _counts(table)
        super().__init__(table, priors=priors)
        self.parameterization = check_parameterization(parameterization)

    def counts(self) -> list[tuple[int, int, int, int]]:
        """Return the 2x2 counts ``(ai, n1i, ci, n2i)`` per study.

        ``ai`` events of ``n1i`` in the treatment arm, ``ci`` of ``n2i`` in the control arm.

        Examples
        --------
        >>> from bayesmeta import EffectTable, datasets
        >>> bcg = EffectTable.from_arms(datasets.load_bcg(), "OR",
        ...     columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"})
        >>> Binomial(bcg).counts()[:2]
        [(4, 123, 11, 139), (6, 306, 29, 303)]
        """
        a, n1, c, n2 = self._counts
        return [(int(w), int(x), int(y), int(z)) for w, x, y, z in zip(a, n1, c, n2, strict=True)]

    def _exact_obstacle(self) -> str | None:
        return "a binomial likelihood (the exact engine integrates normal likelihoods only)"

    def _parse_prior(self, key: str, value: Any) -> Any:
        prior = super()._parse_prior(key, value)
        if key == ALPHA and not prior.is_proper:
            raise ModelSpecError(
                f"priors['alpha'] = {prior}: the study baselines need a proper prior. With a "
                "flat one, a study with no events in either arm (or all events in both) leaves "
                "its baseline log odds unbounded and the posterior improper; use e.g. "
                "'normal(0, 5)' (the default)"
            )
        return prior

    def _default_priors(self) -> dict[str, Any]:
        pri: dict[str, Any] = dict(default_priors("OR", self.table.sei))
        pri[ALPHA] = Normal(0.0, 5.0)
        return pri

    def _options(self) -> dict[str, Any]:
        return {"parameterization": self.parameterization}

    def _coords(self) -> dict[str, list[Any]]:
        return {D.STUDY: self.table.studies, D.ARM: list(D.ARMS)}

    def _define(self) -> None:
        import pymc as pm

        priors = self.priors
        a, n1, c, n2 = self._counts
        n = pm.Data(D.N, np.column_stack([n1, n2]), dims=(D.STUDY, D.ARM))
        mu = priors[D.MU].to_pymc(D.MU)
        tau = priors[D.TAU].to_pymc(D.TAU)
        alpha = priors[ALPHA].to_pymc(ALPHA, dims=D.STUDY)
        if self.parameterization == "noncentered":
            z = pm.Normal(Z, 0.0, 1.0, dims=D.STUDY)
            theta = pm.Deterministic(D.THETA, mu + tau * z, dims=D.STUDY)
        else:
            theta = pm.Normal(D.THETA, mu, tau, dims=D.STUDY)
        z_new = pm.Normal(Z_NEW, 0.0, 1.0)
        pm.Deterministic(D.THETA_NEW, mu + tau * z_new)
        logit_p = pm.math.stack([alpha + theta, alpha], axis=1)
        pm.Binomial(
            D.Y, n=n, logit_p=logit_p, observed=np.column_stack([a, c]), dims=(D.STUDY, D.ARM)
        )


def _counts(table: EffectTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    df = table.data
    measures = set(df["measure"])
    if measures != {"OR"}:
        raise ModelSpecError(
            f"Binomial models the log odds ratio; the table's measure is {sorted(measures)}. "
            "Build the table with EffectTable.from_arms(frame, 'OR', ...)"
        )
    cols = set(df.columns)
    if not {"ai", "ci"} <= cols:
        raise ModelSpecError("Binomial needs arm columns 'ai' and 'ci' (events per arm)")
    a = df["ai"].to_numpy(dtype=float)
    c = df["ci"].to_numpy(dtype=float)
    if {"n1i", "n2i"} <= cols:
        n1, n2 = df["n1i"].to_numpy(dtype=float), df["n2i"].to_numpy(dtype=float)
    elif {"bi", "di"} <= cols:
        n1, n2 = a + df["bi"].to_numpy(dtype=float), c + df["di"].to_numpy(dtype=float)
    else:
        raise ModelSpecError("Binomial needs arm totals 'n1i', 'n2i' or non-events 'bi', 'di'")
    arrays = (a, n1, c, n2)
    for name, x in zip(("ai", "n1i", "ci", "n2i"), arrays, strict=True):
        if not np.all(np.isfinite(x)) or np.any(x < 0) or np.any(x != np.round(x)):
            raise ModelSpecError(f"Binomial: {name} must be non-negative whole numbers")
    if np.any(a > n1) or np.any(c > n2) or np.any(n1 < 1) or np.any(n2 < 1):
        raise ModelSpecError("Binomial: events exceed arm totals, or an arm is empty")
    return (a.astype(np.int64), n1.astype(np.int64), c.astype(np.int64), n2.astype(np.int64))
