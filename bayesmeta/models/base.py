"""The lifecycle every Bayesian model shares: configure, inspect, build, fit.

A model object stores configuration only: ``__init__`` validates the table and the priors and
never compiles or samples. :meth:`BaseModel.spec` is a plain JSON-able dict from which
:meth:`BaseModel.from_spec` rebuilds the model; :meth:`BaseModel.build` returns the ``pm.Model``
(named coords, no sampling); :meth:`BaseModel.fit` draws from the posterior with the exact
engine or NUTS (``engine="auto" | "exact" | "nuts"``) and returns a
:class:`~bayesmeta.results.Result`.

PyMC is imported inside :meth:`build`, :meth:`fit` and :meth:`sample_prior_predictive` only, so
importing this module stays cheap.
"""

from __future__ import annotations

import importlib.util
import math
from collections import OrderedDict
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bayesmeta import _dims as D
from bayesmeta._registry import ENGINES, EXACT, NUTS, SPEC_VERSION, model_class, register_model
from bayesmeta._version import __version__
from bayesmeta.errors import FitError, ModelSpecError
from bayesmeta.models.exact_sampler import ExactUnit, draw, to_datatree
from bayesmeta.priors import Flat, HalfNormal, Normal, Prior, prior_from_spec
from bayesmeta.table import EffectTable, unit_information_sd

if TYPE_CHECKING:
    import pymc as pm
    import xarray as xr

    from bayesmeta.results import Result

__all__ = [
    "DEFAULT_TARGET_ACCEPT",
    "KNOWN_MEASURES",
    "NUTS_SAMPLERS",
    "SPEC_VERSION",
    "BaseModel",
    "default_priors",
    "default_sampler",
]

#: Step-size adaptation target of NUTS. Meta-analyses are small hierarchical models whose
#: posterior has a funnel when tau is weakly identified (k = 2-5): at PyMC's 0.8, NUTS diverges
#: and underestimates the tails (tau's 97.5% quantile 20-30% low against the exact engine, k = 3;
#: sd(mu) 12% low for the binomial model). At 0.99 NUTS agrees with the exact references within
#: 3 Monte Carlo standard errors for k = 2..30 under half-normal and half-Cauchy tau priors and
#: for the binomial model (tests/test_nuts_defaults.py); the cost is a few more leapfrog steps.
DEFAULT_TARGET_ACCEPT = 0.99
#: NUTS implementations :meth:`BaseModel.fit` accepts.
NUTS_SAMPLERS: tuple[str, ...] = ("pymc", "nutpie")

# names of the auxiliary standard-normal variables of the non-centred parameterisation
Z: str = D.Z
Z_NEW: str = D.Z_NEW

# Default priors by effect measure (on the scale the effect is analysed on: log scale for ratios).
#   SMD: |mu| > 2 is implausible for an intervention effect; Rhodes et al. (2015) put the median
#        of tau near 0.2 and its 95th percentile below 1, so HalfNormal(0.5) (95% below 0.98).
#   OR/RR (log): Normal(0, 2.5) is Gelman et al.'s (2008) weakly informative scale for a logistic
#        coefficient (ratios between 1/134 and 134 at 95%); HalfNormal(1) is the "fairly
#        conservative" heterogeneity prior of Friede et al. (2017) / Röver et al. (2021).
#   RD: bounded in [-1, 1]: Normal(0, 0.5) and HalfNormal(0.25).
_MEASURE_DEFAULTS: dict[str, tuple[Prior, Prior]] = {
    "SMD": (Normal(0.0, 1.0), HalfNormal(0.5)),
    "OR": (Normal(0.0, 2.5), HalfNormal(1.0)),
    "RR": (Normal(0.0, 2.5), HalfNormal(1.0)),
    "RD": (Normal(0.0, 0.5), HalfNormal(0.25)),
}


def default_sampler() -> str:
    """Return ``"nutpie"`` if it is importable, else ``"pymc"``.

    The NUTS implementation :meth:`BaseModel.fit` uses when ``nuts_sampler`` is not given.

    Examples
    --------
    >>> default_sampler() in ("nutpie", "pymc")
    True
    """
    return "nutpie" if importlib.util.find_spec("nutpie") is not None else "pymc"


#: Measures whose defaults are fixed numbers (scale-free or bounded); see the comments above.
#: Measures with units are scaled by the unit-information SD instead.
UNIT_MEASURES: tuple[str, ...] = ("MD", "generic")
KNOWN_MEASURES: tuple[str, ...] = (*_MEASURE_DEFAULTS, *UNIT_MEASURES)


