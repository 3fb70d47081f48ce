"""Model names, the spec format version, the fitting engines and the model registry.

A base-level module: it imports nothing from the package but :mod:`bayesmeta.errors`, so
:mod:`bayesmeta.results` (below the models) and :mod:`bayesmeta.models` (above it) both read
the same names from here. Model classes register themselves when they are defined
(:class:`bayesmeta.models.BaseModel` subclasses with their own ``name``), so
:func:`model_class` knows every model once :mod:`bayesmeta.models` is imported.

Examples
--------
>>> from bayesmeta import _registry
>>> _registry.ENGINES
('auto', 'exact', 'nuts')
>>> import bayesmeta.models
>>> _registry.model_class("random_effects").__name__
'RandomEffects'
"""

from __future__ import annotations

from typing import Any

from bayesmeta.errors import ModelSpecError

__all__ = [
    "ENGINES",
    "EXACT",
    "NORMAL_MODELS",
    "NUTS",
    "SPEC_VERSION",
    "model_class",
    "register_model",
]

#: Version of the model spec format written by ``BaseModel.spec()``.
SPEC_VERSION = 1

#: The fitting engines: exact independent draws from the quadrature of the normal-normal
#: posterior, or NUTS (nutpie or PyMC's own).
EXACT = "exact"
NUTS = "nuts"
#: What ``fit(engine=...)`` accepts: ``"auto"`` takes the exact engine where the model allows it.
ENGINES: tuple[str, ...] = ("auto", EXACT, NUTS)

# model names as written in a spec
RANDOM_EFFECTS = "random_effects"
META_REGRESSION = "meta_regression"
MULTI_OUTCOME = "multi_outcome"
COMMON_EFFECT = "common_effect"
BINOMIAL = "binomial"
#: Models with a normal likelihood of the estimates (the rest model counts).
NORMAL_MODELS: tuple[str, ...] = (COMMON_EFFECT, RANDOM_EFFECTS, META_REGRESSION, MULTI_OUTCOME)

_MODELS: dict[str, Any] = {}


def register_model(cls: Any) -> Any:
    """Record a model class under its ``name`` (done by ``BaseModel.__init_subclass__``).

    Examples
    --------
    >>> import bayesmeta.models
    >>> register_model(bayesmeta.models.RandomEffects).name
    'random_effects'
    """
    name = str(cls.name)
    known = _MODELS.get(name)
    if known is not None and known is not cls and known.__qualname__ != cls.__qualname__:
        raise ModelSpecError(f"two model classes are named {name!r}: {known} and {cls}")
    _MODELS[name] = cls
    return cls


def model_class(name: str) -> Any:
    """Return the model class registered under ``name``.

    Raises
    ------
    ModelSpecError
        No model has that name.

    Examples
    --------
    >>> import bayesmeta.models
    >>> model_class("binomial").__name__
    'Binomial'
    >>> model_class("gibbs")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bayesmeta.errors.ModelSpecError: unknown model 'gibbs' in spec; known: ['binomial', ...]
    """
    cls = _MODELS.get(str(name))
    if cls is None:
        raise ModelSpecError(f"unknown model {name!r} in spec; known: {sorted(_MODELS)}")
    return cls


def registered() -> dict[str, Any]:
    """Model classes by name (a copy).

    Examples
    --------
    >>> import bayesmeta.models
    >>> sorted(registered())[:2]
    ['binomial', 'common_effect']
    """
    return dict(_MODELS)
