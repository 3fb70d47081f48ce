"""Prior families: a frozen dataclass of parameters each, one row of :data:`FAMILIES` each.

:class:`Prior` implements everything once from the row: density, cdf, quantiles and mean from
``scipy.stats`` (transformed by ``|X|`` or ``exp(X)`` where scipy has no half-t or log-t), PyMC,
validation, printing and JSON. The improper families have no scipy distribution: log density 0
on the support, no cdf or quantiles.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmeta.errors import ModelSpecError

FloatArray = NDArray[np.float64]

#: parameters that must be > 0 (all others must be finite)
_POSITIVE = frozenset({"nu", "scale", "sigma"})
_LOG2 = math.log(2.0)


def _fmt(v: float) -> str:
    """Shortest repr of a float that round-trips, without a trailing ``.0``."""
    r = repr(float(v))
    return r[:-2] if r.endswith(".0") else r


class Family(NamedTuple):
    """One row of :data:`FAMILIES`: how a prior family maps to scipy.stats and to PyMC."""

    name: str  #: JSON name, ``to_dict()["family"]``
    #: name of a ``scipy.stats`` continuous distribution (imported on first use, so importing
    #: the priors stays cheap); None for an improper prior
    scipy: str | None
    args: Callable[[Any], tuple[tuple[float, ...], float, float]]  #: prior -> (shapes, loc, scale)
    pymc: str | Callable[..., Any]  #: PyMC distribution (its name in ``pymc``)
    pymc_args: Callable[[Any], dict[str, Any]]  #: prior -> its keyword arguments
    #: ``"half"``: the prior is ``|X|`` for the scipy ``X`` (scipy has no half-t); ``"log"``: the
    #: prior is ``exp(X)``, i.e. ``log(tau) ~ X`` (scipy has no log-t)
    transform: str = ""
    target: str = "tau"  #: ``"tau"`` (support in ``[0, inf)``) or ``"mu"`` (location)
    #: prior -> ``(alpha, beta)``, ``p(x) ~ x**-alpha * log(x)**-beta`` as ``x -> inf`` (the exact
    #: engine reads it to decide which posterior moments exist; ``alpha = inf``: lighter than any
    #: power)
    tail: Callable[[Any], tuple[float, float]] = lambda p: (math.inf, 0.0)
    mean: Callable[[Any], float] | None = None  #: prior -> mean, where scipy's is not the prior's


@dataclass(frozen=True, repr=False)
class Prior:
    """Base class of all priors: numpy/scipy evaluation, PyMC, printing and the JSON form.

    A prior prints as a call (``HalfNormal(scale=0.5)``), which :func:`prior_from_spec` parses
    back, and ``to_dict()`` is its JSON form. ``logpdf`` is ``-inf`` outside :attr:`support`;
    ``cdf``, ``ppf``, ``mean`` and ``interval`` of an improper prior raise ModelSpecError.

    Examples
    --------
    >>> p = prior_from_spec("half_normal(0.5)")
    >>> isinstance(p, Prior), p.target, p.is_proper, p.support
    (True, 'tau', True, (0.0, inf))
    >>> Prior.from_dict(p.to_dict()) == p
    True
    >>> p.logpdf([-1.0, 0.0, 0.5]).round(4)
    array([   -inf,  0.4674, -0.0326])
    >>> p.pdf([0.0, 0.5]).round(4)
    array([1.5958, 0.9679])
    >>> round(float(p.cdf(1.0)), 4), round(float(p.ppf(0.5)), 4)
    (0.9545, 0.3372)
    >>> Flat().cdf(0.0)
    Traceback (most recent call last):
    ...
    bayesmeta.errors.ModelSpecError: Flat(): no cumulative distribution function
    """

    family: ClassVar[str] = ""  # set from FAMILIES
    target: ClassVar[str] = "tau"  # set from FAMILIES

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            what = f"{type(self).__name__}: {f.name} must be"
            if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
                raise ModelSpecError(f"{what} a number, got {v!r}")
            if f.name in _POSITIVE and not (math.isfinite(v) and v > 0):
                raise ModelSpecError(f"{what} finite and > 0, got {v!r}")
            if not math.isfinite(v):
                raise ModelSpecError(f"{what} finite, got {v!r}")

    @property
    def _row(self) -> Family:
        return FAMILIES[type(self)]

    def _scipy(self, what: str) -> tuple[Family, Any, tuple[float, ...], float, float]:
        """Return the row, the scipy.stats distribution and its (shapes, loc, scale)."""
        row = self._row
        if row.scipy is None:
            raise ModelSpecError(f"{self}: {what}")
        return (row, _scipy_dist(row.scipy), *row.args(self))

    # -- properties -----------------------------------------------------------------------------
    @property
    def support(self) -> tuple[float, float]:
        """Closed hull of the support, ``(lower, upper)``."""
        return (0.0, math.inf) if self.target == "tau" else (-math.inf, math.inf)

    @property
    def is_proper(self) -> bool:
        """Whether the density integrates to one."""
        return self._row.scipy is not None

    @property
    def tail(self) -> tuple[float, float]:
        """Tail ``(alpha, beta)`` of the density, ``p(x) ~ x**-alpha * log(x)**-beta``."""
        return self._row.tail(self)

    # -- numpy interface ------------------------------------------------------------------------
    def logpdf(self, x: ArrayLike) -> FloatArray:
        """Log density at ``x`` (any shape), ``-inf`` outside the support."""
        x = np.asarray(x, dtype=float)
        lo, hi = self.support
        inside = (x >= lo) & (x <= hi)
        if not self.is_proper:
            return np.where(inside, 0.0, -np.inf)
        row, dist, shapes, loc, scale = self._scipy("")
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(x) if row.transform == "log" else np.clip(x, lo, hi)
            # scipy's standardised log density: the rv_continuous method behind ``logpdf``,
            # without its per-call argument checks (which doubled the exact engine's run time)
            out = dist._logpdf((y - loc) / scale, *shapes) - math.log(scale)
            if row.transform == "log":
                inside &= x > 0
                out = out - y
        return np.where(inside, out + (_LOG2 if row.transform == "half" else 0.0), -np.inf)

    def pdf(self, x: ArrayLike) -> FloatArray:
        """Density at ``x`` (any shape), ``exp(logpdf(x))``."""
        with np.errstate(over="ignore"):
            return np.exp(self.logpdf(x))

    def cdf(self, x: ArrayLike) -> FloatArray:
        """Cumulative distribution function ``P(X <= x)`` at ``x`` (any shape)."""
        row, dist, shapes, loc, scale = self._scipy("no cumulative distribution function")
        x = np.clip(np.asarray(x, dtype=float), *self.support)
        with np.errstate(divide="ignore"):
            p = dist.cdf(np.log(x) if row.transform == "log" else x, *shapes, loc, scale)
        return 2.0 * p - 1.0 if row.transform == "half" else p

    def ppf(self, q: ArrayLike) -> FloatArray:
        """Quantile function, the inverse of :meth:`cdf`, at probabilities ``q`` (any shape)."""
        row, dist, shapes, loc, scale = self._scipy("no quantile function")
        q = np.asarray(q, dtype=float)
        y = dist.ppf((1.0 + q) / 2.0 if row.transform == "half" else q, *shapes, loc, scale)
        with np.errstate(over="ignore"):
            return np.exp(y) if row.transform == "log" else y

    def mean(self) -> float:
        """Prior mean (``inf`` for heavy tails such as the half-Cauchy).

        Examples
        --------
        >>> Exponential(scale=0.5).mean(), HalfCauchy(scale=1).mean()
        (0.5, inf)
        """
        row, dist, shapes, loc, scale = self._scipy("no mean")
        return float(row.mean(self) if row.mean else dist.mean(*shapes, loc, scale))

    def interval(self, prob: float = 0.95) -> tuple[float, float]:
        """Central (equal-tailed) interval holding ``prob`` of the prior mass.

        Examples
        --------
        >>> [round(v, 3) for v in Normal(mu=0, sigma=1).interval(0.95)]
        [-1.96, 1.96]
        """
        lo, hi = self.ppf([(1 - prob) / 2, (1 + prob) / 2])
        return float(lo), float(hi)

    # -- serialisation --------------------------------------------------------------------------
    def params(self) -> dict[str, float]:
        """Return the parameters as floats, in declaration order (empty for improper families).

        Examples
        --------
        >>> HalfStudentT(nu=3, scale=0.5).params()
        {'nu': 3.0, 'scale': 0.5}
        """
        return {k: float(v) for k, v in asdict(self).items()}

    def to_dict(self) -> dict[str, Any]:
        """Return the plain JSON-able form ``{"family": ..., **params}``; see :meth:`from_dict`.

        Examples
        --------
        >>> HalfNormal(scale=0.5).to_dict()
        {'family': 'half_normal', 'scale': 0.5}
        """
        return {"family": self.family, **self.params()}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Prior:
        """Build a prior from its :meth:`to_dict` form (the family may be an alias).

        Examples
        --------
        >>> Prior.from_dict({"family": "half_cauchy", "scale": 1})
        HalfCauchy(scale=1)
        """
        if not isinstance(d, dict) or "family" not in d:
            raise ModelSpecError(f"a prior dict needs a 'family' key, got {d!r}")
        params = {k: v for k, v in d.items() if k != "family"}
        return _build(str(d["family"]), [], params)

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params().items())
        return f"{type(self).__name__}({inner})"

    __repr__ = __str__

    # -- PyMC -----------------------------------------------------------------------------------
    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Create the PyMC random variable ``name`` in the current model (``kwargs`` e.g. dims).

        PyMC is imported here, not at module import. The parameters may be arrays, one value per
        element of ``dims``.

        Examples
        --------
        >>> import pymc as pm
        >>> with pm.Model(coords={"outcome": ["a", "b"]}) as model:
        ...     tau = HalfNormal(0.5).to_pymc("tau", dims="outcome")
        >>> model.named_vars_to_dims["tau"], type(tau.owner.op).__name__
        (('outcome',), 'HalfNormalRV')
        """
        import pymc as pm

        row = self._row
        dist = getattr(pm, row.pymc) if isinstance(row.pymc, str) else row.pymc
        return dist(name, **row.pymc_args(self), **kwargs)