def default_priors(
    measure: str | None,
    sei: np.ndarray,
    n: np.ndarray | None = None,
    *,
    given: Collection[str] = (),
) -> dict[str, Prior]:
    r"""Default priors for ``mu`` and ``tau`` on the scale of ``measure``.

    ``SMD``, ``OR``, ``RR`` and ``RD`` have fixed defaults (see the model card
    ``models/random-effects/README.md``). Measures with units (``MD``, ``generic``) are scaled by
    the unit-information standard deviation :math:`\sigma_u = \sqrt{\sum n_i / \sum s_i^{-2}}`
    (:func:`bayesmeta.table.unit_information_sd`; Röver, Bender, Dias et al. 2021, *Research
    Synthesis Methods* 12:448-474, who relate weakly informative heterogeneity priors to it):
    ``tau ~ HalfNormal(sigma_u / 2)`` (95% of its mass below about one unit-information SD) and
    the unit-information prior ``mu ~ Normal(0, sigma_u)`` (the information of one participant;
    Kass & Wasserman 1995), rounded to 2 significant digits. :math:`\sigma_u` estimates a
    property of the outcome (the SD of one participant's outcome), so it does not shrink as
    trials grow, unlike the studies' standard errors.

    Parameters
    ----------
    measure
        The effect measure of the outcome.
    sei
        Standard errors of the studies.
    n
        Participants per study (needed for measures with units).
    given
        Parameters whose priors the user gives: no default is needed (or returned) for them.

    Raises
    ------
    ModelSpecError
        An unknown measure, or a measure with units without sample sizes: give sample sizes
        (``ni`` or arm sizes ``n1i``/``n2i``) or priors for ``mu`` and ``tau``.

    Examples
    --------
    >>> default_priors("SMD", np.array([0.2, 0.3]))
    {'mu': Normal(mu=0, sigma=1), 'tau': HalfNormal(scale=0.5)}
    >>> default_priors("MD", np.array([2.0, 1.0]), n=np.array([100, 400]))
    {'mu': Normal(mu=0, sigma=20), 'tau': HalfNormal(scale=10)}
    """
    m = "generic" if measure is None else str(measure)
    missing = [v for v in (D.MU, D.TAU) if v not in given]
    if m.upper() in _MEASURE_DEFAULTS:
        fixed = dict(zip((D.MU, D.TAU), _MEASURE_DEFAULTS[m.upper()], strict=True))
        return {v: fixed[v] for v in missing}
    if m.upper() not in {u.upper() for u in UNIT_MEASURES}:
        raise ModelSpecError(
            f"no default priors for measure {measure!r}; known measures: "
            f"{', '.join(KNOWN_MEASURES)}. Give the table a known measure (log odds ratios are "
            "'OR', log risk ratios 'RR') or give priors for 'mu' and 'tau'"
        )
    if not missing:
        return {}
    if n is None or np.any(~np.isfinite(np.asarray(n, dtype=float))):
        raise ModelSpecError(
            f"default priors for measure {m!r} (a measure with units) are scaled by the "
            "unit-information SD, which needs every study's sample size: give sample sizes "
            f"(column 'ni', or arm sizes 'n1i' and 'n2i'), or give priors for "
            f"{' and '.join(map(repr, missing))} on the outcome's scale"
        )
    u = unit_information_sd(sei, n)
    out = {D.MU: Normal(0.0, _round2(u)), D.TAU: HalfNormal(_round2(u / 2))}
    return {v: out[v] for v in missing}


def _round2(x: float) -> float:
    """Round to 2 significant digits."""
    if x <= 0 or not math.isfinite(x):
        raise ModelSpecError(f"cannot scale a default prior by {x!r}")
    digits = 1 - math.floor(math.log10(x))
    return round(x, digits)


def _as_prior(name: str, value: Any) -> Prior:
    """Return a Prior from a Prior, a string or a dict; errors name the prior."""
    try:
        return prior_from_spec(value)
    except ModelSpecError as err:
        raise ModelSpecError(f"priors[{name!r}]: {err}") from None


def _check_target(name: str, prior: Prior, target: str) -> None:
    if prior.target != target:
        kind = "a scale (tau-type)" if target == "tau" else "a location (mu-type)"
        raise ModelSpecError(
            f"priors[{name!r}] = {prior} is not {kind} prior; "
            + (
                "use e.g. 'half_normal(0.5)' or 'half_cauchy(1)'"
                if target == "tau"
                else "use e.g. 'normal(0, 1)' or 'flat'"
            )
        )


