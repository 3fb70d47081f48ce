"""Prior distributions for the normal-normal random-effects model.

Small frozen dataclasses, one per family, that

* evaluate with scipy.stats (``logpdf``, ``pdf``, ``cdf``, ``ppf``, ``mean``, ``interval``) for
  the exact engine (:mod:`bayesmeta.exact`),
* serialise to plain JSON (``to_dict()`` / :meth:`Prior.from_dict`) so a model spec round-trips,
* print as ``HalfNormal(scale=0.5)``, which :func:`prior_from_spec` parses back, and
* build the matching PyMC random variable with ``to_pymc(name)``; PyMC is imported inside that
  method only, so importing this package stays cheap.

Each family is one row of a table (``bayesmeta.priors._core.FAMILIES``: JSON name, scipy.stats
distribution, PyMC distribution, tail exponents) and one generic implementation serves them all.

Families for the heterogeneity ``tau`` (support in ``[0, inf)``): :class:`HalfNormal`,
:class:`HalfCauchy`, :class:`HalfStudentT`, :class:`Uniform`, :class:`LogNormal`,
:class:`LogStudentT`, :class:`Exponential`, :class:`ImproperUniform`. Families for the mean
``mu`` (and regression coefficients ``beta``): :class:`Normal`, :class:`Flat`.

Empirical heterogeneity priors: :func:`turner2015` (log odds ratios) and :func:`rhodes2015`
(standardised mean differences), read from the published tables bundled in
``bayesmeta/priors/data/`` (CSV, with a JSON sidecar citing paper, table and page).

See also: R bayesmeta's ``dhalfnormal``, ``dhalfcauchy``, ``TurnerEtAlPrior``, ``RhodesEtAlPrior``.
"""

from bayesmeta.priors._core import (
    Exponential,
    Flat,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    ImproperUniform,
    LogNormal,
    LogStudentT,
    Normal,
    Prior,
    Uniform,
    prior_from_spec,
)
from bayesmeta.priors._presets import rhodes2015, turner2015

__all__ = [
    "Exponential",
    "Flat",
    "HalfCauchy",
    "HalfNormal",
    "HalfStudentT",
    "ImproperUniform",
    "LogNormal",
    "LogStudentT",
    "Normal",
    "Prior",
    "Uniform",
    "prior_from_spec",
    "rhodes2015",
    "turner2015",
]