def _pymc_log_student_t(name: str, *, nu: Any, mu: Any, sigma: Any, **kwargs: Any) -> Any:
    """``exp`` of a ``pm.StudentT`` as a ``pm.CustomDist`` (PyMC has no log-t), log transform."""
    import pymc as pm
    import pytensor.tensor as pt

    def _dist(nu: Any, mu: Any, sigma: Any, size: Any) -> Any:
        return pt.exp(pm.StudentT.dist(nu=nu, mu=mu, sigma=sigma, size=size))

    kwargs.setdefault("transform", pm.distributions.transforms.log)
    return pm.CustomDist(name, nu, mu, sigma, dist=_dist, **kwargs)


# ------------------------------------------------------------------------------------------------
# the families: parameters here, everything else in the table FAMILIES below
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class HalfNormal(Prior):
    """Half-normal prior, ``p(tau) = 2/scale * phi(tau/scale)`` on ``tau >= 0`` (R dhalfnormal).

    Examples
    --------
    >>> round(float(HalfNormal(scale=0.5).ppf(0.95)), 3)
    0.98
    """

    scale: float


@dataclass(frozen=True, repr=False)
class HalfCauchy(Prior):
    """Half-Cauchy prior, ``p(tau) = 2 / (pi * scale * (1 + (tau/scale)**2))`` on ``tau >= 0``.

    Heavy-tailed (no mean); a common weakly informative default (Gelman 2006; Röver et al. 2021).
    See also: R bayesmeta::dhalfcauchy.

    Examples
    --------
    >>> p = HalfCauchy(scale=0.5)
    >>> round(float(p.ppf(0.5)), 3), p.tail
    (0.5, (2.0, 0.0))
    """

    scale: float


