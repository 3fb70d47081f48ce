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

from bayesmeta.errors import ModelSpecError
from bayesmeta.exact._draws import _draw
from bayesmeta.exact._inputs import (
    _as_prior,
    _check_identified,
    _check_kind,
    _check_proper,
    _coef_priors,
    _design,
    _labels,
    _validate_vectors,
)
from bayesmeta.exact._mixtures import (
    _mix_cdf,
    _mix_interval,
    _mix_mode,
    _mix_pdf,
    _mix_quantile,
    _mix_sf,
    _mix_table,
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
from bayesmeta.priors import Flat, Normal, Prior

#: Columns of :meth:`ExactPosterior.summary` (copied into each table: cheaper than building).
_SUMMARY_COLUMNS = pd.Index(["mean", "sd", "median", "mode", "ci_lb", "ci_ub"], dtype=object)

# ------------------------------------------------------------------------------------------------
# public distribution objects
# ------------------------------------------------------------------------------------------------


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

    def sf(self, x: ArrayLike) -> FloatArray:
        """Posterior survival function ``P(X > x | y)``, summed from the components' upper tails.

        Equal to ``1 - cdf(x)``, but with all its digits where it is small (``1 - cdf``
        cannot resolve probabilities below 1.1e-16).

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(float(post.mu.sf(0.0)), 4)
        0.6393
        """
        xx, shp = self._as2d(x)
        return _mix_sf(self.W[None], self.m[None], self.s[None], xx).reshape(shp)

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

    def sf(self, x: ArrayLike) -> FloatArray:
        """Posterior survival function ``P(tau > x | y)`` (or of tau**2): ``1 - cdf(x)``."""
        return 1 - self.cdf(x)

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
# the result object
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ExactPosterior:
    """Exact posterior of one meta-analysis under the normal-normal model, with or without a design.

    Create it with :func:`exact_posterior`. Marginal posteriors: ``tau``, ``tau2``
    (:class:`TauPosterior`); ``coef(name)`` for each coefficient, ``mean_effect(x0)`` and
    ``new_effect(x0)`` at moderator values ``x0``, and ``theta(i)`` (:class:`MixturePosterior`),
    each with ``pdf``, ``cdf``, ``quantile``, ``mean``, ``sd``, ``median``, ``mode`` and
    ``interval``. The intercept-only model (no ``X``) also has ``mu`` and ``theta_new``.

    See also: R bayesmeta::bayesmeta and bayesmeta::bmr.

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
    X: FloatArray | None = field(default=None, repr=False)
    coef_names: tuple[str, ...] = ("mu",)
    rtol: float = field(default=1e-7, repr=False)

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

    @property
    def design(self) -> FloatArray:
        """The design matrix (k, p); a column of ones for the intercept-only model.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> post.design.shape, post.coef_names
        ((3, 1), ('mu',))
        """
        return np.ones((self.k, 1)) if self.X is None else self.X

    @property
    def coef_priors(self) -> tuple[Prior, ...]:
        """The prior of each coefficient (Normal or Flat), in the order of ``coef_names``."""
        return self._grid.spec.coef_priors

    def _coef_index(self, j: int | str) -> int:
        if isinstance(j, str):
            if j not in self.coef_names:
                raise ModelSpecError(
                    f"no coefficient {j!r}; coefficients: {', '.join(self.coef_names)}"
                )
            return self.coef_names.index(j)
        if not (0 <= int(j) < len(self.coef_names)):
            raise ModelSpecError(
                f"coefficient index {j} out of range 0..{len(self.coef_names) - 1}"
            )
        return int(j)

    def _x0(self, x0: ArrayLike) -> FloatArray:
        x = np.asarray(x0, dtype=float).reshape(-1)
        if x.size != len(self.coef_names) or not np.isfinite(x).all():
            raise ModelSpecError(
                f"x0 must hold {len(self.coef_names)} finite values, one per coefficient "
                f"({', '.join(self.coef_names)}); got {np.asarray(x0).tolist()}"
            )
        return x

    def _lin_moments(self, x: FloatArray, new: bool) -> tuple[bool, bool]:
        """Whether x'b (+ tau z) has a mean and a variance: bounded unless flat parts or tau."""
        e1, e2 = self._moments
        bounded = not new and bool(np.all(self._grid.spec.lam0[x != 0] > 0))
        return e1 or bounded, e2 or bounded

    def _lin(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Conditional mean and variance of x'b at the nodes."""
        g = self._grid
        nz = np.flatnonzero(x)
        if nz.size == 1 and x[nz[0]] == 1:  # one coefficient: read it off exactly
            j = int(nz[0])
            return g.bhat[0, :, j], g.Pinv[0, :, j, j]
        return g.bhat[0] @ x, np.einsum("i,nij,j->n", x, g.Pinv[0], x)

    def coef(self, name: int | str) -> MixturePosterior:
        r"""Marginal posterior of one coefficient, a normal mixture over ``tau``.

        Given :math:`\tau`, :math:`b \mid \tau, y \sim N(P^{-1} h, P^{-1})`, so
        :math:`b_j` is a mixture of :math:`N(\hat b_j(\tau_n), (P^{-1})_{jj}(\tau_n))` with the
        quadrature weights of :math:`p(\tau \mid y)`.

        Parameters
        ----------
        name
            Coefficient name (``coef_names``) or 0-based position.

        Returns
        -------
        MixturePosterior
            The posterior of that coefficient.

        Raises
        ------
        ModelSpecError
            Unknown name or index out of range.

        See also: R bayesmeta::bmr (``$summary``, ``$qposterior``).

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2, 0.4], [0.1, 0.2, 0.15, 0.2],
        ...                        X=[[1, 0], [1, 1], [1, 0], [1, 1]], moderators=["a", "b"],
        ...                        tau_prior="half_normal(0.5)")
        >>> round(post.coef("b").mean, 4) > 0
        True
        """
        j = self._coef_index(name)
        x = np.zeros(len(self.coef_names))
        x[j] = 1.0
        m, v = self._lin(x)
        has_mean, has_var = self._lin_moments(x, new=False)
        return MixturePosterior(
            self.coef_names[j], self._grid.W[0], m, np.sqrt(v), has_mean, has_var
        )

    def mean_effect(self, x0: ArrayLike, name: str = "mean") -> MixturePosterior:
        """Posterior of the mean effect ``x0'b`` at moderator values ``x0`` (one per column).

        Parameters
        ----------
        x0
            One value per coefficient, e.g. ``[1, 0.5]`` for intercept and one moderator.
        name
            Name of the returned distribution.

        Returns
        -------
        MixturePosterior
            The posterior of ``x0'b``.

        See also: R bayesmeta::bmr ``$mean``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2, 0.4], [0.1, 0.2, 0.15, 0.2],
        ...                        X=[[1, 0], [1, 1], [1, 0], [1, 1]], tau_prior="half_normal(0.5)")
        >>> d = post.mean_effect([1, 1])
        >>> bool(abs(d.mean - post.coef(0).mean - post.coef(1).mean) < 1e-12)
        True
        """
        x = self._x0(x0)
        m, v = self._lin(x)
        has_mean, has_var = self._lin_moments(x, new=False)
        return MixturePosterior(name, self._grid.W[0], m, np.sqrt(v), has_mean, has_var)

    def new_effect(self, x0: ArrayLike, name: str = "theta_new") -> MixturePosterior:
        """Predictive posterior of a new study's effect ``x0'b + tau z`` at moderator values ``x0``.

        Parameters
        ----------
        x0
            One value per coefficient.
        name
            Name of the returned distribution.

        Returns
        -------
        MixturePosterior
            The predictive distribution; its sd adds ``tau**2`` to that of :meth:`mean_effect`.

        See also: R bayesmeta::bmr ``$pred``.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2, 0.4], [0.1, 0.2, 0.15, 0.2],
        ...                        X=[[1, 0], [1, 1], [1, 0], [1, 1]], tau_prior="half_normal(0.5)")
        >>> post.new_effect([1, 0]).sd > post.mean_effect([1, 0]).sd
        True
        """
        x = self._x0(x0)
        m, v = self._lin(x)
        has_mean, has_var = self._lin_moments(x, new=True)
        s = np.sqrt(v + self._grid.tau[0] ** 2)
        return MixturePosterior(name, self._grid.W[0], m, s, has_mean, has_var)

    def _intercept_only(self, what: str, instead: str) -> None:
        if self.X is not None:
            raise ModelSpecError(
                f"{what} belongs to the intercept-only model; with a design X use {instead}"
            )

    @cached_property
    def mu(self) -> MixturePosterior:
        """Marginal posterior of the overall mean ``mu``, a normal mixture over ``tau``.

        Intercept-only model; with a design use :meth:`coef` or :meth:`mean_effect`.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(post.mu.mean, 4)
        0.0551
        """
        self._intercept_only("mu", "coef(name) or mean_effect(x0)")
        return self.coef(0)

    @cached_property
    def theta_new(self) -> MixturePosterior:
        """Posterior predictive distribution of a new study's effect, ``theta_new ~ N(mu, tau**2)``.

        Intercept-only model; with a design use :meth:`new_effect`.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> round(post.theta_new.sd, 4) > round(post.mu.sd, 4)
        True
        """
        self._intercept_only("theta_new", "new_effect(x0)")
        return self.new_effect([1.0])

    @cached_property
    def _theta_ms(self) -> tuple[FloatArray, FloatArray]:
        """Means and sds (k, N) of theta_i | tau, y.

        Mean b_i yi + (1 - b_i) x_i'b_hat, variance s_i**2 b_i + (1 - b_i)**2 x_i'P^-1 x_i,
        b_i = tau**2 / (s_i**2 + tau**2).
        """
        g = self._grid
        t2 = g.tau[0][None, :] ** 2
        s2 = (self.sei**2)[:, None]
        b = t2 / (s2 + t2)
        if self.X is None:
            xb, xvx = g.muhat[0][None, :], g.V[0][None, :]
        else:
            xb = self.X @ g.bhat[0].T
            xvx = np.einsum("ip,npq,iq->in", self.X, g.Pinv[0], self.X)
        m = b * self.yi[:, None] + (1 - b) * xb
        v = s2 * b + (1 - b) ** 2 * xvx
        return m, np.sqrt(v)

    @property
    def accuracy(self) -> dict[str, Any]:
        """The quadrature's own accuracy check (reported by exact fits instead of R-hat).

        ``converged``: two successive refinement levels (panel counts ``panels / 2`` and
        ``panels``) agreed to ``rtol``; ``max_change``: the largest change between those levels
        of log Z (so a relative change of Z), E[log tau], log E[tau], log E[tau**2] and, per
        coefficient, log E[var(b_j | tau)] and E[b_j] in units of its sd. The finer level's
        own error is far smaller (Gauss-Legendre error falls ~2**-20 per halving).

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> acc = post.accuracy
        >>> acc["converged"], acc["max_change"] < acc["rtol"]
        (True, True)
        """
        g = self._grid
        return {
            "method": "adaptive Gauss-Legendre quadrature over tau",
            "converged": bool(g.converged[0]),
            "rtol": float(self.rtol),
            "max_change": float(g.delta[0]),
            "panels": int(g.P),
            "n_nodes": self.n_nodes,
        }

    def draw(self, n: int, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        """Independent posterior draws from this quadrature rule; see :func:`draw_posterior`.

        Parameters
        ----------
        n
            Number of draws.
        rng
            A numpy Generator or a seed.

        Returns
        -------
        dict
            ``tau`` (n,), ``b`` (n, p), ``theta`` (n, k), ``y_rep`` (n, k), ``z_new`` (n,),
            ``z`` (n, k), ``theta_new`` (n,), ``loglik`` (n, k).

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> d = post.draw(1000, 1)
        >>> d["b"].shape, d["theta"].shape
        ((1000, 1), (1000, 3))
        """
        if not (isinstance(n, (int, np.integer)) and n >= 1):
            raise ModelSpecError(f"n must be a positive integer, got {n!r}")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return _draw(self._grid, self.yi, self.sei, self.design, int(n), gen)

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
        if param in ("tau", "tau2"):
            return getattr(self, param)
        if self.X is None and param in ("mu", "theta_new"):
            return getattr(self, param)
        if self.X is not None and param in self.coef_names:
            return self.coef(param)
        if param.startswith("theta[") and param.endswith("]"):
            return self.theta(param[6:-1])
        if param in self.labels:
            return self.theta(param)
        named = "'mu', 'theta_new'" if self.X is None else ", ".join(map(repr, self.coef_names))
        raise ModelSpecError(
            f"unknown parameter {param!r}; use {named}, 'tau', 'tau2' or 'theta[label]'"
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
        dist = self._param(param)
        return float(dist.sf(threshold) if direction == "greater" else dist.cdf(threshold))

    def _x0_rows(self, x0: Any) -> list[tuple[str, FloatArray]]:
        """Labelled moderator vectors from a mapping, a DataFrame, or a 1-D / 2-D array."""
        if x0 is None:
            return []
        self._check_regression("x0")
        if isinstance(x0, pd.DataFrame):
            frame = x0.reindex(columns=list(self.coef_names))
            if frame.isna().any().any():
                raise ModelSpecError(f"x0 needs the columns {', '.join(self.coef_names)}")
            return [
                (str(i), self._x0(r))
                for i, r in zip(frame.index, frame.to_numpy(float), strict=True)
            ]
        if isinstance(x0, dict):
            return [(str(key), self._x0(v)) for key, v in x0.items()]
        arr = np.asarray(x0, dtype=float)
        if arr.ndim == 1:
            return [("x0", self._x0(arr))]
        return [(str(i + 1), self._x0(r)) for i, r in enumerate(arr)]

    def _check_regression(self, what: str) -> None:
        if self.X is None:
            raise ModelSpecError(f"{what} needs a design matrix X; see exact_posterior(X=...)")

    def _mixture_arrays(
        self, x0: Any
    ) -> tuple[list[str], FloatArray, FloatArray, NDArray[np.bool_], NDArray[np.bool_]]:
        """Every mixture row of the summary, in order (the first p are the coefficients).

        Names, component means and sds (R, N), and whether each row has a mean and a variance:
        the numbers :meth:`coef`, :meth:`new_effect`, :meth:`mean_effect` and :meth:`theta`
        give, without building their objects.
        """
        g = self._grid
        p = len(self.coef_names)
        names = list(self.coef_names)
        e1, e2 = self._moments
        lam0 = g.spec.lam0
        if self.X is None:
            m0, v0 = g.bhat[0, :, 0], g.Pinv[0, :, 0, 0]
            ms, ss = [m0, m0], [np.sqrt(v0), np.sqrt(v0 + g.tau[0] ** 2)]
            bounded = bool(lam0[0] > 0)
            hm, hv = [e1 or bounded, e1], [e2 or bounded, e2]
            names.append("theta_new")
        else:
            ms = [g.bhat[0, :, j] for j in range(p)]
            ss = [np.sqrt(g.Pinv[0, :, j, j]) for j in range(p)]
            hm = [e1 or bool(lam0[j] > 0) for j in range(p)]
            hv = [e2 or bool(lam0[j] > 0) for j in range(p)]
            for lab, x in self._x0_rows(x0):
                m, v = self._lin(x)
                for new, nm in ((False, f"mean[{lab}]"), (True, f"theta_new[{lab}]")):
                    a, b = self._lin_moments(x, new=new)
                    ms.append(m)
                    ss.append(np.sqrt(v + g.tau[0] ** 2) if new else np.sqrt(v))
                    hm.append(a)
                    hv.append(b)
                    names.append(nm)
        m_th, s_th = self._theta_ms
        names += [f"theta[{lab}]" for lab in self.labels]
        M = np.vstack([*ms, m_th])
        S = np.vstack([*ss, s_th])
        k = self.k
        has_mean = np.array(hm + [True] * k)
        has_var = np.array(hv + [True] * k)
        return names, M, S, has_mean, has_var

    def _mixture_rows(self, x0: Any) -> list[MixturePosterior]:
        """Every mixture row of the summary as distribution objects, in order."""
        names, M, S, hm, hv = self._mixture_arrays(x0)
        W = self._grid.W[0]
        return [
            MixturePosterior(n, W, M[i], S[i], bool(hm[i]), bool(hv[i]))
            for i, n in enumerate(names)
        ]

    def summary(self, ci_prob: float = 0.95, ci_kind: str = "eti", x0: Any = None) -> pd.DataFrame:
        """Table of posterior mean, sd, median, mode and interval of every parameter.

        Intercept-only model: rows ``mu``, ``tau``, ``tau2``, ``theta_new`` and ``theta[label]``
        per study. With a design ``X``: one row per coefficient, ``tau``, ``tau2``, for each
        moderator vector in ``x0`` the mean effect ``mean[label]`` and the new-study effect
        ``theta_new[label]``, then ``theta[label]`` per study.

        Parameters
        ----------
        ci_prob
            Posterior probability inside the intervals.
        ci_kind
            ``"eti"`` or ``"hdi"``.
        x0
            Moderator values (design model only): a 1-D array (one per coefficient; label
            ``x0``), a 2-D array (labels ``1``, ``2``, ...), a dict ``{label: values}`` or a
            DataFrame with the coefficient names as columns and labels as index.

        Returns
        -------
        pandas.DataFrame
            Columns ``mean``, ``sd``, ``median``, ``mode``, ``ci_lb``, ``ci_ub``. Means that do
            not exist are ``nan`` (``inf`` for tau), sds ``inf``.

        See also: R bayesmeta's ``$summary`` (bayesmeta and bmr).

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> tab = post.summary().round(3)
        >>> tab.index.tolist()
        ['mu', 'tau', 'tau2', 'theta_new', 'theta[1]', 'theta[2]', 'theta[3]']
        >>> tab.loc["mu", ["mean", "ci_lb", "ci_ub"]].tolist()
        [0.055, -0.391, 0.514]
        >>> reg = exact_posterior([0.1, 0.3, -0.2, 0.4], [0.1, 0.2, 0.15, 0.2],
        ...                       X=[[1, 0], [1, 1], [1, 0], [1, 1]], moderators=["a", "b"],
        ...                       tau_prior="half_normal(0.5)")
        >>> reg.summary(x0={"b=1": [1, 1]}).index.tolist()[:6]
        ['a', 'b', 'tau', 'tau2', 'mean[b=1]', 'theta_new[b=1]']
        """
        _check_kind(ci_prob, ci_kind)
        names, M, S, has_mean, has_var = self._mixture_arrays(x0)
        table = _mixture_table_arrays(self._grid.W[0], M, S, has_mean, has_var, ci_prob, ci_kind)
        with np.errstate(all="ignore"):
            ts = _tau_summary(self._grid, ci_prob, ci_kind)
        stats = ("mean", "sd", "median", "mode", "lower", "upper")
        tau_rows = np.array([[ts[f"{n}_{c}"][0] for c in stats] for n in ("tau", "tau2")])
        p = len(self.coef_names)
        order = [*names[:p], "tau", "tau2", *names[p:]]
        return pd.DataFrame(
            np.vstack([table[:p], tau_rows, table[p:]]),
            index=pd.Index(order, name="param", dtype=object),
            columns=_SUMMARY_COLUMNS.copy(),  # a copy: a table's columns are its own
            copy=False,
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
        s = self.summary(ci_prob, ci_kind).iloc[-self.k :]
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
        ll, muhat, V = _loglik1(tau[None, :] ** 2, g.data.Y, g.data.S2, g.data.maskv, spec)
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
        if self.X is not None:
            raise ModelSpecError("point_estimates covers the intercept-only model (no X)")
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
        """Whether the ``tau`` prior and every coefficient prior are proper.

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
        >>> post.priors_proper
        False
        """
        return self._grid.spec.proper

    @cached_property
    def log_marginal_likelihood(self) -> float:
        r"""Log p(y) with all priors integrated out; ``nan`` unless every prior is proper.

        :math:`\log \int p(\tau)\, p(y \mid \tau)\, d\tau`, the normalising constant of the
        quadrature rule (see :func:`exact_posterior` for :math:`p(y \mid \tau)`).

        Examples
        --------
        >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)",
        ...                        mu_prior="normal(0, 1)")
        >>> round(post.log_marginal_likelihood, 4)
        -1.9357
        """
        return float(self._grid.logZ[0]) if self.priors_proper else math.nan

    def bayes_factor(self, param: str) -> float:
        """Bayes factor BF01 of the point null ``tau = 0`` or ``b_j = 0`` against the model.

        As R bayesmeta's ``$bayesfactor["actual", ]``: ``p(y | tau=0) / p(y)`` and
        ``p(y | b_j=0) / p(y)``, the marginal likelihood under the null over that of the full
        model (for a coefficient this equals the Savage-Dickey ratio
        ``p(b_j=0 | y) / p(b_j=0)``, the priors being independent). Values below 1 favour the
        full model. Needs proper priors on every parameter.

        Parameters
        ----------
        param
            ``"tau"``, or a coefficient: ``"mu"`` in the intercept-only model, else a name in
            ``coef_names``.

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
                "Bayes factors need proper priors on tau and every coefficient (the marginal "
                f"likelihood is otherwise undefined); got tau_prior={self.tau_prior}, "
                f"coefficient priors {list(self.coef_priors)}"
            )
        g = self._grid
        if param == "tau":
            if g.spec.lo > 0:
                raise ModelSpecError(f"tau = 0 lies outside the support of {self.tau_prior}")
            ll = _ll(np.zeros((1, 1)), g.data, g.spec)
            return float(np.exp(ll[0, 0] - g.logZ[0]))
        if param in self.coef_names:
            j = self.coef_names.index(param)
            prior0 = math.exp(float(self.coef_priors[j].logpdf(np.array(0.0))))
            return float(self.coef(j).pdf(0.0)) / prior0
        names = ", ".join(repr(n) for n in ("tau", *self.coef_names))
        raise ModelSpecError(f"bayes_factor param must be one of {names}, got {param!r}")


def exact_posterior(
    yi: ArrayLike,
    sei: ArrayLike,
    *,
    X: ArrayLike | pd.DataFrame | None = None,
    tau_prior: Prior | str | dict[str, Any],
    mu_prior: Prior | str | dict[str, Any] | None = None,
    beta_prior: Any = None,
    moderators: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    rtol: float = 1e-7,
) -> ExactPosterior:
    r"""Exact posterior of the normal-normal model, with or without moderators (no MCMC).

    :math:`y_i \sim N(x_i^\top b, s_i^2 + \tau^2)` with coefficient priors
    :math:`b_j \sim N(m_{0j}, \lambda_{0j}^{-1})` or flat (:math:`\lambda_{0j} = 0`). Given
    :math:`\tau`, with :math:`W = \mathrm{diag}(1/(s_i^2 + \tau^2))`,
    :math:`P = X^\top W X + \Lambda_0` and :math:`h = X^\top W y + \Lambda_0 m_0`,
    :math:`b \mid \tau, y \sim N(P^{-1}h, P^{-1})` and :math:`p(y \mid \tau)` is closed-form,
    so :math:`p(\tau \mid y) \propto p(\tau)\,p(y \mid \tau)` is integrated by adaptive
    quadrature and every linear combination of :math:`b`, the new-study effect and each
    :math:`\theta_i` is a normal mixture over the nodes.

    Parameters
    ----------
    yi, sei
        Estimates and their standard errors (``sei > 0``), one per study.
    X
        Design matrix (k, p), with an intercept column or not (a DataFrame names the
        coefficients). ``None`` (default): the intercept-only model with mean ``mu``.
    tau_prior
        Prior on the heterogeneity ``tau`` (a :class:`~bayesmeta.priors.Prior` or a spec such as
        ``"half_normal(0.5)"``).
    mu_prior
        :class:`~bayesmeta.priors.Normal` or :class:`~bayesmeta.priors.Flat` (default) prior of
        ``mu``; with ``X``, the prior of the intercept (a column of ones), overriding
        ``beta_prior`` there.
    beta_prior
        With ``X``: Normal or Flat (default) priors of the coefficients: one for all, a list
        (one per column) or a dict by coefficient name (flat where missing).
    moderators
        With ``X``: coefficient names (default: the DataFrame's columns, else ``"intercept"``
        for a column of ones and ``"x1"``, ``"x2"``, ...).
    labels
        Study labels (default ``"1"``, ``"2"``, ...).
    rtol
        Agreement required between two successive quadrature levels on the normalising
        constant and key moments; the reported results are far more accurate than this.

    Raises
    ------
    DataError
        Non-finite ``yi`` or ``X``, ``sei <= 0``, length mismatch, no studies, bad labels.
    ModelSpecError
        Bad prior, or an improper posterior, decided before any computation: the likelihood
        decays like ``tau**-(k - p_flat)`` (``p_flat`` flat coefficients), which the tau prior's
        tail must make integrable; flat-prior columns of ``X`` must be linearly independent.

    See also: R bayesmeta::bayesmeta and bayesmeta::bmr.

    Examples
    --------
    >>> post = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
    >>> round(post.mu.mean, 4)
    0.0551
    >>> reg = exact_posterior([0.1, 0.3, -0.2, 0.4], [0.1, 0.2, 0.15, 0.2],
    ...                       X=[[1, 0], [1, 1], [1, 0], [1, 1]], moderators=["a", "b"],
    ...                       tau_prior="half_normal(0.5)", beta_prior="normal(0, 1)")
    >>> reg.coef_names, round(reg.coef("b").median, 4)
    (('a', 'b'), 0.345)
    """
    y, s = _validate_vectors(yi, sei)
    tp = _as_prior(tau_prior, "tau", "tau_prior")
    if not (isinstance(rtol, (int, float)) and 0 < rtol < 1e-2):
        raise ModelSpecError(f"rtol must be in (0, 0.01), got {rtol!r}")
    labs = _labels(labels, y.size)
    k = np.array([y.size])
    names: tuple[str, ...] = ("mu",)
    Xa: FloatArray | None = None
    Xd: FloatArray | None = None
    if X is None:
        if beta_prior is not None or moderators is not None:
            raise ModelSpecError("beta_prior and moderators need a design matrix X")
        mp = _as_prior(Flat() if mu_prior is None else mu_prior, "mu", "mu_prior")
        spec = _Spec(tp, mp)
    else:
        Xa, names = _design(X, y.size, moderators)
        coef = _coef_priors(names, Xa, mu_prior, beta_prior)
        ones = np.all(Xa == 1, axis=0)
        mp = coef[int(np.argmax(ones))] if ones.any() else Flat()
        spec = _Spec(tp, mp, coef)
        _check_identified(Xa, spec, names)
        # a lone column of ones is the intercept-only model: use its fast path
        Xd = None if Xa.shape[1] == 1 and ones[0] else Xa[None].copy()
    _check_proper(spec, k)
    data = _Data(y[None, :].copy(), (s * s)[None, :], np.ones((1, y.size)), k, Xd)
    with np.errstate(all="ignore"):
        groups = _fit_grids(data, spec, rtol)
    for arr in (y, s, *(() if Xa is None else (Xa,))):
        arr.setflags(write=False)
    return ExactPosterior(y, s, labs, tp, mp, groups[0][1], Xa, names, float(rtol))


def draw_posterior(
    y: ArrayLike,
    s: ArrayLike,
    X: ArrayLike,
    coef_priors: Sequence[Prior],
    tau_prior: Prior,
    n: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    r"""Independent exact posterior draws of one normal-normal analysis with design ``X``.

    From the same quadrature rule as :func:`exact_posterior`: :math:`\tau = F^{-1}(u)` for
    uniform :math:`u` (inverse CDF of the posterior of :math:`\tau`), then
    :math:`b \mid \tau, y \sim N(P^{-1}h, P^{-1})`,
    :math:`\theta_i \mid b, \tau, y \sim N(B_i y_i + (1-B_i) x_i^\top b, s_i^2 B_i)` with
    :math:`B_i = \tau^2/(s_i^2+\tau^2)`, :math:`y^{rep}_i \sim N(\theta_i, s_i^2)` and
    :math:`z_{new} \sim N(0, 1)`. Draws are independent: no chains to mix, nothing to tune.

    Parameters
    ----------
    y, s
        Estimates and standard errors (k,).
    X
        Design matrix (k, p); a column of ones for the intercept-only model.
    coef_priors
        One Normal or Flat prior per column of ``X``.
    tau_prior
        Prior on ``tau``.
    n
        Number of draws.
    rng
        The random generator (uniforms for tau first, then the normals, in a fixed order).

    Returns
    -------
    dict
        ``tau`` (n,), ``b`` (n, p), ``theta`` (n, k), ``y_rep`` (n, k), ``z_new`` (n,) (the
        standard normal of ``theta_new = x'b + tau z_new``); also ``z`` (n, k)
        (``(theta - X b)/tau``), ``theta_new`` (n,) (``b[:, 0] + tau z_new``: the new-study
        effect where every column but the first is 0), ``loglik`` (n, k) (log N(y_i | theta_i,
        s_i**2)), and ``accuracy`` (a dict: the rule's own check, see
        :attr:`ExactPosterior.accuracy`).

    Raises
    ------
    ModelSpecError
        An improper posterior (before any computation), or bad priors.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmeta.priors import Flat, HalfCauchy
    >>> d = draw_posterior([0.50, -0.04], np.sqrt([0.035, 0.028]), np.ones((2, 1)), [Flat()],
    ...                    HalfCauchy(0.5), 4000, np.random.default_rng(1))
    >>> d["tau"].shape, d["b"].shape, d["accuracy"]["converged"]
    ((4000,), (4000, 1), True)
    """
    post = exact_posterior(y, s, X=X, tau_prior=tau_prior, beta_prior=list(coef_priors))
    out = post.draw(n, rng)
    out["accuracy"] = post.accuracy
    return out


def _mixture_table(
    W: FloatArray, rows: list[MixturePosterior], ci_prob: float, ci_kind: str
) -> FloatArray:
    """mean, sd, median, mode, ci_lb, ci_ub of normal mixtures sharing the weights W, at once."""
    M = np.vstack([r.m for r in rows])
    S = np.vstack([r.s for r in rows])
    hm = np.array([r.has_mean for r in rows])
    hv = np.array([r.has_var for r in rows])
    return _mixture_table_arrays(W, M, S, hm, hv, ci_prob, ci_kind)


def _mixture_table_arrays(
    W: FloatArray,
    M: FloatArray,
    S: FloatArray,
    has_mean: NDArray[np.bool_],
    has_var: NDArray[np.bool_],
    ci_prob: float,
    ci_kind: str,
) -> FloatArray:
    """:func:`_mixture_table` from the component means and sds (R, N) of the rows."""
    mean, sd, med, modes, iv = _mix_table(W, M, S, ci_prob, ci_kind)
    mean = np.where(has_mean, mean, np.nan)
    sd = np.where(has_var, sd, np.inf)
    return np.column_stack([mean, sd, med, modes, iv[:, 0], iv[:, 1]])
