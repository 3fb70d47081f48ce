"""The exact posterior object and its constructor."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.exact._mixtures import (
    _mix_cdf,
    _mix_hdi,
    _mix_interval,
    _mix_mode,
    _mix_pdf,
    _mix_quantile,
)
from bayesmeta.exact._rule import (
    _FD,
    FloatArray,
    _Data,
    _fit_grids,
    _Grid,
    _ll,
    _loglik1,
    _Spec,
    _tau_cdf_t,
    _tau_interval,
    _tau_mode,
    _tau_quantile,
    _tau_summary,
)
from bayesmeta.priors import Flat, Normal, Prior, prior_from_spec

# ------------------------------------------------------------------------------------------------
# public distribution objects
# ------------------------------------------------------------------------------------------------


def _check_kind(ci_prob: float, ci_kind: str) -> None:
    if ci_kind not in ("eti", "hdi"):
        raise ModelSpecError(f"ci_kind must be 'eti' or 'hdi', got {ci_kind!r}")
    if not (0 < ci_prob < 1):
        raise ModelSpecError(f"ci_prob must be in (0, 1), got {ci_prob!r}")


@dataclass(frozen=True, eq=False)
class MixturePosterior:
    """Posterior of a normal-mixture quantity (``mu``, ``theta_new`` or one ``theta_i``).

    ``p(x | y) = sum_j W_j N(x | m_j, s_j**2)`` over the quadrature nodes ``tau_j``.

    Examples
    --------
    >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
    >>> mu = post.mu
    >>> mu.name, mu.W.shape == mu.m.shape == mu.s.shape
    ('mu', True)
    >>> round(mu.mean, 4), round(mu.sd, 4)
    (0.0551, 0.2174)
    """

    name: str
    W: FloatArray
    m: FloatArray
    s: FloatArray
    has_mean: bool
    has_var: bool

    def _as2d(self, x: ArrayLike) -> tuple[FloatArray, tuple[int, ...]]:
        arr = np.asarray(x, dtype=float)
        return arr.reshape(1, -1), arr.shape

    def pdf(self, x: ArrayLike) -> FloatArray:
        """Posterior density, ``sum_j W_j N(x | m_j, s_j**2)``.

        Parameters
        ----------
        x
            Points at which to evaluate (any shape).

        Returns
        -------
        numpy.ndarray
            The density, same shape as ``x``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> post.mu.pdf([0.0, 0.1]).round(3)
        array([2.473, 2.48 ])
        """
        xx, shp = self._as2d(x)
        with np.errstate(all="ignore"):
            return _mix_pdf(self.W[None], self.m[None], self.s[None], xx)[0].reshape(shp)

    def cdf(self, x: ArrayLike) -> FloatArray:
        """Posterior cumulative distribution function, ``sum_j W_j Phi((x - m_j)/s_j)``.

        Parameters
        ----------
        x
            Points at which to evaluate (any shape).

        Returns
        -------
        numpy.ndarray
            ``P(X <= x | y)``, same shape as ``x``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(float(post.mu.cdf(0.0)), 4)
        0.3607
        """
        xx, shp = self._as2d(x)
        return _mix_cdf(self.W[None], self.m[None], self.s[None], xx).reshape(shp)

    def quantile(self, p: ArrayLike) -> FloatArray:
        """Posterior quantile function (inverse of :meth:`cdf`, solved numerically).

        Parameters
        ----------
        p
            Probabilities in ``(0, 1)`` (any shape).

        Returns
        -------
        numpy.ndarray
            Quantiles, same shape as ``p``.

        Raises
        ------
        ModelSpecError
            A probability outside ``(0, 1)``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> post.mu.quantile([0.025, 0.5, 0.975]).round(4)
        array([-0.3908,  0.0527,  0.5141])
        """
        pp, shp = self._as2d(p)
        if np.any((pp <= 0) | (pp >= 1)):
            raise ModelSpecError("quantile probabilities must lie in (0, 1)")
        with np.errstate(all="ignore"):
            return _mix_quantile(self.W[None], self.m[None], self.s[None], pp).reshape(shp)

    @cached_property
    def mean(self) -> float:
        """Posterior mean (``nan`` if it does not exist, e.g. heavy-tailed tau posterior)."""
        return float((self.W * self.m).sum()) if self.has_mean else math.nan

    @cached_property
    def sd(self) -> float:
        """Posterior standard deviation (``inf`` if the variance does not exist)."""
        if not self.has_var:
            return math.inf
        mean = (self.W * self.m).sum()
        return float(np.sqrt((self.W * (self.s**2 + (self.m - mean) ** 2)).sum()))

    @cached_property
    def median(self) -> float:
        """Posterior median, ``quantile(0.5)``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(post.mu.median, 4)
        0.0527
        """
        return float(self.quantile(0.5))

    @cached_property
    def mode(self) -> float:
        """Posterior mode (Newton steps from the median; the mixtures here are unimodal)."""
        with np.errstate(all="ignore"):
            return float(
                _mix_mode(self.W[None], self.m[None], self.s[None], np.array([self.median]))[0]
            )

    def interval(self, ci_prob: float = 0.95, ci_kind: str = "eti") -> tuple[float, float]:
        """Equal-tailed (``"eti"``) or shortest (``"hdi"``) credible interval.

        Parameters
        ----------
        ci_prob
            Posterior probability inside the interval.
        ci_kind
            ``"eti"`` (quantiles ``(1 - ci_prob)/2`` and ``(1 + ci_prob)/2``) or ``"hdi"``.

        Returns
        -------
        tuple of float
            ``(lower, upper)``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> lo, hi = post.theta_new.interval(0.95, "hdi")
        >>> round(lo, 3), round(hi, 3)
        (-0.808, 0.928)
        """
        _check_kind(ci_prob, ci_kind)
        with np.errstate(all="ignore"):
            iv = _mix_interval(self.W[None], self.m[None], self.s[None], ci_prob, ci_kind)[0]
        return float(iv[0]), float(iv[1])


@dataclass(frozen=True, eq=False)
class TauPosterior:
    """Posterior of the heterogeneity ``tau`` (``power=2``: of ``tau**2``).

    Examples
    --------
    >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
    >>> post.tau.power, post.tau2.power
    (1, 2)
    >>> round(post.tau.median ** 2, 6) == round(post.tau2.median, 6)
    True
    """

    grid: _Grid
    power: int = 1

    def _prep(self, v: ArrayLike) -> tuple[FloatArray, tuple[int, ...]]:
        arr = np.asarray(v, dtype=float)
        return arr.reshape(1, -1), arr.shape

    def pdf(self, x: ArrayLike) -> FloatArray:
        r"""Posterior density of tau (or of tau**2 when ``power=2``).

        .. math::

            p(\tau \mid y) \propto p(\tau)\, p(y \mid \tau), \quad
            p_{\tau^2}(v) = p_\tau(\sqrt v) / (2\sqrt v)

        Parameters
        ----------
        x
            Points at which to evaluate (any shape); zero density below 0.

        Returns
        -------
        numpy.ndarray
            The density, same shape as ``x``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> post.tau.pdf([0.0, 0.1, 0.5]).round(3)
        array([1.769, 2.259, 0.699])
        """
        xx, shp = self._prep(x)
        g = self.grid
        with np.errstate(all="ignore"):
            tau = np.sqrt(xx) if self.power == 2 else xx
            ll = _ll(tau * tau, g.data, g.spec)
            out = np.exp(g.spec.tau_prior.logpdf(tau) + ll - g.logZ[0])
            if self.power == 2:
                out = out / (2 * tau)
        return np.where(xx >= 0, out, 0.0).reshape(shp)

    def cdf(self, x: ArrayLike) -> FloatArray:
        """Posterior cumulative distribution function of tau (or of tau**2).

        Parameters
        ----------
        x
            Points at which to evaluate (any shape).

        Returns
        -------
        numpy.ndarray
            ``P(tau <= x | y)``, same shape as ``x``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(float(post.tau.cdf(0.3)), 4)
        0.6355
        >>> round(float(post.tau2.cdf(0.3**2)), 4)
        0.6355
        """
        xx, shp = self._prep(x)
        g = self.grid
        with np.errstate(all="ignore"):
            tau = np.sqrt(np.maximum(xx, 0)) if self.power == 2 else xx
            t = g.t_of_x(np.log(np.where(tau > 0, tau, 1e-300)))
            out = _tau_cdf_t(g, t)
        out = np.where(tau <= g.spec.lo, 0.0, out)
        return np.where(tau >= g.spec.hi, 1.0, out).reshape(shp)

    def quantile(self, p: ArrayLike) -> FloatArray:
        """Posterior quantile function of tau (or of tau**2).

        Parameters
        ----------
        p
            Probabilities in ``[0, 1]`` (any shape).

        Returns
        -------
        numpy.ndarray
            Quantiles, same shape as ``p``.

        Raises
        ------
        ModelSpecError
            A probability outside ``[0, 1]``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> post.tau.quantile([0.5, 0.95]).round(4)
        array([0.23  , 0.6852])
        """
        pp, shp = self._prep(p)
        if np.any((pp < 0) | (pp > 1)):
            raise ModelSpecError("quantile probabilities must lie in [0, 1]")
        with np.errstate(all="ignore"):
            out = _tau_quantile(self.grid, pp)
        return (out**self.power).reshape(shp)

    def _moment(self, r: int) -> float:
        g = self.grid
        if not g.spec.moment_exists(r, g.data.k)[0]:
            return math.inf
        return float((g.W[0] * g.tau[0] ** r).sum())

    @cached_property
    def mean(self) -> float:
        """Posterior mean (``inf`` if it does not exist)."""
        return self._moment(self.power)

    @cached_property
    def sd(self) -> float:
        """Posterior standard deviation (``inf`` if the variance does not exist)."""
        g = self.grid
        if not g.spec.moment_exists(2 * self.power, g.data.k)[0]:
            return math.inf
        v = g.tau[0] ** self.power
        return float(np.sqrt((g.W[0] * (v - self.mean) ** 2).sum()))

    @cached_property
    def median(self) -> float:
        """Posterior median, ``quantile(0.5)``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(post.tau.median, 4)
        0.23
        """
        return float(self.quantile(0.5))

    @cached_property
    def mode(self) -> float:
        """Posterior mode (may be 0, the boundary of the support).

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(post.tau.mode, 4)
        0.1528
        """
        with np.errstate(all="ignore"):
            return float(_tau_mode(self.grid, c=self.power - 1)[0] ** self.power)

    def interval(self, ci_prob: float = 0.95, ci_kind: str = "eti") -> tuple[float, float]:
        """Equal-tailed (``"eti"``) or shortest (``"hdi"``) credible interval.

        A shortest interval may start at 0.

        Parameters
        ----------
        ci_prob
            Posterior probability inside the interval.
        ci_kind
            ``"eti"`` or ``"hdi"``.

        Returns
        -------
        tuple of float
            ``(lower, upper)``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> [round(v, 4) for v in post.tau.interval(0.95, "eti")]
        [0.0141, 0.8078]
        >>> post.tau.interval(0.95, "hdi")[0]
        0.0
        """
        _check_kind(ci_prob, ci_kind)
        with np.errstate(all="ignore"):
            lo, hi = _tau_interval(self.grid, ci_prob, ci_kind, c=self.power - 1)
        return float(lo[0] ** self.power), float(hi[0] ** self.power)


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------


def _as_prior(p: Any, target: str, arg: str) -> Prior:
    prior = prior_from_spec(p)
    if prior.target != target:
        want = (
            "a tau prior (half_normal, half_cauchy, ...)" if target == "tau" else "normal or flat"
        )
        raise ModelSpecError(f"{arg}={prior} is not valid here; {arg} must be {want}")
    return prior


def _validate_vectors(yi: Any, sei: Any) -> tuple[FloatArray, FloatArray]:
    try:
        y = np.asarray(yi, dtype=float)
        s = np.asarray(sei, dtype=float)
    except (TypeError, ValueError) as e:
        raise DataError(f"yi and sei must be numeric: {e}") from None
    if y.ndim != 1 or s.ndim != 1:
        raise DataError(f"yi and sei must be 1-D, got shapes {y.shape} and {s.shape}")
    if y.size == 0:
        raise DataError("yi is empty: at least one study is needed", column="yi")
    if y.size != s.size:
        raise DataError(f"yi has {y.size} values but sei has {s.size}", column="sei")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise DataError(
            f"yi must be finite; row(s) {', '.join(str(i + 1) for i in bad)} (1-based) are not",
            rows=bad.tolist(),
            column="yi",
        )
    bad = np.flatnonzero(~(np.isfinite(s) & (s > 0)))
    if bad.size:
        raise DataError(
            f"sei must be finite and > 0; row(s) {', '.join(str(i + 1) for i in bad)} "
            "(1-based) are not",
            rows=bad.tolist(),
            column="sei",
        )
    return y, s


def _check_proper(spec: _Spec, k: NDArray[np.int64], where: str = "") -> None:
    ok = spec.moment_exists(0, k)
    if not np.all(ok):
        kk = int(np.asarray(k)[~ok][0])
        raise ModelSpecError(
            f"the posterior is improper{where}: tau_prior={spec.tau_prior} with "
            f"mu_prior={spec.mu_prior} and k={kk} studies; a flat tau prior needs k >= 3 with a "
            "flat mu prior (k >= 2 with a normal one). Use a proper tau prior, e.g. "
            "half_normal(0.5), or a normal prior on mu."
        )


# ------------------------------------------------------------------------------------------------
# the result object
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ExactPosterior:
    """Exact posterior of one meta-analysis under the normal-normal model.

    Create it with :func:`exact_posterior`. Marginal posteriors are attributes:
    ``tau``, ``tau2`` (:class:`TauPosterior`), ``mu``, ``theta_new`` and ``theta(i)``
    (:class:`MixturePosterior`), each with ``pdf``, ``cdf``, ``quantile``, ``mean``, ``sd``,
    ``median``, ``mode`` and ``interval``.

    See also: R bayesmeta::bayesmeta.

    Examples
    --------
    >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
    >>> post.k, post.tau_prior
    (3, HalfNormal(scale=0.5))
    >>> round(post.mu.mean, 4), round(post.tau.median, 4)
    (0.0551, 0.23)
    """

    yi: FloatArray
    sei: FloatArray
    labels: tuple[str, ...]
    tau_prior: Prior
    mu_prior: Prior
    _grid: _Grid = field(repr=False)

    @property
    def k(self) -> int:
        """Number of studies.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> post.k
        3
        """
        return int(self.yi.size)

    @property
    def n_nodes(self) -> int:
        """Number of quadrature nodes in tau."""
        return int(self._grid.t.shape[1])

    # -- marginals ------------------------------------------------------------------------------
    @cached_property
    def tau(self) -> TauPosterior:
        """Marginal posterior of the heterogeneity ``tau``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(post.tau.mean, 4)
        0.2762
        """
        return TauPosterior(self._grid, 1)

    @cached_property
    def tau2(self) -> TauPosterior:
        """Marginal posterior of ``tau**2``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(post.tau2.mean, 4)
        0.1201
        """
        return TauPosterior(self._grid, 2)

    @cached_property
    def _moments(self) -> tuple[bool, bool]:
        g = self._grid
        e1 = bool(g.spec.moment_exists(1, g.data.k)[0])
        e2 = bool(g.spec.moment_exists(2, g.data.k)[0])
        return e1, e2

    @cached_property
    def mu(self) -> MixturePosterior:
        """Marginal posterior of the overall mean ``mu``, a normal mixture over ``tau``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(post.mu.mean, 4)
        0.0551
        """
        g = self._grid
        e1, e2 = self._moments
        normal = g.spec.p0 > 0
        return MixturePosterior(
            "mu", g.W[0], g.muhat[0], np.sqrt(g.V[0]), e1 or normal, e2 or normal
        )

    @cached_property
    def theta_new(self) -> MixturePosterior:
        """Posterior predictive distribution of a new study's effect, ``theta_new ~ N(mu, tau**2)``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(post.theta_new.sd, 4) > round(post.mu.sd, 4)
        True
        """
        g = self._grid
        e1, e2 = self._moments
        return MixturePosterior(
            "theta_new", g.W[0], g.muhat[0], np.sqrt(g.V[0] + g.tau[0] ** 2), e1, e2
        )

    @cached_property
    def _theta_ms(self) -> tuple[FloatArray, FloatArray]:
        g = self._grid
        t2 = g.tau[0][None, :] ** 2
        s2 = (self.sei**2)[:, None]
        b = t2 / (s2 + t2)
        m = b * self.yi[:, None] + (1 - b) * g.muhat[0][None, :]
        v = s2 * b + (1 - b) ** 2 * g.V[0][None, :]
        return m, np.sqrt(v)

    def _index(self, i: int | str) -> int:
        if isinstance(i, str):
            if i not in self.labels:
                raise ModelSpecError(f"no study labelled {i!r}; labels: {', '.join(self.labels)}")
            return self.labels.index(i)
        if not (0 <= int(i) < self.k):
            raise ModelSpecError(f"study index {i} out of range 0..{self.k - 1}")
        return int(i)

    def theta(self, i: int | str) -> MixturePosterior:
        """Shrinkage posterior of study ``i``'s true effect ``theta_i``.

        Given ``tau``, ``theta_i`` is normal with mean ``b yi + (1 - b) mu_hat`` and
        ``b = tau**2 / (sei**2 + tau**2)``; over ``tau`` it is a normal mixture.

        Parameters
        ----------
        i
            0-based position or label of the study.

        Returns
        -------
        MixturePosterior
            The posterior of ``theta_i``.

        Raises
        ------
        ModelSpecError
            Unknown label or index out of range.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)",
        ...                        labels=["a", "b", "c"])
        >>> th = post.theta("b")
        >>> th.name, round(th.mean, 4)
        ('theta[b]', 0.1817)
        """
        j = self._index(i)
        m, s = self._theta_ms
        return MixturePosterior(f"theta[{self.labels[j]}]", self._grid.W[0], m[j], s[j], True, True)

    def _param(self, param: str) -> MixturePosterior | TauPosterior:
        if param in ("mu", "tau", "tau2", "theta_new"):
            return getattr(self, param)
        if param.startswith("theta[") and param.endswith("]"):
            return self.theta(param[6:-1])
        if param in self.labels:
            return self.theta(param)
        raise ModelSpecError(
            f"unknown parameter {param!r}; use 'mu', 'tau', 'tau2', 'theta_new' or 'theta[label]'"
        )

    # -- summaries ------------------------------------------------------------------------------
    def interval(
        self, param: str, ci_prob: float = 0.95, ci_kind: str = "eti"
    ) -> tuple[float, float]:
        """Credible interval of one parameter: equal-tailed (``"eti"``) or shortest (``"hdi"``).

        R bayesmeta reports the shortest interval by default.

        Parameters
        ----------
        param
            ``"mu"``, ``"tau"``, ``"tau2"``, ``"theta_new"``, ``"theta[label]"`` or a study label.
        ci_prob
            Posterior probability inside the interval.
        ci_kind
            ``"eti"`` or ``"hdi"``.

        Returns
        -------
        tuple of float
            ``(lower, upper)``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> [round(v, 4) for v in post.interval("mu")]
        [-0.3908, 0.5141]
        """
        return self._param(param).interval(ci_prob, ci_kind)

    def prob(self, param: str, threshold: float = 0.0, direction: str = "greater") -> float:
        """Posterior probability that ``param`` is above (``"greater"``) or below ``threshold``.

        Parameters
        ----------
        param
            As in :meth:`interval`.
        threshold
            The cut-off.
        direction
            ``"greater"`` for ``P(param > threshold | y)``, ``"less"`` for
            ``P(param < threshold | y)``.

        Returns
        -------
        float
            The probability.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(post.prob("mu", 0.0), 4)
        0.6393
        >>> round(post.prob("mu", 0.0) + post.prob("mu", 0.0, "less"), 10)
        1.0
        """
        if direction not in ("greater", "less"):
            raise ModelSpecError(f"direction must be 'greater' or 'less', got {direction!r}")
        p = float(self._param(param).cdf(threshold))
        return 1 - p if direction == "greater" else p

    def summary(self, ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
        """Table of posterior mean, sd, median, mode and interval of every parameter.

        Rows ``mu``, ``tau``, ``tau2``, ``theta_new`` and ``theta[label]`` per study.

        Parameters
        ----------
        ci_prob
            Posterior probability inside the intervals.
        ci_kind
            ``"eti"`` or ``"hdi"``.

        Returns
        -------
        pandas.DataFrame
            Columns ``mean``, ``sd``, ``median``, ``mode``, ``lower``, ``upper``.

        See also: R bayesmeta's ``$summary``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> tab = post.summary().round(3)
        >>> tab.index.tolist()
        ['mu', 'tau', 'tau2', 'theta_new', 'theta[1]', 'theta[2]', 'theta[3]']
        >>> tab.loc["mu", ["mean", "lower", "upper"]].tolist()
        [0.055, -0.391, 0.514]
        """
        _check_kind(ci_prob, ci_kind)
        g = self._grid
        with np.errstate(all="ignore"):
            # all mixtures at once
            m_th, s_th = self._theta_ms
            mixes = [self.mu, self.theta_new]
            M = np.vstack([self.mu.m, self.theta_new.m, m_th])
            S = np.vstack([self.mu.s, self.theta_new.s, s_th])
            keep = g.W[0] > 1e-18  # dropped mass < 1e-15: below every tolerance here
            M, S = M[:, keep], S[:, keep]
            Wm = np.broadcast_to(g.W[0][keep], M.shape)
            a = (1 - ci_prob) / 2
            qs = _mix_quantile(Wm, M, S, np.tile([[0.5, a, 1 - a]], (M.shape[0], 1)))
            if ci_kind == "hdi":
                iv = _mix_hdi(Wm, M, S, ci_prob, qs[:, 1:])
            else:
                iv = qs[:, 1:]
            modes = _mix_mode(Wm, M, S, qs[:, 0])
            mean_th = (g.W[0] * m_th).sum(1)
            sd_th = np.sqrt((g.W[0] * (s_th**2 + (m_th - mean_th[:, None]) ** 2)).sum(1))
            means = [mixes[0].mean, mixes[1].mean, *mean_th]
            sds = [mixes[0].sd, mixes[1].sd, *sd_th]
        rows: dict[str, list[float]] = {}
        names = ["mu", "theta_new", *(f"theta[{lab}]" for lab in self.labels)]
        for j, name in enumerate(names):
            rows[name] = [means[j], sds[j], qs[j, 0], modes[j], iv[j, 0], iv[j, 1]]
        with np.errstate(all="ignore"):
            ts = _tau_summary(g, ci_prob, ci_kind)
        for name in ("tau", "tau2"):
            rows[name] = [
                float(ts[f"{name}_{c}"][0])
                for c in ("mean", "sd", "median", "mode", "lower", "upper")
            ]
        order = ["mu", "tau", "tau2", "theta_new", *names[2:]]
        return pd.DataFrame(
            np.array([rows[n] for n in order], dtype=float),
            index=pd.Index(order, name="param", dtype=object),
            columns=pd.Index(["mean", "sd", "median", "mode", "lower", "upper"], dtype=object),
        )

    def shrinkage(self, ci_prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
        """Posterior of each study's true effect ``theta_i`` beside its estimate ``yi``.

        Parameters
        ----------
        ci_prob
            Posterior probability inside the intervals.
        ci_kind
            ``"eti"`` or ``"hdi"``.

        Returns
        -------
        pandas.DataFrame
            One row per study: ``yi``, ``sei`` and the columns of :meth:`summary`.

        See also: R bayesmeta's ``$theta``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)",
        ...                        labels=["a", "b", "c"])
        >>> shr = post.shrinkage().round(3)
        >>> shr["yi"].tolist(), shr["mean"].tolist()
        ([0.1, 0.3, -0.2], [0.086, 0.182, -0.103])
        """
        s = self.summary(ci_prob, ci_kind).iloc[4:]
        out = s.copy()
        out.index = pd.Index(list(self.labels), name="study")
        out.insert(0, "sei", self.sei)
        out.insert(0, "yi", self.yi)
        return out

    # -- point estimates ------------------------------------------------------------------------
    def _argmax_tau(self, h: Any) -> float:
        """Maximiser over tau >= lower support of h(tau array) -> values (vectorised)."""
        g = self._grid
        lo = g.spec.lo
        with np.errstate(all="ignore"):
            xs = g.x[0]
            vals = h(np.exp(xs))
            x = float(xs[int(np.nanargmax(np.where(np.isfinite(vals), vals, -np.inf)))])
            for _ in range(60):
                f = h(np.exp(np.array([x - _FD, x, x + _FD])))
                d1 = (f[2] - f[0]) / (2 * _FD)
                d2 = (f[2] - 2 * f[1] + f[0]) / _FD**2
                step = -d1 / d2 if d2 < 0 else math.copysign(0.5, d1)
                step = float(np.clip(np.nan_to_num(step), -1.0, 1.0))
                x = min(max(x + step, g.spec.xlo), g.spec.xhi)
                if abs(step) < 1e-11:
                    break
            best_t, best = math.exp(x), float(h(np.array([math.exp(x)]))[0])
            for b in (lo, g.spec.hi):
                if math.isfinite(b):
                    val = float(h(np.array([b]))[0])
                    # a boundary within rounding of the interior optimum wins (tau = 1e-10 vs 0)
                    if np.isfinite(val) and not val < best - 1e-12:
                        best_t, best = b, max(best, val)
        return best_t

    def _cond(self, tau: FloatArray, spec: _Spec) -> tuple[FloatArray, FloatArray, FloatArray]:
        g = self._grid
        ll, muhat, V = _loglik1(tau[None, :] ** 2, g.data.Y, g.data.S2, g.data.mask, spec)
        return ll[0], muhat[0], V[0]

    def point_estimates(self) -> pd.DataFrame:
        """Joint and marginal maximum-likelihood and MAP estimates of ``(tau, mu)``.

        As R bayesmeta's ``$ML`` and ``$MAP``: ``joint_ml`` maximises the likelihood
        ``L(mu, tau)``; ``marginal_ml`` maximises the likelihood of each parameter with the
        other integrated out over its prior (for ``tau`` with a flat ``mu`` prior this is the
        restricted likelihood); ``joint_map`` maximises the joint posterior density and
        ``marginal_map`` gives the two marginal posterior modes.

        Returns
        -------
        pandas.DataFrame
            Rows ``joint_ml``, ``marginal_ml``, ``joint_map``, ``marginal_map``; columns ``tau``,
            ``mu``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> post.point_estimates().index.tolist()
        ['joint_ml', 'marginal_ml', 'joint_map', 'marginal_map']
        >>> est = post.point_estimates()
        >>> bool(round(est.loc["marginal_map", "tau"], 4) == round(post.tau.mode, 4))
        True
        """
        flat = _Spec(self.tau_prior, Flat())
        spec = self._grid.spec
        tp = self.tau_prior

        def prof_flat(t: FloatArray) -> FloatArray:
            ll, _, V = self._cond(t, flat)
            return ll - 0.5 * np.log(2 * math.pi * V)

        def marg(t: FloatArray) -> FloatArray:
            return self._cond(t, spec)[0]

        def joint_post(t: FloatArray) -> FloatArray:
            ll, _, V = self._cond(t, spec)
            return tp.logpdf(t) + ll - 0.5 * np.log(2 * math.pi * V)

        t_jml = self._argmax_tau(prof_flat)
        t_mml = self._argmax_tau(marg)
        t_jmap = self._argmax_tau(joint_post)
        mu_jml = float(self._cond(np.array([t_jml]), flat)[1][0])
        mu_jmap = float(self._cond(np.array([t_jmap]), spec)[1][0])
        # marginal ML of mu: maximise p(mu | y) / p(mu)
        mu = self.mu
        x = mu.mode
        if isinstance(self.mu_prior, Normal):
            m0, s0 = self.mu_prior.mu, self.mu_prior.sigma
            sc = max(mu.sd, 1e-300) if math.isfinite(mu.sd) else 1.0
            with np.errstate(all="ignore"):
                for _ in range(60):
                    h = 1e-4 * sc
                    xs = np.array([x - h, x, x + h])
                    f = np.log(mu.pdf(xs)) + 0.5 * ((xs - m0) / s0) ** 2
                    d1 = (f[2] - f[0]) / (2 * h)
                    d2 = (f[2] - 2 * f[1] + f[0]) / h**2
                    step = -d1 / d2 if d2 < 0 else math.copysign(0.25 * sc, d1)
                    x += float(np.clip(step, -sc, sc))
                    if abs(step) < 1e-11 * (abs(x) + sc):
                        break
        return pd.DataFrame(
            [[t_jml, mu_jml], [t_mml, x], [t_jmap, mu_jmap], [self.tau.mode, mu.mode]],
            index=pd.Index(["joint_ml", "marginal_ml", "joint_map", "marginal_map"], dtype=object),
            columns=pd.Index(["tau", "mu"], dtype=object),
        )

    # -- evidence -------------------------------------------------------------------------------
    @property
    def priors_proper(self) -> bool:
        """Whether both the ``tau`` and the ``mu`` prior are proper.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> post.priors_proper
        False
        """
        return self.tau_prior.is_proper and self.mu_prior.is_proper

    @cached_property
    def log_marginal_likelihood(self) -> float:
        """Log p(y) with both priors integrated out; ``nan`` unless both priors are proper."""
        return float(self._grid.logZ[0]) if self.priors_proper else math.nan

    def bayes_factor(self, param: str) -> float:
        """Bayes factor BF01 of the point null ``tau = 0`` or ``mu = 0`` against the model.

        As R bayesmeta's ``$bayesfactor["actual", ]``: ``p(y | tau=0) / p(y)`` and
        ``p(y | mu=0) / p(y)``, the marginal likelihood under the null over that of the full
        model (for ``mu`` this equals the Savage-Dickey ratio ``p(mu=0 | y) / p(mu=0)``).
        Values below 1 favour the full model. Needs proper priors on both ``mu`` and ``tau``.

        Parameters
        ----------
        param
            ``"tau"`` or ``"mu"``.

        Returns
        -------
        float
            BF01.

        Raises
        ------
        ModelSpecError
            An improper prior, ``tau = 0`` outside the prior's support or another ``param``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)",
        ...                        mu_prior="normal(0, 1)")
        >>> round(post.bayes_factor("mu"), 3), round(post.bayes_factor("tau"), 3)
        (6.344, 1.13)
        """
        if not self.priors_proper:
            raise ModelSpecError(
                "Bayes factors need proper priors on mu and tau (the marginal likelihood is "
                f"otherwise undefined); got mu_prior={self.mu_prior}, tau_prior={self.tau_prior}"
            )
        g = self._grid
        if param == "tau":
            if g.spec.lo > 0:
                raise ModelSpecError(f"tau = 0 lies outside the support of {self.tau_prior}")
            ll = _ll(np.zeros((1, 1)), g.data, g.spec)
            return float(np.exp(ll[0, 0] - g.logZ[0]))
        if param == "mu":
            return float(self.mu.pdf(0.0) / self.mu_prior.pdf(0.0))
        raise ModelSpecError(f"bayes_factor param must be 'tau' or 'mu', got {param!r}")


def exact_posterior(
    yi: ArrayLike,
    sei: ArrayLike,
    *,
    tau_prior: Prior | str | dict[str, Any],
    mu_prior: Prior | str | dict[str, Any] | None = None,
    labels: Sequence[str] | None = None,
    rtol: float = 1e-7,
) -> ExactPosterior:
    """Exact posterior of the normal-normal random-effects model (no MCMC).

    Parameters
    ----------
    yi, sei
        Estimates and their standard errors (``sei > 0``), one per study.
    tau_prior
        Prior on the heterogeneity ``tau`` (a :class:`~bayesmeta.priors.Prior` or a spec such as
        ``"half_normal(0.5)"``).
    mu_prior
        :class:`~bayesmeta.priors.Normal` or :class:`~bayesmeta.priors.Flat` (default).
    labels
        Study labels (default ``"1"``, ``"2"``, ...).
    rtol
        Agreement required between two successive quadrature levels on the normalising
        constant and key moments; the reported results are far more accurate than this.

    Raises
    ------
    DataError
        Non-finite ``yi``, ``sei <= 0``, length mismatch, no studies, bad labels.
    ModelSpecError
        Bad prior, or a combination whose posterior is improper (e.g. flat priors and k < 3).

    See also: R bayesmeta::bayesmeta.

    Examples
    --------
    >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
    >>> round(post.mu.mean, 4)
    0.0551
    """
    y, s = _validate_vectors(yi, sei)
    tp = _as_prior(tau_prior, "tau", "tau_prior")
    mp = _as_prior(Flat() if mu_prior is None else mu_prior, "mu", "mu_prior")
    if not (isinstance(rtol, (int, float)) and 0 < rtol < 1e-2):
        raise ModelSpecError(f"rtol must be in (0, 0.01), got {rtol!r}")
    if labels is None:
        labs = tuple(str(i + 1) for i in range(y.size))
    else:
        labs = tuple(str(v) for v in labels)
        if len(labs) != y.size:
            raise DataError(f"labels has {len(labs)} entries but yi has {y.size}", column="labels")
        if len(set(labs)) != len(labs):
            raise DataError("labels must be unique", column="labels")
    spec = _Spec(tp, mp)
    k = np.array([y.size])
    _check_proper(spec, k)
    data = _Data(y[None, :].copy(), (s * s)[None, :], np.ones((1, y.size)), k)
    with np.errstate(all="ignore"):
        groups = _fit_grids(data, spec, rtol)
    grid = groups[0][1]
    y.setflags(write=False)
    s.setflags(write=False)
    return ExactPosterior(y, s, labs, tp, mp, grid)