@dataclass(frozen=True, repr=False)
class HalfStudentT(Prior):
    """Half-Student-t prior, ``p(tau) = 2/scale * t_nu(tau/scale)`` on ``tau >= 0`` (R dhalft).

    Examples
    --------
    >>> HalfStudentT(nu=3, scale=0.5).tail  # p(tau) ~ tau**-(nu + 1)
    (4.0, 0.0)
    """

    nu: float
    scale: float


@dataclass(frozen=True, repr=False)
class Uniform(Prior):
    """Uniform prior on ``[lower, upper]`` with ``0 <= lower < upper < inf``.

    Examples
    --------
    >>> p = Uniform(lower=0, upper=2)
    >>> p.support, float(p.pdf(1.0))
    ((0.0, 2.0), 0.5)
    """

    lower: float
    upper: float

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lower < 0:
            raise ModelSpecError(f"Uniform: lower must be >= 0 for tau, got {self.lower!r}")
        if not self.upper > self.lower:
            raise ModelSpecError(
                f"Uniform: upper must exceed lower, got lower={self.lower!r}, upper={self.upper!r}"
            )

    @property
    def support(self) -> tuple[float, float]:
        """The interval ``(lower, upper)``."""
        return (float(self.lower), float(self.upper))


@dataclass(frozen=True, repr=False)
class LogNormal(Prior):
    """Log-normal prior: ``log(tau) ~ Normal(mu, sigma)``.

    A log-normal on ``tau**2`` with parameters ``(m, s)`` is a log-normal on ``tau`` with
    ``(m/2, s/2)``, since ``log(tau) = log(tau**2)/2`` (see :func:`turner2015`).

    Examples
    --------
    >>> round(float(LogNormal(mu=-1.5, sigma=1.0).ppf(0.5)), 4) == round(math.exp(-1.5), 4)
    True
    """

    mu: float
    sigma: float


