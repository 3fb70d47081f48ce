r"""Random-effects meta-regression on study-level moderators (one outcome).

.. math::

    y_i \mid \theta_i &\sim N(\theta_i, s_i^2) \\
    \theta_i &= \mu + x_i^\top \beta + \tau z_i, \quad z_i \sim N(0, 1) \\
    \theta_{\text{new}} &= \mu + \tau z_{\text{new}}

``mu`` is the intercept: the average effect at moderator values of 0, as metafor's ``intrcpt``
(and ``theta_new`` is the predicted effect of a new study there). Moderators are *not* centred
unless ``center=True``; then :math:`x_i` is replaced by :math:`x_i - \bar x` and ``mu`` is the
average effect at the moderators' means.

See also: metafor::rma(yi, vi, mods = ~ ...); R bayesmeta::bmr.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from bayesmeta import _dims as D
from bayesmeta.errors import ModelSpecError
from bayesmeta.models.base import _as_prior, _round2, is_location, vector_prior
from bayesmeta.models.random_effects import RandomEffects
from bayesmeta.priors import Normal, Prior
from bayesmeta.table import EffectTable

__all__ = ["MetaRegression"]


class MetaRegression(RandomEffects):
    """Bayesian random-effects meta-regression.

    Parameters
    ----------
    table
        An :class:`~bayesmeta.table.EffectTable` holding one outcome and the moderator columns.
    mods
        Names of moderator columns (numeric or 0/1 coded).
    priors
        Overrides for ``"mu"`` (intercept), ``"tau"`` and ``"beta"``. ``"beta"`` is one location
        prior for every coefficient or a mapping moderator -> prior. By default
        ``beta_j ~ Normal(0, s_mu / sd(x_j))``, where ``s_mu`` is the default scale of ``mu``
        (a one-SD change in a moderator moves the effect by about as much as the prior allows
        the average effect to be), rounded to 2 significant digits and recorded in the spec.
    parameterization
        ``"noncentered"`` (default) or ``"centered"``.
    center
        Centre the moderators at their means (then ``mu`` is the effect at the means).

    Examples
    --------
    >>> from bayesmeta import EffectTable, datasets
    >>> bcg = EffectTable.from_arms(datasets.load_bcg(), "RR", moderators=["ablat"],
    ...     columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"})
    >>> MetaRegression(bcg, mods=["ablat"]).priors["beta"]
    {'ablat': Normal(mu=0, sigma=0.17)}

    See also: metafor::rma(mods = ...); R bayesmeta::bmr.
    """

    name: ClassVar[str] = "meta_regression"
    prior_names: ClassVar[dict[str, str]] = {D.MU: "mu", D.TAU: "tau", D.BETA: "mu"}

    def __init__(
        self,
        table: EffectTable,
        mods: Sequence[str],
        *,
        priors: Mapping[str, Any] | None = None,
        parameterization: str = "noncentered",
        center: bool = False,
    ) -> None:
        if isinstance(mods, str):
            mods = [mods]
        if not isinstance(mods, Sequence) or not mods or not all(isinstance(m, str) for m in mods):
            raise ModelSpecError(f"mods must be a non-empty list of column names, got {mods!r}")
        if len(set(mods)) != len(mods):
            raise ModelSpecError(f"mods names a moderator twice: {list(mods)}")
        self.mods: list[str] = list(mods)
        self.center = bool(center)
        if isinstance(table, EffectTable):
            self._X_raw = self._check_mods(table)
        super().__init__(table, priors=priors, parameterization=parameterization)

    def _check_mods(self, table: EffectTable) -> np.ndarray:
        frame = table.data
        missing = [m for m in self.mods if m not in frame.columns]
        if missing:
            raise ModelSpecError(
                f"mods: moderator(s) {missing} are not columns of the table; available: "
                f"{[c for c in frame.columns if c not in ('yi', 'vi', 'sei')]}"
            )
        cols = []
        for m in self.mods:
            try:
                x = np.asarray(frame[m].to_numpy(dtype=float), dtype=float)
            except (TypeError, ValueError):
                raise ModelSpecError(
                    f"mods: moderator {m!r} is not numeric; declare it with "
                    "EffectTable(..., moderators=[...]) so text is coded 0/1"
                ) from None
            if not np.all(np.isfinite(x)):
                raise ModelSpecError(f"mods: moderator {m!r} has missing or infinite values")
            if np.ptp(x) == 0:
                raise ModelSpecError(
                    f"mods: moderator {m!r} is constant (all values {x[0]:g}); it cannot be "
                    "estimated beside the intercept"
                )
            cols.append(x)
        X = np.column_stack(cols)
        k, p = X.shape[0], X.shape[1] + 1
        if k <= p:
            raise ModelSpecError(
                f"mods: {k} studies cannot inform {p} coefficients and tau; use fewer moderators"
            )
        if np.linalg.matrix_rank(np.column_stack([np.ones(k), X])) < p:
            raise ModelSpecError(f"mods: moderators {self.mods} are collinear with each other or 1")
        return X

    @property
    def X(self) -> np.ndarray:
        """The moderator matrix used in the model (centred if ``center=True``)."""
        X = self._X_raw
        return X - X.mean(axis=0) if self.center else X

    def _parse_prior(self, key: str, value: Any) -> Any:
        if key != D.BETA or not isinstance(value, Mapping) or "family" in value:
            prior = super()._parse_prior(key, value)
            if key == D.BETA:
                return self._check_beta(key, prior)
            return prior
        unknown = [m for m in value if m not in self.mods]
        if unknown:
            raise ModelSpecError(
                f"priors['beta'] names {unknown}, which are not among mods {self.mods}"
            )
        out = {}
        for m, v in value.items():
            out[str(m)] = self._check_beta(f"beta[{m}]", _as_prior(f"beta[{m}]", v))
        return out

    @staticmethod
    def _check_beta(name: str, prior: Prior) -> Prior:
        if not is_location(prior):
            raise ModelSpecError(
                f"priors[{name!r}] = {prior}: coefficients take a normal or flat prior"
            )
        return prior

    def _default_priors(self) -> dict[str, Any]:
        pri = super()._default_priors()
        mu_prior = self.user_priors.get(D.MU, pri.get(D.MU))
        scale = mu_prior.sigma if isinstance(mu_prior, Normal) else 1.0
        sd = self._X_raw.std(axis=0, ddof=1)
        pri[D.BETA] = {
            m: Normal(0.0, _round2(scale / s)) for m, s in zip(self.mods, sd, strict=True)
        }
        return pri

    @property
    def priors(self) -> dict[str, Any]:
        """The priors in use, ``beta`` as a dict moderator -> prior.

        The class defaults updated with the user's; a single prior given for ``beta`` applies
        to every moderator, a dict to the moderators it names.
        """
        merged = self._default_priors()
        for key, value in self.user_priors.items():
            if key == D.BETA:
                if isinstance(value, Prior):
                    merged[D.BETA] = dict.fromkeys(self.mods, value)
                else:
                    merged[D.BETA] = {**merged[D.BETA], **value}
            else:
                merged[key] = value
        return merged

    def _options(self) -> dict[str, Any]:
        return {**super()._options(), "mods": list(self.mods), "center": self.center}

    def _coords(self) -> dict[str, list[Any]]:
        return {D.STUDY: self.table.studies, D.MODERATOR: list(self.mods)}

    def _coefficient_priors(self) -> list[Any]:
        pri = self.priors
        return [pri[D.MU], *(pri[D.BETA][m] for m in self.mods)]

    def _design(self) -> np.ndarray:
        return np.column_stack([np.ones(self.table.k), self.X.astype(float)])

    def _exact_layout(self) -> dict[str, Any]:
        return {"moderators": list(self.mods), "X": self.X}

    def _linear_predictor(self, mu: Any) -> Any:
        import pymc as pm

        X = pm.Data(D.X, self.X, dims=(D.STUDY, D.MODERATOR))
        beta_priors = self.priors[D.BETA]
        beta = vector_prior(D.BETA, [beta_priors[m] for m in self.mods], D.MODERATOR)
        return mu + pm.math.dot(X, beta)