class BaseModel:
    """Shared lifecycle of the Bayesian meta-analysis models.

    Subclasses set :attr:`name`, :attr:`prior_names` (with the target each prior must have,
    ``"mu"`` for a location or ``"tau"`` for a scale) and implement :meth:`_default_priors`,
    :meth:`_options`, :meth:`_coords` and :meth:`_define`.

    Parameters
    ----------
    table
        The effect table.
    priors
        Priors overriding the class defaults: a mapping name -> :class:`~bayesmeta.priors.Prior`,
        a spec string such as ``"half_normal(0.5)"``, or a :meth:`Prior.to_dict` dict.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> model = RandomEffects(tab, priors={"tau": "half_cauchy(0.5)"})
    >>> isinstance(model, BaseModel), model.name
    (True, 'random_effects')
    >>> model
    RandomEffects(k=4, mu=Normal(mu=0, sigma=1), tau=HalfCauchy(scale=0.5))
    """

    #: Name of the model in its spec.
    name: ClassVar[str] = "base"
    #: prior name -> target ("mu" or "tau").
    prior_names: ClassVar[dict[str, str]] = {D.MU: "mu", D.TAU: "tau"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            register_model(cls)

    def __init__(self, table: EffectTable, *, priors: Mapping[str, Any] | None = None) -> None:
        if not isinstance(table, EffectTable):
            raise ModelSpecError(
                f"table must be an EffectTable, got {type(table).__name__}; build one with "
                "EffectTable.from_frame(...)"
            )
        if table.k < 1:
            raise ModelSpecError("table has no rows")
        self.table = table
        self.user_priors: dict[str, Any] = self._check_user_priors(priors)

    # ------------------------------------------------------------------ priors
    def _check_user_priors(self, priors: Mapping[str, Any] | None) -> dict[str, Any]:
        if priors is None:
            return {}
        if not isinstance(priors, Mapping):
            raise ModelSpecError(
                f"priors must be a mapping name -> prior, got {type(priors).__name__}"
            )
        out: dict[str, Any] = {}
        for key, value in priors.items():
            if key not in self.prior_names:
                raise ModelSpecError(
                    f"unknown prior {key!r} for {type(self).__name__}; known: "
                    f"{', '.join(self.prior_names)}"
                )
            out[key] = self._parse_prior(key, value)
        return out

    def _parse_prior(self, key: str, value: Any) -> Any:
        prior = _as_prior(key, value)
        _check_target(key, prior, self.prior_names[key])
        return prior

    def _default_priors(self) -> dict[str, Any]:
        raise NotImplementedError

    def _given(self, key: str, outcome: str | None = None) -> bool:
        """Whether the user gives the prior of ``key`` (for ``outcome``, if per outcome)."""
        value = self.user_priors.get(key)
        if value is None:
            return False
        return not isinstance(value, Mapping) or outcome is None or outcome in value

    @property
    def priors(self) -> dict[str, Any]:
        """The priors in use: the class defaults updated with the user's."""
        merged = self._default_priors()
        merged.update(self.user_priors)
        return merged

    # ------------------------------------------------------------------ spec
    def _options(self) -> dict[str, Any]:
        return {}

    def spec(self) -> dict[str, Any]:
        """Return the model configuration as a plain JSON-able dict.

        Keys: ``model``, ``version`` (spec format), ``bayesmeta_version``, ``priors`` (each via
        ``to_dict()``; per-outcome or per-moderator priors as nested dicts), ``options``.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> spec = RandomEffects(tab).spec()
        >>> spec["model"], spec["priors"]["tau"]
        ('random_effects', {'family': 'half_normal', 'scale': 0.5})
        """
        return {
            "model": self.name,
            "version": SPEC_VERSION,
            "bayesmeta_version": __version__,
            "priors": {k: _prior_to_json(v) for k, v in self.priors.items()},
            "options": self._options(),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], table: EffectTable) -> BaseModel:
        """Rebuild a model from :meth:`spec` output and the table.

        Dispatches on ``spec["model"]`` when called on :class:`BaseModel`.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> spec = RandomEffects(tab, priors={"tau": "half_normal(0.3)"}).spec()
        >>> BaseModel.from_spec(spec, tab)
        RandomEffects(k=4, mu=Normal(mu=0, sigma=1), tau=HalfNormal(scale=0.3))
        """
        name = spec.get("model")
        target = model_class(str(name)) if cls is BaseModel else cls
        if target.name != name:
            raise ModelSpecError(f"spec is for model {name!r}, not {target.name!r}")
        priors = {k: _prior_from_json(v) for k, v in dict(spec.get("priors", {})).items()}
        return target(table, priors=priors, **dict(spec.get("options", {})))

    def __repr__(self) -> str:
        pri = ", ".join(f"{k}={v}" for k, v in self.priors.items())
        return f"{type(self).__name__}(k={self.table.k}, {pri})"

    # ------------------------------------------------------------------ PyMC
    def _coords(self) -> dict[str, list[Any]]:
        raise NotImplementedError

    def _define(self) -> None:
        """Create the variables inside the active ``pm.Model`` context."""
        raise NotImplementedError

    def _post_process(self, idata: xr.DataTree) -> None:
        """Add labels to the sampled groups (e.g. non-index coords); in place."""

    def build(self) -> pm.Model:
        """Return the PyMC model, with named coords and no sampling.

        Variables follow :mod:`bayesmeta._dims`: ``mu``, ``tau``, ``theta``, ``theta_new``,
        ``y`` (observed), plus the data ``sei`` (and ``X`` for meta-regressions).

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> model = RandomEffects(tab).build()
        >>> sorted(v.name for v in model.free_RVs)
        ['mu', 'tau', 'z', 'z_new']
        >>> model.coords["study"]
        ('a', 'b', 'c', 'd')
        """
        import pymc as pm

        with pm.Model(coords=self._coords()) as model:
            self._define()
        return model

    def sample_prior_predictive(
        self, draws: int = 500, *, random_seed: int | None = None
    ) -> xr.DataTree:
        """Draw from the prior and prior predictive (groups ``prior``, ``prior_predictive``).

        Parameters
        ----------
        draws
            Number of draws.
        random_seed
            Seed; the same seed gives the same draws.

        Returns
        -------
        xarray.DataTree
            Groups ``prior``, ``prior_predictive``, ``observed_data`` and ``constant_data``.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> prior = RandomEffects(tab).sample_prior_predictive(20, random_seed=1)
        >>> prior["prior"]["tau"].shape, prior["prior_predictive"]["y"].shape
        ((1, 20), (1, 20, 4))
        """
        import pymc as pm

        model = self.build()
        with model:
            out: xr.DataTree = pm.sample_prior_predictive(draws, random_seed=random_seed)
        return out

    # ------------------------------------------------------------------ engines
    def _exact_obstacle(self) -> str | None:
        """Why the exact engine cannot fit this model (None when it can)."""
        return f"{type(self).__name__} is not a normal-normal model with a tau to integrate over"

    def _exact_units(self) -> list[tuple[str, ExactUnit]]:
        """One (outcome, :class:`~bayesmeta.models.exact_sampler.ExactUnit`) per analysis."""
        raise NotImplementedError

    def _exact_layout(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~bayesmeta.models.exact_sampler.to_datatree` (layout)."""
        return {}

    def resolve_engine(self, engine: str = "auto") -> tuple[str, str]:
        """Return the engine :meth:`fit` uses for ``engine``, and why: ``(engine, reason)``.

        ``"auto"`` takes the exact engine wherever the model allows it (normal-normal models
        with normal or flat priors on the location coefficients, no ``pool_tau``) and NUTS
        otherwise.

        Raises
        ------
        ModelSpecError
            ``engine`` is unknown, or ``"exact"`` for a model the exact engine cannot fit.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> RandomEffects(tab).resolve_engine()
        ('exact', 'auto: a normal-normal model; exact independent draws')
        >>> from bayesmeta import Binomial, datasets
        >>> bcg = EffectTable.from_arms(datasets.load_bcg(), "OR",
        ...     columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"})
        >>> Binomial(bcg).resolve_engine()  # doctest: +NORMALIZE_WHITESPACE
        ('nuts', 'auto: NUTS, because the exact engine cannot take a binomial likelihood (the
          exact engine integrates normal likelihoods only)')
        >>> Binomial(bcg).resolve_engine("exact")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bayesmeta.errors.ModelSpecError: engine='exact' cannot fit this Binomial: a binomial ...
        """
        if engine not in ENGINES:
            raise ModelSpecError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        obstacle = self._exact_obstacle()
        if engine == EXACT and obstacle is not None:
            raise ModelSpecError(
                f"engine='exact' cannot fit this {type(self).__name__}: {obstacle}. Use "
                "engine='auto' (exact where possible, NUTS otherwise) or engine='nuts'"
            )
        if engine == NUTS:
            return NUTS, "engine='nuts' requested"
        if obstacle is None:
            why = "requested" if engine == EXACT else "auto: a normal-normal model"
            return EXACT, f"{why}; exact independent draws"
        return NUTS, f"auto: NUTS, because the exact engine cannot take {obstacle}"

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        draws: int = 1000,
        *,
        engine: str = "auto",
        chains: int = 4,
        random_seed: int | None = None,
        tune: int = 1000,
        cores: int = 1,
        nuts_sampler: str | None = None,
        target_accept: float = DEFAULT_TARGET_ACCEPT,
        prior_draws: int = 0,
        progressbar: bool = False,
    ) -> Result:
        """Fit the model and return a :class:`~bayesmeta.results.Result`.

        With ``engine="auto"`` (default) normal-normal models get exact independent draws
        (:mod:`bayesmeta.models.exact_sampler`; well under a second) and every other model
        NUTS; :meth:`resolve_engine` tells which in advance. ``result.engine`` records the
        engine used and ``result.sampling["engine_reason"]`` why.

        The result holds the posterior, ``log_likelihood`` (of ``y``), ``posterior_predictive``
        (of ``y``), observed and constant data (standard errors, the moderator matrix of a
        meta-regression, the arm totals of a binomial fit), NUTS's ``sample_stats``, and with
        ``prior_draws > 0`` the ``prior`` and ``prior_predictive`` groups. Diagnostics are
        checked before returning (R-hat, ESS, divergences for NUTS; the quadrature's accuracy
        for the exact engine); problems are raised as
        :class:`~bayesmeta.errors.ConvergenceWarning` saying what to do.

        Parameters
        ----------
        draws, chains
            Draws per chain and chains (exact draws are laid out the same way).
        engine
            ``"auto"``, ``"exact"`` (a :class:`~bayesmeta.errors.ModelSpecError` saying why when
            the model cannot be fitted exactly) or ``"nuts"``.
        random_seed
            Seed of every draw: the same seed (engine and sampler) gives identical draws.
        tune, cores
            NUTS only: as ``pm.sample``; ``cores=1`` is fastest for models this small.
        nuts_sampler
            NUTS only: ``"nutpie"`` (default when installed) or ``"pymc"``; recorded in
            ``result.sampling["sampler"]``.
        target_accept
            NUTS only: target acceptance rate of the step-size adaptation (default
            :data:`DEFAULT_TARGET_ACCEPT`, 0.99: small steps, which these funnel-shaped
            posteriors need to be sampled without bias).
        prior_draws
            Also sample this many prior (predictive) draws.
        progressbar
            NUTS only: show PyMC's progress bar.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable, RandomEffects
        >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
        ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
        >>> model = RandomEffects(tab)
        >>> res = model.fit(200, random_seed=1)
        >>> res.engine, sorted(res.idata.children)[:3]
        ('exact', ['constant_data', 'log_likelihood', 'observed_data'])
        >>> nuts = model.fit(1000, engine="nuts", random_seed=1)  # doctest: +SKIP
        """
        _check_fit_args(draws, tune, chains, prior_draws, nuts_sampler, target_accept)
        used, reason = self.resolve_engine(engine)
        s_fit, s_ppc, s_prior = (
            int(s) for s in np.random.SeedSequence(random_seed).generate_state(3)
        )
        if used == EXACT:
            idata, sampling = self._sample_exact(draws, chains, random_seed)
        else:
            sampler = default_sampler() if nuts_sampler is None else nuts_sampler
            idata = self._sample_nuts(
                draws, tune, chains, cores, (s_fit, s_ppc), sampler, target_accept, progressbar
            )
            sampling = _nuts_settings(sampler, draws, tune, chains, random_seed, target_accept)
        if prior_draws:
            prior = self.sample_prior_predictive(prior_draws, random_seed=s_prior)
            for group in ("prior", "prior_predictive"):
                idata[group] = prior[group]
        return self._finish(idata, {"engine": used, "engine_reason": reason, **sampling})

    def _sample_exact(
        self, draws: int, chains: int, random_seed: int | None
    ) -> tuple[xr.DataTree, dict[str, Any]]:
        """Exact independent draws of every analysis, and the quadrature's accuracy check."""
        rng = np.random.default_rng(random_seed)
        units = self._exact_units()
        out = [draw(unit, draws * chains, rng) for _, unit in units]
        checks = {o: d.pop("check") for (o, _), d in zip(units, out, strict=True)}
        idata = to_datatree(self.table, out, draws, chains, **self._exact_layout())
        first = next(iter(checks.values()))
        quadrature = {
            "method": first.get("method"),
            "outcomes": {o: {k: v for k, v in c.items() if k != "method"}
                         for o, c in checks.items()},
        }  # fmt: skip
        sampling = {"draws": draws, "chains": chains, "random_seed": random_seed}
        return idata, {**sampling, "quadrature": quadrature}

    def _sample_nuts(
        self,
        draws: int,
        tune: int,
        chains: int,
        cores: int,
        seeds: tuple[int, int],
        sampler: str,
        target_accept: float,
        progressbar: bool,
    ) -> xr.DataTree:
        """NUTS draws, the log-likelihood and posterior predictive draws of ``y``."""
        import pymc as pm

        s_fit, s_ppc = seeds
        model = self.build()
        try:
            # a second copy whose observed data are shared variables, for compiled-model reuse
            reuse = sampler == "nutpie" and COMPILE_CACHE_SIZE > 0
            cmodel = _with_shared_observations(self.build()) if reuse else None
            with model:
                if cmodel is not None:
                    # same draws as pm.sample(nuts_sampler="nutpie"), but the compiled model is
                    # reused for later fits of the same structure and shape (see _nutpie_sample)
                    idata = _nutpie_sample(
                        cmodel, model, draws, tune, chains, cores, s_fit, float(target_accept),
                        progressbar,
                    )  # fmt: skip
                else:
                    idata = pm.sample(
                        draws, tune=tune, chains=chains, cores=cores, random_seed=s_fit,
                        nuts_sampler=sampler, progressbar=progressbar,
                        compute_convergence_checks=False,
                        nuts={"target_accept": float(target_accept)},
                    )  # fmt: skip
                pm.compute_log_likelihood(idata, extend_inferencedata=True, progressbar=False)
                pm.sample_posterior_predictive(
                    idata, var_names=[D.Y], random_seed=s_ppc, extend_inferencedata=True,
                    progressbar=False,
                )  # fmt: skip
        except (ModelSpecError, FitError):
            raise
        except Exception as exc:  # the sampler could not start or crashed
            first = (str(exc).strip().splitlines() or [""])[0]
            raise FitError(
                f"{type(self).__name__}.fit failed in {sampler} NUTS: {type(exc).__name__}: "
                f"{first}. Check that the priors give the data a positive probability (e.g. a "
                "bounded prior that excludes the estimates), or try nuts_sampler='pymc'"
            ) from exc
        _text_stats(idata)
        return idata

    def _finish(
        self, idata: xr.DataTree, sampling: dict[str, Any], diagnostics: Any = None
    ) -> Result:
        """Label the groups, record the model in the tree's attrs, check the diagnostics.

        ``diagnostics``: the NUTS diagnostics of these draws when already computed.
        """
        from bayesmeta.results import Result

        self._post_process(idata)
        idata.attrs.update(bayesmeta_model=self.name, bayesmeta_spec_version=SPEC_VERSION)
        result = Result(idata, spec=self.spec(), table=self.table, sampling=sampling)
        if diagnostics is not None:
            result._keep_diagnostics(diagnostics)
        result._warn_diagnostics()
        return result


def _nuts_settings(
    sampler: str, draws: int, tune: int, chains: int, random_seed: int | None,
    target_accept: float,
) -> dict[str, Any]:  # fmt: skip
    """Return the NUTS settings a result records in ``result.sampling``."""
    return {
        "sampler": sampler,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "random_seed": random_seed,
        "target_accept": float(target_accept),
    }


def _check_fit_args(
    draws: int,
    tune: int,
    chains: int,
    prior_draws: int,
    nuts_sampler: str | None,
    target_accept: float,
) -> None:
    """Raise :class:`ModelSpecError` for a bad argument of :meth:`BaseModel.fit`."""
    counts = (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1))
    for arg, value, low in (*counts, ("prior_draws", prior_draws, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ModelSpecError(f"{arg} must be an integer >= {low}, got {value!r}")
    if nuts_sampler is not None and nuts_sampler not in NUTS_SAMPLERS:
        raise ModelSpecError(f"nuts_sampler must be one of {NUTS_SAMPLERS}, got {nuts_sampler!r}")
    if nuts_sampler == "nutpie" and importlib.util.find_spec("nutpie") is None:
        raise ModelSpecError("nuts_sampler='nutpie' needs nutpie: pip install nutpie")
    if not 0 < float(target_accept) < 1:
        raise ModelSpecError(f"target_accept must be in (0, 1), got {target_accept!r}")


# ------------------------------------------------------------------ compiled-model reuse (nutpie)
#: Compiled nutpie models by structure (most recently used last); see :func:`_nutpie_sample`.
_COMPILED: OrderedDict[str, Any] = OrderedDict()
#: How many compiled models to keep (each holds a few MB of machine code). 0 turns reuse off:
#: :meth:`BaseModel.fit` then calls ``pm.sample`` and compiles on every fit.
COMPILE_CACHE_SIZE = 32
_OBSERVED_PREFIX = "__bayesmeta_observed_"


def clear_compile_cache() -> None:
    """Forget every compiled model kept for reuse by :meth:`BaseModel.fit`."""
    _COMPILED.clear()


def _with_shared_observations(model: pm.Model) -> pm.Model:
    """``model`` with each observed variable's data moved into a shared variable (in place).

    PyMC bakes observed values into the graph as constants, so a compiled model could only
    ever sample the dataset it was built with. As shared variables they become inputs of
    nutpie's compiled functions and can be swapped with ``with_data``.
    """
    import pytensor

    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        data = value.data if hasattr(value, "data") else value.get_value()
        shared = pytensor.shared(np.asarray(data), name=_OBSERVED_PREFIX + rv.name)
        model.rvs_to_values[rv] = shared
    return model


def _structure(model: pm.Model) -> tuple[str, dict[str, np.ndarray]]:
    """Return a key that is equal for two models exactly when their graphs are equal.

    Equal means: the logp and deterministic graphs agree up to the values of shared variables
    (data); the second item holds those values by name.

    The key holds the printed graph (ops, types, names), every constant's bytes and every
    shared variable's name, dtype and shape.
    """
    import hashlib

    import pytensor
    from pytensor.graph.basic import Constant, ancestors
    from pytensor.tensor.sharedvar import SharedVariable

    outs = [model.logp(), *model.deterministics]
    text = pytensor.printing.debugprint(outs, file="str", print_type=True)
    h = hashlib.sha256(str(text).encode())
    shared: dict[str, np.ndarray] = {}
    for var in ancestors(outs):
        if isinstance(var, Constant):
            arr = np.asarray(var.data)
            h.update(f"{arr.dtype}{arr.shape}".encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        elif isinstance(var, SharedVariable):
            val = np.asarray(var.get_value())
            shared[str(var.name)] = val
    for name in sorted(shared):
        h.update(f"{name}:{shared[name].dtype}{shared[name].shape}".encode())
    return h.hexdigest(), shared


def _frozen_key(key: str, values: dict[str, np.ndarray]) -> str:
    """Extend a :func:`_structure` key by the values of the shared variables."""
    import hashlib

    h = hashlib.sha256(key.encode())
    for name in sorted(values):
        h.update(name.encode())
        h.update(np.ascontiguousarray(values[name]).tobytes())
    return "frozen:" + h.hexdigest()


def _nutpie_sample(
    cmodel: pm.Model,
    model: pm.Model,
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    seed: int,
    target_accept: float,
    progressbar: bool,
    *,
    freeze: bool = False,
) -> xr.DataTree:
    """``pm.sample(nuts_sampler="nutpie")`` on ``model`` that compiles a structure once per process.

    ``cmodel`` is a second build of ``model`` passed through :func:`_with_shared_observations`.

    Compiling the logp and gradient with numba takes seconds and sampling a meta-analysis a
    fraction of one, so a review fitted outcome by outcome (or a simulation refitting datasets
    of one shape) is dominated by compilation. Here the observed data become shared variables,
    the compiled model is cached under :func:`_structure`, and a later fit with the same
    structure swaps its data in (nutpie's ``with_data``) instead of compiling. Seeds, initial
    points and sampler settings are PyMC's, and a seed gives the same draws whether or not the
    cache was hit. (They are not bit-identical to ``pm.sample`` on the model with constant
    observations: PyMC folds constants differently, and NUTS trajectories amplify rounding.)

    ``freeze=True`` compiles with nutpie's ``freeze_model``: shared variables (data, dim
    lengths) become constants, so the compiled wrapper has no data inputs (it compiles faster);
    the cache key then covers their values and no data are swapped in.
    """
    import dataclasses
    import time

    import nutpie
    import pandas as pd
    from pymc.backends.arviz import patch_nutpie_idata
    from pymc.util import get_random_generator

    from bayesmeta.models._nutpie_frozen import compile_frozen

    key, values = _structure(cmodel)
    if freeze:  # the shared values become constants of the compiled model: part of its key
        key = _frozen_key(key, values)
        values = {}
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = compile_frozen(cmodel) if freeze else None  # lighter callbacks, same draws
        if compiled is None:
            compiled = nutpie.compile_pymc_model(cmodel, backend="numba", freeze_model=freeze)
        _COMPILED[key] = compiled
        while len(_COMPILED) > COMPILE_CACHE_SIZE:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)
        # the cached model's own shared variables feed its initial-point function: give them
        # this dataset's values too, so initial points equal those of a fresh compilation
        for var in compiled.shared_var_keys:
            if var.name in values:
                var.set_value(values[var.name])
        compiled = compiled.with_data(
            **{v.name: values[v.name] for v in compiled.shared_var_keys if v.name in values}
        )
        coords = dict(compiled.coords)
        coords.update({name: pd.Index(vals) for name, vals in model.coords.items() if vals})
        compiled = dataclasses.replace(compiled, _coords=coords)
    chain_seed = int(get_random_generator(seed).spawn(chains)[0].integers(2**30))
    t0 = time.time()
    idata: xr.DataTree = nutpie.sample(
        compiled,
        draws=draws,
        tune=max(tune, 1),  # as pm.sample: nuts-rs needs at least one tuning step
        chains=chains,
        cores=cores,
        seed=chain_seed,
        save_warmup=False,
        store_unconstrained=False,
        progress_bar=progressbar,
        target_accept=target_accept,
    )
    patch_nutpie_idata(idata, model, sampling_time=time.time() - t0)
    return idata


def _text_stats(idata: xr.DataTree) -> None:
    """Object-dtype sample stats (nutpie's ``divergence_message``: None or text) as str.

    netCDF stores them as strings anyway; converting now makes the saved file read back
    identical to the result in memory.
    """
    stats = idata["sample_stats"].to_dataset()
    changed = False
    for name in list(stats.data_vars):
        da = stats[name]
        if da.dtype == object:
            text = np.vectorize(lambda v: v if isinstance(v, str) else "", otypes=[str])
            stats[name] = da.copy(data=text(da.values))
            changed = True
    if changed:
        idata["sample_stats"] = stats


def _prior_to_json(value: Any) -> Any:
    if isinstance(value, Prior):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _prior_to_json(v) for k, v in value.items()}
    raise ModelSpecError(f"cannot serialise prior {value!r}")


def _prior_from_json(value: Any) -> Any:
    if isinstance(value, (Prior, str)):
        return value
    if isinstance(value, Mapping) and "family" in value:
        return Prior.from_dict(dict(value))
    if isinstance(value, Mapping):
        return {str(k): _prior_from_json(v) for k, v in value.items()}
    raise ModelSpecError(f"cannot read prior {value!r} from a spec")


def vector_prior(name: str, priors: list[Prior], dims: str) -> Any:
    """One PyMC variable with ``dims`` from per-element priors of one family.

    The family's ``to_pymc`` is called on a copy whose parameters are arrays, so
    ``Normal(0, 1)`` and ``Normal(0, 2.5)`` for two outcomes become one ``pm.Normal`` with
    ``sigma=[1, 2.5]``.
    """
    families = {type(p) for p in priors}
    if len(families) != 1:
        raise ModelSpecError(
            f"priors for {name!r} must share one family across the {dims} dimension, got "
            f"{sorted(str(p) for p in priors)}"
        )
    cls = families.pop()
    if all(p == priors[0] for p in priors):
        return priors[0].to_pymc(name, dims=dims)
    proto = object.__new__(cls)
    for key in priors[0].params():
        object.__setattr__(proto, key, np.array([p.params()[key] for p in priors]))
    return proto.to_pymc(name, dims=dims)


def is_location(prior: Prior) -> bool:
    """Whether ``prior`` is a location prior usable for ``mu`` or ``beta``."""
    return isinstance(prior, (Normal, Flat))