@dataclass(frozen=True, repr=False)
class LogStudentT(Prior):
    """Log-Student-t prior: ``log(tau) ~ StudentT(nu, mu, sigma)``.

    ``p(tau) = t_nu((log(tau) - mu)/sigma) / (sigma * tau)`` (``1/tau``: the Jacobian of the log).
    A log-t on ``tau**2`` with ``(m, s)`` is a log-t on ``tau`` with ``(m/2, s/2)`` and the same
    ``nu`` (see :func:`rhodes2015`); no moment exists. In PyMC: ``exp`` of a ``pm.StudentT``.

    Examples
    --------
    >>> LogStudentT(nu=5, mu=-1.5, sigma=1.0).tail, LogStudentT(5, -1.5, 1).mean()
    ((1.0, 6.0), inf)
    """

    nu: float
    mu: float
    sigma: float


@dataclass(frozen=True, repr=False)
class Exponential(Prior):
    """Exponential prior with mean ``scale``, ``p(tau) = exp(-tau/scale) / scale`` (rate 1/scale).

    Examples
    --------
    >>> round(float(Exponential(scale=0.5).cdf(0.5)), 4)
    0.6321
    """

    scale: float


@dataclass(frozen=True, repr=False)
class ImproperUniform(Prior):
    """Improper flat prior on ``tau`` over ``(0, inf)``: ``p(tau) = 1``.

    The posterior is proper only with enough studies: ``k >= 3`` with a flat prior on ``mu``,
    ``k >= 2`` with a normal one (the likelihood decays like ``tau**-(k-1)`` resp. ``tau**-k``).
    No marginal likelihood or Bayes factor is defined. See also: R bayesmeta's
    ``tau.prior="uniform"``.

    Examples
    --------
    >>> p = ImproperUniform()
    >>> p.is_proper, float(p.pdf(3.0)), float(p.pdf(-1.0))
    (False, 1.0, 0.0)
    """


