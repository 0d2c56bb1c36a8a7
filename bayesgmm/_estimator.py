"""The scikit-learn estimator protocol, shared by :class:`~bayesgmm.GaussianMixture`
and :class:`~bayesgmm.BayesianGMM`.

Implemented here rather than inherited from ``sklearn.base.BaseEstimator`` so that
scikit-learn stays a test-only dependency; ``clone``, pipelines and
``parametrize_with_checks`` work with it all the same.
"""

from __future__ import annotations

import inspect


class EstimatorMixin:
    """``get_params`` / ``set_params`` / ``__repr__`` / tags from the ``__init__`` signature.

    Subclasses store every constructor argument verbatim under its own name and
    define ``_check_params()``. With ``_check_params_on_set = True``, ``set_params``
    validates the new values and restores the old ones if they are invalid.
    """

    _check_params_on_set = False

    @classmethod
    def _init_defaults(cls):
        return {
            p.name: p.default
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self"
        }

    @classmethod
    def _get_param_names(cls):
        return sorted(cls._init_defaults())

    def get_params(self, deep=True):
        """Constructor parameters as a dict (scikit-learn protocol).

        Examples
        --------
        >>> from bayesgmm import GaussianMixture
        >>> GaussianMixture(n_components=3).get_params()["n_components"]
        3
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters (scikit-learn protocol); returns ``self``.

        Examples
        --------
        >>> from bayesgmm import GaussianMixture
        >>> GaussianMixture().set_params(n_components=4).n_components
        4
        """
        valid = set(self._get_param_names())
        for key in params:
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {sorted(valid)}."
                )
        old = {k: getattr(self, k) for k in params}
        for key, value in params.items():
            setattr(self, key, value)
        if self._check_params_on_set:
            try:
                self._check_params()
            except (TypeError, ValueError):
                for key, value in old.items():
                    setattr(self, key, value)
                raise
        return self

    def __repr__(self):
        parts = []
        for name, default in self._init_defaults().items():
            value = getattr(self, name, None)
            same = value is default
            if not same:
                try:
                    same = bool(type(value) is type(default) and value == default)
                except Exception:  # arrays compare elementwise
                    same = False
            if not same:
                r = repr(value)
                if len(r) > 60:
                    r = r[:57] + "..."
                parts.append(f"{name}={r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type="density_estimator", target_tags=TargetTags(required=False))