@dataclass(frozen=True, repr=False)
class Normal(Prior):
    """Normal prior ``N(mu, sigma**2)`` for the overall effect ``mu`` or a coefficient ``beta``.

    Examples
    --------
    >>> Normal(mu=0, sigma=1).target
    'mu'
    """

    mu: float
    sigma: float


@dataclass(frozen=True, repr=False)
class Flat(Prior):
    """Improper flat prior on the real line (R bayesmeta's default for ``mu``).

    Examples
    --------
    >>> Flat().is_proper, Flat().support
    (False, (-inf, inf))
    """


@functools.cache
def _scipy_dist(name: str) -> Any:
    """Return the ``scipy.stats`` distribution called ``name`` (scipy.stats loads on first use)."""
    from scipy import stats

    return getattr(stats, name)


def _half_t_mean(p: Any) -> float:
    """Mean of the half-t, ``2 s sqrt(nu/pi) Gamma((nu+1)/2) / (Gamma(nu/2) (nu-1))``."""
    from scipy import special

    if p.nu <= 1:
        return math.inf
    lg = special.gammaln((p.nu + 1) / 2) - special.gammaln(p.nu / 2)
    return float(2 * p.scale * math.sqrt(p.nu / math.pi) * math.exp(lg) / (p.nu - 1))


def _scale(p: Any) -> tuple[tuple[float, ...], float, float]:
    return (), 0.0, p.scale


def _mu_sigma(p: Any) -> tuple[tuple[float, ...], float, float]:
    return (), p.mu, p.sigma


#: The table: prior class -> its row (JSON name, scipy.stats, PyMC, transform, target, tail, mean).
FAMILIES: dict[type[Prior], Family] = {
    HalfNormal: Family(
        "half_normal", "halfnorm", _scale, "HalfNormal", lambda p: {"sigma": p.scale}
    ),
    HalfCauchy: Family(
        "half_cauchy", "halfcauchy", _scale, "HalfCauchy", lambda p: {"beta": p.scale},
        tail=lambda p: (2.0, 0.0),
    ),
    HalfStudentT: Family(
        "half_student_t", "t", lambda p: ((p.nu,), 0.0, p.scale),
        "HalfStudentT", lambda p: {"nu": p.nu, "sigma": p.scale},
        transform="half", tail=lambda p: (p.nu + 1.0, 0.0), mean=_half_t_mean,
    ),
    Uniform: Family(
        "uniform", "uniform", lambda p: ((), p.lower, p.upper - p.lower),
        "Uniform", lambda p: {"lower": p.lower, "upper": p.upper},
    ),
    LogNormal: Family(
        "log_normal", "norm", _mu_sigma, "LogNormal", lambda p: {"mu": p.mu, "sigma": p.sigma},
        transform="log", mean=lambda p: math.exp(p.mu + p.sigma**2 / 2),
    ),
    LogStudentT: Family(
        "log_student_t", "t", lambda p: ((p.nu,), p.mu, p.sigma),
        _pymc_log_student_t, lambda p: {"nu": p.nu, "mu": p.mu, "sigma": p.sigma},
        transform="log", tail=lambda p: (1.0, p.nu + 1.0), mean=lambda p: math.inf,
    ),
    Exponential: Family(
        "exponential", "expon", _scale, "Exponential", lambda p: {"lam": 1.0 / p.scale}
    ),
    ImproperUniform: Family(
        "improper_uniform", None, _scale, "HalfFlat", lambda p: {}, tail=lambda p: (0.0, 0.0)
    ),
    Normal: Family(
        "normal", "norm", _mu_sigma, "Normal", lambda p: {"mu": p.mu, "sigma": p.sigma},
        target="mu",
    ),
    Flat: Family("flat", None, _scale, "Flat", lambda p: {}, target="mu"),
}  # fmt: skip
for _cls, _row in FAMILIES.items():
    _cls.family, _cls.target = _row.name, _row.target


# ------------------------------------------------------------------------------------------------
# parsing: names, aliases, strings
# ------------------------------------------------------------------------------------------------


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# lookup by normalised name: "half_normal", "HalfNormal", "halfnormal" all work
_ALIASES: dict[str, type[Prior]] = {
    **{_key(row.name): cls for cls, row in FAMILIES.items()},
    **{_key(cls.__name__): cls for cls in FAMILIES},
    "halft": HalfStudentT,
    "lognorm": LogNormal,
    "logt": LogStudentT,
    "expon": Exponential,
    "halfflat": ImproperUniform,
    "gaussian": Normal,
}


def _build(name: str, args: list[Any], kwargs: dict[str, Any]) -> Prior:
    cls = _ALIASES.get(_key(name))
    if cls is None:
        known = ", ".join(sorted(row.name for row in FAMILIES.values()))
        raise ModelSpecError(f"unknown prior family {name!r}; known families: {known}")
    fam, names = cls.__name__, [f.name for f in fields(cls)]
    listing = ", ".join(names) or "none"
    if len(args) > len(names):
        raise ModelSpecError(
            f"{fam} takes {len(names)} parameter(s) ({listing}), got {len(args)} positional"
        )
    params = dict(zip(names, args, strict=False))
    for k, v in kwargs.items():
        if k not in names:
            raise ModelSpecError(f"{fam} has no parameter {k!r}; parameters: {listing}")
        if k in params:
            raise ModelSpecError(f"{fam}: parameter {k!r} given twice")
        params[k] = v
    if missing := [n for n in names if n not in params]:
        raise ModelSpecError(f"{fam}: missing parameter(s) {', '.join(missing)}")
    for k, v in params.items():
        try:
            params[k] = float(v) if isinstance(v, str) else v
        except ValueError:
            raise ModelSpecError(f"{fam}: {k} must be a number, got {v!r}") from None
    return cls(**params)


def _literal(node: ast.expr) -> Any:
    """Return a number literal, also ``inf``/``nan`` (so that they are reported as non-finite)."""
    if isinstance(node, ast.Name) and node.id.lower() in ("inf", "infinity", "nan"):
        return float(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    return ast.literal_eval(node)


def prior_from_spec(spec: str | dict[str, Any] | Prior) -> Prior:
    """Build a prior from a string, a dict or a prior.

    Strings look like a call: ``"half_normal(0.5)"``, ``"half_cauchy(scale=1)"``,
    ``"HalfNormal(scale=0.5)"`` (what ``str(prior)`` prints), ``"flat"``. Dicts are
    :meth:`Prior.to_dict` output.

    Raises
    ------
    ModelSpecError
        Unknown family (the message lists the known ones), bad or missing parameters.

    Examples
    --------
    >>> prior_from_spec("half_normal(0.5)")
    HalfNormal(scale=0.5)
    >>> str(prior_from_spec({"family": "half_cauchy", "scale": 25}))
    'HalfCauchy(scale=25)'
    """
    if isinstance(spec, Prior):
        return spec
    if isinstance(spec, dict):
        return Prior.from_dict(spec)
    if not isinstance(spec, str):
        raise ModelSpecError(
            f"a prior spec must be a str, dict or Prior, got {type(spec).__name__}"
        )
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_\-]*)\s*(?:\((.*)\))?", spec.strip(), flags=re.DOTALL)
    if m is None:
        raise ModelSpecError(f"cannot parse prior spec {spec!r}; expected e.g. 'half_normal(0.5)'")
    name, inner = m.group(1), (m.group(2) or "").strip()
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if inner:
        try:
            call = ast.parse(f"f({inner})", mode="eval").body
        except SyntaxError:
            raise ModelSpecError(f"cannot parse the arguments of prior spec {spec!r}") from None
        assert isinstance(call, ast.Call)
        try:
            args = [_literal(a) for a in call.args]
            kwargs = {str(kw.arg): _literal(kw.value) for kw in call.keywords}
        except (ValueError, TypeError):
            raise ModelSpecError(f"prior spec {spec!r}: arguments must be numbers") from None
    return _build(name, args, kwargs)
