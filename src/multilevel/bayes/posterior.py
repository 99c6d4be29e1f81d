"""``Posterior``: the immutable result of ``ml.bayes``."""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .checks import SamplerWarning, sampler_messages
from .priors import coef_name
from ..arguments import short_repr

__all__ = ["Posterior", "Draws"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.flags.writeable:
        a = a.copy() if not a.flags.owndata else a
        a.flags.writeable = False
    return a


def _ranef_meta(model) -> dict:
    """Per grouping name: its terms, coefficient names, levels and factor."""
    d = model.design
    meta, groups = {}, {}
    for t, g in enumerate(model.group_names):
        groups.setdefault(g, []).append(t)
    for g, ts in groups.items():
        coefs = tuple(coef_name(c) for t in ts for c in d.terms[t].columns)
        meta[g] = {"terms": tuple(ts), "coefs": coefs, "levels": d.terms[ts[0]].levels,
                   "group": d.terms[ts[0]].group}
    return meta


def _zi_names(model) -> tuple:
    """brms's names of the zero-inflation coefficients (``Intercept``, ``sppDF``), () without ``zi=``."""
    zd = getattr(model, "zi_design", None)
    return () if zd is None else tuple(coef_name(n) for n in zd.fixed.names)


def _zi_draws(model, s: dict) -> dict:
    """``b_zi_<coef>`` draws (chains, draws) from the sampler's ``_bzi`` sites, the
    intercept moved from the centred columns' means to zero."""
    st = model.struct
    if not st.pzi:
        return {}
    first = np.asarray(s["_bzi0"])
    g_c = np.zeros(first.shape[:2] + (st.pzi,))
    for g, (_, pos) in enumerate(st.zi_groups):
        g_c[..., list(pos)] = s[f"_bzi{g}"]
    g_raw = g_c.copy()
    if model.zi_intercept is not None:
        g_raw[..., model.zi_intercept] -= g_c @ model.zi_means
    return {f"b_zi_{n}": g_raw[..., j] for j, n in enumerate(_zi_names(model))}


class ReadOnlyDict(Mapping):
    """A read-only view of a dict that, unlike ``types.MappingProxyType``, pickles.

    Examples
    --------
    >>> import pickle
    >>> d = ReadOnlyDict({"a": 1})
    >>> d["a"], dict(pickle.loads(pickle.dumps(d)))
    (1, {'a': 1})
    """

    def __init__(self, data: dict):
        self._data = dict(data)

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ReadOnlyDict({self._data!r})"


class Draws(Mapping):
    """Read-only mapping ``name -> draws (chains, draws)``, also callable: ``draws("sigma")``.

    Calling it also gives the random effects of a grouping factor, ``draws("r_school")``
    (chains, draws, levels, k).

    Examples
    --------
    >>> d = Draws({"sigma": np.ones((2, 3))})
    >>> d["sigma"].shape, d("sigma").shape, list(d)
    ((2, 3), (2, 3), ['sigma'])
    """

    def __init__(self, arrays: dict, ranef: Mapping | None = None):
        self._d = {k: _readonly(v) for k, v in arrays.items()}
        self._r = ranef or {}

    def __getitem__(self, name):
        try:
            return self._d[name]
        except KeyError:
            raise KeyError(f"no parameter {name!r}; parameters: {', '.join(self._d)}") from None

    def __call__(self, name: str) -> np.ndarray:
        if name.startswith("r_") and name[2:] in self._r:
            return self._r[name[2:]]
        if name not in self._d:
            extra = [f"r_{g}" for g in self._r]
            raise KeyError(f"no parameter {name!r}; parameters: {', '.join(list(self._d) + extra)}")
        return self._d[name]

    def __iter__(self):
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"Draws({', '.join(self._d)})"


def _quantile_names(prob: float) -> tuple[str, str]:
    lo, hi = 100 * (1 - prob) / 2, 100 * (1 + prob) / 2
    return f"Q{lo:g}", f"Q{hi:g}"


def _positive_int(value, name: str, most: int | None, why: str) -> int:
    """A whole number from 1 to ``most`` (None: no upper limit), or a one-line error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number, not {short_repr(value)}")
    if most is None:
        if int(value) < 1:
            raise ValueError(f"{name} must be at least 1, not {int(value)}")
    elif not 1 <= int(value) <= max(1, most):
        raise ValueError(f"{name} must be from 1 to {max(1, most)} ({why}), not {int(value)}")
    return int(value)


def _check_prob(prob) -> float:
    if not isinstance(prob, (int, float)) or not 0 < prob < 1:
        raise ValueError(f"prob must be a number between 0 and 1, not {short_repr(prob)}")
    return float(prob)


@dataclass(frozen=True, eq=False, repr=False)
class Posterior:
    """Draws from the posterior of a Bayesian multilevel model (``ml.bayes``).

    Attributes
    ----------
    draws : Draws
        ``name -> ndarray (chains, draws)`` for every scalar parameter, named as
        brms names them: ``b_Intercept``, ``b_femaleF``,
        ``sd_school__Intercept``, ``cor_school__Intercept__femaleF``,
        ``sigma``, ``nu``, and any derived quantity. ``draws("r_school")``
        gives the random effects.
    ranef_draws : mapping or None
        Grouping factor -> random effects (chains, draws, levels, k), float32;
        None when fitted with ``keep_ranef=False``.
    stats : mapping
        Sampler statistics (chains, draws): ``diverging``, ``tree_depth``,
        ``n_steps``, ``energy``, ``acceptance_rate``, ``step_size``, ``lp``.
    model : BayesModel
        Design, data arrays and priors.
    chains, ndraws, warmup : int
    seed : int
    sampler : str
        ``"nuts"`` or ``"collapsed"``: the sampler that ran.
    target_accept : float
    max_tree_depth : int
    seconds : float
        Wall time of the sampling, compilation included.
    messages : tuple of str
        Problems found in the draws (also issued as warnings after sampling).
    data_name : str or None
    offset_spec : str or None
        The offset's column name, read again from new data.
    derived : tuple of str
        Names of quantities added with :meth:`derive`.
    sampler_note : str or None
        Why NUTS ran where ``sampler="auto"`` would have run the collapsed
        sampler (None otherwise).

    Examples
    --------
    >>> import multilevel as ml
    >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
    ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
    >>> post.chains, post.ndraws, post.names
    (2, 200, ['b_Intercept', 'b_Days', 'sd_Subject__Intercept', 'sigma'])
    """

    draws: Draws
    ranef_draws: Mapping | None
    stats: Mapping
    model: object
    chains: int
    ndraws: int
    warmup: int
    seed: int
    sampler: str
    target_accept: float
    max_tree_depth: int
    seconds: float
    messages: tuple
    data_name: str | None = None
    offset_spec: str | None = None
    derived: tuple = ()
    _ranef_meta: Mapping | None = None
    sampler_note: str | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def _build(cls, model, run, beta, bs, cfg, seed, sampler, data_name=None, seconds=None,
               offset_spec=None, sampler_note=None) -> "Posterior":
        d = model.design
        out: dict[str, np.ndarray] = {}
        s = run.samples
        if model.struct.ncat:
            # the thresholds on the predictors' own scale: P(Y <= k) = F(tau_k - (x - m)'b) = F(tau_k + m'b - x'b)
            thr = np.asarray(s["_thr"], dtype=float) + (beta @ model.x_means)[..., None]
            for k in range(thr.shape[-1]):
                out[f"b_Intercept[{k + 1}]"] = thr[..., k]
        for j, nm in enumerate(d.fixed.names):
            out[f"b_{coef_name(nm)}"] = beta[..., j]
        from .fit import varpar_draws

        sds, chols = varpar_draws(model, s, cfg.chains, cfg.draws)
        k_names = iter(model.sd_names)
        for t, term in enumerate(d.terms):
            for j in range(model.struct.varpar.term_nsd[t]):
                out[next(k_names)] = sds[t][..., j]
        rho_names = iter(model.rho_names)
        for t, term in enumerate(d.terms):
            if term.structure is not None:
                out[next(rho_names)] = np.asarray(s[f"_rho{t}"], dtype=float)
            elif term.k > 1:
                L = chols[t]
                R = np.einsum("cdik,cdjk->cdij", L, L)
                g = model.group_names[t]
                cn = [coef_name(c) for c in term.columns]
                for i in range(1, term.k):
                    for j in range(i):
                        out[f"cor_{g}__{cn[j]}__{cn[i]}"] = R[..., i, j]
        for nm in ("sigma", "nu", model.struct.varpar.aux_name):
            if nm is not None and nm in s:
                out[nm] = np.asarray(s[nm], dtype=float)
        out.update(_zi_draws(model, s))
        ranef, meta = None, _ranef_meta(model)
        if bs is not None:
            ranef = {g: _readonly(np.concatenate([bs[t] for t in m["terms"]], axis=-1)) if len(m["terms"]) > 1
                     else _readonly(bs[m["terms"][0]]) for g, m in meta.items()}
        stats = {k: _readonly(v) for k, v in run.stats.items()}
        msgs = sampler_messages(out, stats, cfg.max_tree_depth, ranef=ranef, target_accept=cfg.target_accept)
        return cls(draws=Draws(out, ReadOnlyDict(ranef or {})),
                   ranef_draws=None if ranef is None else ReadOnlyDict(ranef),
                   stats=ReadOnlyDict(stats), model=model, chains=cfg.chains, ndraws=cfg.draws,
                   warmup=cfg.warmup, seed=seed, sampler=sampler, target_accept=cfg.target_accept,
                   max_tree_depth=cfg.max_tree_depth,
                   seconds=float(run.seconds if seconds is None else seconds),
                   messages=tuple(msgs), data_name=data_name, offset_spec=offset_spec,
                   _ranef_meta=ReadOnlyDict(meta), sampler_note=sampler_note)

    # ----------------------------------------------------------------- saving
    def save(self, path):
        """Write the posterior to ``path``, to be read back by :func:`multilevel.load`.

        The archive (:mod:`multilevel.results.archive`) holds the call (formula,
        family, link, every parameter's prior), the sampler's settings, the
        rows of data used and the draws (``draws.npz``); loading rebuilds the
        model without sampling again.

        Returns
        -------
        pathlib.Path
        """
        from ..results.archive import save

        return save(self, path)

    def _save(self, path):
        import dataclasses
        import io

        from ..results.archive import FORMAT, FORMAT_VERSION, _csv, _package_version, model_frame, write_archive

        model = self.model
        d = model.design
        formula = d.formula.text
        if model.zi_formula is not None:  # the zero-inflation model's columns too
            formula = f"{formula} + {model.zi_formula.strip().lstrip('~')}"
        frame, schema = model_frame(d, formula, self.offset_spec)
        if model.categories:  # a cumulative model's response holds category codes: keep the categories
            from ..results.archive import _column_schema

            col = d.response_name
            frame[col] = pd.Categorical.from_codes(frame[col].astype(int), categories=list(model.categories),
                                                   ordered=True)
            schema[col] = _column_schema(frame[col])
        call = {"formula": d.formula.text, "family": model.struct.family, "link": model.struct.link,
                "center": bool(model.centered),
                # (a cumulative model's thresholds share the one "Intercept" prior)
                "priors": {("Intercept" if s.name.startswith("b_Intercept[") else s.name):
                           {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(s.prior).items()}
                           for s in model.slots},
                "prior_sources": {s.name: s.source for s in model.slots}}
        if model.zi_formula is not None:
            call["zi"] = model.zi_formula
        if self.offset_spec:
            call["offset"] = self.offset_spec
        elif d.offset is not None and d.offset_argument:
            frame["__offset__"] = d.offset
            schema["__offset__"] = {"dtype": "float64"}
            call["offset"] = "__offset__"
        if d.weights is not None and "cbind(" not in d.formula.text:
            frame["__weights__"] = d.weights
            schema["__weights__"] = {"dtype": "float64"}
            call["weights"] = "__weights__"
        arrays = {f"draws/{k}": np.asarray(v) for k, v in self.draws.items()}
        arrays.update({f"stats/{k}": np.asarray(v) for k, v in self.stats.items()})
        if self.ranef_draws is not None:
            arrays.update({f"ranef/{k}": np.asarray(v) for k, v in self.ranef_draws.items()})
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "package_version": _package_version(),
                    "kind": "bayes", "call": call, "columns": schema, "data_name": self.data_name,
                    "n_dropped": int(d.n_dropped),
                    "sampler": {"chains": self.chains, "draws": self.ndraws, "warmup": self.warmup,
                                "seed": int(self.seed), "sampler": self.sampler,
                                "sampler_note": self.sampler_note,
                                "target_accept": float(self.target_accept),
                                "max_tree_depth": int(self.max_tree_depth), "seconds": float(self.seconds)},
                    "messages": list(self.messages), "derived": list(self.derived)}
        write_archive(path, manifest, {"data.csv": _csv(frame), "draws.npz": buf.getvalue()})
        return path

    @classmethod
    def _load(cls, manifest: dict, zf) -> "Posterior":
        import io

        from ..results.archive import _read_frame
        from .fit import prepare
        from .priors import Prior

        call = manifest["call"]
        data = _read_frame(zf.read("data.csv"), manifest["columns"])
        priors = {name: Prior(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in fields.items()})
                  for name, fields in call["priors"].items()}
        model = prepare(call["formula"], data, call["family"], call["link"], priors, call.get("weights"),
                        call.get("offset"), call["center"], call.get("zi"))
        sources = call.get("prior_sources", {})
        model = replace(model, design=replace(model.design, n_dropped=int(manifest.get("n_dropped", 0))),
                        slots=tuple(replace(s, source=sources.get(s.name, s.source)) for s in model.slots))
        with np.load(io.BytesIO(zf.read("draws.npz"))) as npz:
            arrays = {k: npz[k] for k in npz.files}
        part = lambda prefix: {k.split("/", 1)[1]: _readonly(v) for k, v in arrays.items()  # noqa: E731
                               if k.startswith(prefix + "/")}
        ranef = part("ranef") or None
        cfg = manifest["sampler"]
        offset = call.get("offset")
        return cls(draws=Draws(part("draws"), ReadOnlyDict(ranef or {})),
                   ranef_draws=None if ranef is None else ReadOnlyDict(ranef), stats=ReadOnlyDict(part("stats")),
                   model=model, chains=cfg["chains"], ndraws=cfg["draws"], warmup=cfg["warmup"], seed=cfg["seed"],
                   sampler=cfg["sampler"], target_accept=cfg["target_accept"],
                   max_tree_depth=cfg["max_tree_depth"], seconds=cfg["seconds"],
                   messages=tuple(manifest.get("messages", ())), data_name=manifest.get("data_name"),
                   offset_spec=offset if offset and offset != "__offset__" else None,
                   derived=tuple(manifest.get("derived", ())), _ranef_meta=ReadOnlyDict(_ranef_meta(model)),
                   sampler_note=cfg.get("sampler_note"))

    @staticmethod
    def _warning_class():
        return SamplerWarning

    # ------------------------------------------------------------------ basics
    @property
    def family(self) -> str:
        """Response family (``"gaussian"``, ``"student"``, ``"binomial"``, ``"poisson"``,
        ``"negative_binomial"``, ``"gamma"``, ``"beta"``, ``"cumulative"``)."""
        return self.model.struct.family

    @property
    def link(self) -> str:
        """Link function."""
        return self.model.struct.link

    @property
    def formula(self) -> str:
        """The model formula as given."""
        return self.model.design.formula.text

    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return self.model.design.n

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor."""
        return self.model.design.ngroups

    @property
    def names(self) -> list[str]:
        """Names of the scalar parameters (and derived quantities)."""
        return list(self.draws)

    def _flat(self, name: str) -> np.ndarray:
        return self.draws[name].reshape(-1)

    def _beta_flat(self) -> np.ndarray:
        names = [f"b_{coef_name(n)}" for n in self.model.design.fixed.names]
        if not names:
            return np.zeros((self.chains * self.ndraws, 0))
        return np.stack([self._flat(n) for n in names], axis=-1)

    def _term_ranef_flat(self, t: int) -> np.ndarray:
        g = self.model.group_names[t]
        arr = self.ranef_draws[g]
        meta = self._ranef_meta[g]
        start = sum(self.model.design.terms[u].k for u in meta["terms"][:meta["terms"].index(t)])
        k = self.model.design.terms[t].k
        return arr[..., start:start + k].reshape((-1,) + arr.shape[2:3] + (k,))

    def _structured_index(self, t: int) -> int:
        """Position of structured term ``t`` among the structured terms (its ``rho_names`` entry)."""
        return sum(u.structure is not None for u in self.model.design.terms[:t])

    def _term_factor(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """SD draws (C, D, k) and correlation Cholesky draws (C, D, k, k) of term ``t``."""
        from .varpar import structured_chol

        term = self.model.design.terms[t]
        off = self.model.struct.varpar.sd_offsets
        sd = np.stack([self.draws[n] for n in self.model.sd_names[off[t]:off[t + 1]]], axis=-1)
        k = term.k
        if term.structure is not None:
            rho = self.draws[self.model.rho_names[self._structured_index(t)]]
            return (np.broadcast_to(sd, sd.shape[:2] + (k,)).copy(),
                    structured_chol(term.structure.kind, k, np.asarray(rho, dtype=float), xp=np))
        R = np.broadcast_to(np.eye(k), sd.shape[:2] + (k, k)).copy()
        if k > 1:
            g = self.model.group_names[t]
            cn = [coef_name(c) for c in term.columns]
            for i in range(1, k):
                for j in range(i):
                    R[..., i, j] = R[..., j, i] = self.draws[f"cor_{g}__{cn[j]}__{cn[i]}"]
            R = R + 1e-12 * np.eye(k)
        return sd, np.linalg.cholesky(R)

    # ------------------------------------------------------------------ accessors
    def draws_df(self, ranef: bool = False) -> pd.DataFrame:
        """All draws as a DataFrame: ``chain`` and ``draw`` (1-based), then one column per parameter.

        Parameters
        ----------
        ranef : bool, default False
            Add the random effects as columns ``r_<group>[<level>,<coef>]``, as brms names them.

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> df = post.draws_df()
        >>> df.shape, list(df.columns[:4])
        ((400, 6), ['chain', 'draw', 'b_Intercept', 'b_Days'])
        """
        C, D = self.chains, self.ndraws
        cols = {"chain": np.repeat(np.arange(1, C + 1), D), "draw": np.tile(np.arange(1, D + 1), C)}
        for n, v in self.draws.items():
            cols[n] = v.reshape(-1)
        if ranef:
            self._need_ranef()
            for g, arr in self.ranef_draws.items():
                meta = self._ranef_meta[g]
                flat = arr.reshape(C * D, arr.shape[2], arr.shape[3])
                for li, lev in enumerate(meta["levels"]):
                    for ci, c in enumerate(meta["coefs"]):
                        cols[f"r_{g}[{lev},{c}]"] = flat[:, li, ci]
        return pd.DataFrame(cols)

    def _need_ranef(self) -> None:
        if self.ranef_draws is None:
            raise ValueError("the random effects' draws were not kept (keep_ranef=False); refit with "
                             "keep_ranef=True")

    def _interval(self, x: np.ndarray, prob: float) -> np.ndarray:
        from .diagnostics import eti_interval

        return np.asarray(eti_interval(x, prob))

    def _fixed_names(self) -> list[str]:
        """brms's names of the population-level parameters without ``b_``: a cumulative
        model's thresholds ``Intercept[1]``, ... first, then the coefficients, then
        the zero-inflation model's ``zi_<coef>``."""
        thr = [f"Intercept[{k}]" for k in range(1, self.model.struct.ncat)]
        return thr + [coef_name(n) for n in self.model.design.fixed.names] + [
            f"zi_{n}" for n in _zi_names(self.model)]

    def fixef(self, prob: float = 0.95) -> pd.DataFrame:
        """Posterior summaries of the fixed effects, as brms's ``fixef``.

        Parameters
        ----------
        prob : float, default 0.95
            Probability of the equal-tailed interval.

        Returns
        -------
        DataFrame
            Index: coefficient names (``Intercept`` for lme4's ``(Intercept)``;
            a cumulative model's thresholds ``Intercept[1]``, ... first; a
            zero-inflation model's coefficients ``zi_<coef>`` last); columns
            ``Estimate`` (posterior mean), ``Est.Error`` (posterior SD),
            and the interval's quantiles, e.g. ``Q2.5`` and ``Q97.5``.

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> fe = post.fixef()
        >>> list(fe.index), list(fe.columns)
        (['Intercept', 'Days'], ['Estimate', 'Est.Error', 'Q2.5', 'Q97.5'])
        """
        prob = _check_prob(prob)
        names = self._fixed_names()
        x = np.stack([self.draws[f"b_{n}"] for n in names], axis=-1) if names else np.zeros((1, 1, 0))
        iv = self._interval(x, prob).reshape(len(names), 2)
        lo, hi = _quantile_names(prob)
        return pd.DataFrame({"Estimate": x.mean(axis=(0, 1)), "Est.Error": x.std(axis=(0, 1), ddof=1),
                             lo: iv[:, 0], hi: iv[:, 1]}, index=pd.Index(names))

    def ranef(self, prob: float = 0.95) -> dict[str, pd.DataFrame]:
        """Posterior summaries of every random effect, per grouping factor.

        Returns
        -------
        dict of DataFrame
            Grouping factor -> DataFrame indexed by level, with columns
            ``(coef, statistic)``: ``Estimate``, ``Est.Error`` and the interval's
            quantiles.

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> r = post.ranef()["Subject"]
        >>> r.shape, r.columns[0]
        ((18, 4), ('Intercept', 'Estimate'))
        """
        prob = _check_prob(prob)
        self._need_ranef()
        lo, hi = _quantile_names(prob)
        out = {}
        for g, arr in self.ranef_draws.items():
            meta = self._ranef_meta[g]
            J = arr.shape[2]
            mean, sd, iv = np.empty(arr.shape[2:]), np.empty(arr.shape[2:]), np.empty(arr.shape[2:] + (2,))
            step = max(1, 2_000_000 // max(1, arr.shape[0] * arr.shape[1] * arr.shape[3]))
            for a0 in range(0, J, step):  # blocks of levels: float64 copies stay small
                a = np.asarray(arr[:, :, a0:a0 + step], dtype=float)
                mean[a0:a0 + step] = a.mean(axis=(0, 1))
                sd[a0:a0 + step] = a.std(axis=(0, 1), ddof=1)
                iv[a0:a0 + step] = self._interval(a, prob)  # (levels, k, 2)
            frames = {}
            for ci, c in enumerate(meta["coefs"]):
                frames[c] = pd.DataFrame({"Estimate": mean[:, ci], "Est.Error": sd[:, ci],
                                          lo: iv[:, ci, 0], hi: iv[:, ci, 1]})
            df = pd.concat(frames, axis=1)
            df.index = pd.Index(meta["levels"], name=meta["group"])
            out[g] = df
        return out

    def icc(self) -> dict[str, np.ndarray]:
        """Draws of the intraclass correlation of each grouping factor (random-intercept models).

        ``sd_g^2 / (sum_h sd_h^2 + s^2)`` with ``s = sigma`` (gaussian, student),
        ``pi / sqrt(3)`` (binomial or cumulative logit, the latent-scale
        residual) or 1 (probit).

        Returns
        -------
        dict
            ``"icc_<group>"`` -> ndarray (chains, draws).

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> icc = post.icc()
        >>> list(icc), icc["icc_Subject"].shape
        (['icc_Subject'], (2, 200))
        """
        d = self.model.design
        if not d.terms:
            raise ValueError("the model has no random effects, so no intraclass correlation")
        if not all(t.is_intercept_only for t in d.terms):
            raise ValueError("the ICC is defined here for random-intercept models only; this model has "
                             "random slopes (compare the variance components with post.summary())")
        if self.family in ("gaussian", "student"):
            resid = self.draws["sigma"] ** 2
        elif self.family in ("binomial", "cumulative") and self.link in ("logit", "probit"):
            resid = np.pi ** 2 / 3 if self.link == "logit" else 1.0
        else:
            raise ValueError(f"no residual variance on the latent scale for the {self.family} family "
                             f"with the {self.link} link, so no ICC")
        var = {self.model.group_names[t]: self.draws[self.model.sd_names[t]] ** 2 for t in range(len(d.terms))}
        total = sum(var.values()) + resid
        return {f"icc_{g}": v / total for g, v in var.items()}

    def derive(self, name: str, fn) -> "Posterior":
        """A new Posterior with a derived quantity added to the draws.

        Parameters
        ----------
        name : str
            Name of the new quantity (must not exist yet).
        fn : callable
            ``fn(draws) -> array``: given the draws mapping, returns one value per
            draw (an array broadcastable to (chains, draws)), e.g. the precision
            ``lambda d: 1 / d["sd_girl__Intercept"] ** 2``.

        Returns
        -------
        Posterior

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> p2 = post.derive("ptau", lambda d: 1 / d["sd_Subject__Intercept"] ** 2)
        >>> p2.draws["ptau"].shape, "ptau" in post.draws
        ((2, 200), False)
        """
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string")
        if name in self.draws:
            raise ValueError(f"{name!r} is already a parameter; choose another name")
        try:
            val = np.asarray(fn(self.draws), dtype=float)
            val = np.broadcast_to(val, (self.chains, self.ndraws)).copy()
        except ValueError as exc:
            raise ValueError(f"derive({name!r}): fn must return one value per draw, shape "
                             f"({self.chains}, {self.ndraws}): {exc}") from None
        new = dict(self.draws.items())
        new[name] = val
        return replace(self, draws=Draws(new, self.ranef_draws), derived=self.derived + (name,))

    # ------------------------------------------------------------------ prediction
    def posterior_predictive(self, newdata=None, ndraws: int | None = None, seed=None, trials=None,
                             offset=None) -> np.ndarray:
        """Draws of replicated (or new) responses from the posterior predictive distribution.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict (default: the fitted rows). Levels not seen in the
            fit get random effects drawn from N(0, Sigma) of each draw.
        ndraws : int, optional
            Number of posterior draws to use (a random subset; default all).
        seed : int, optional
        trials : str or array-like, optional
            Binomial trials of ``newdata`` (default 1); responses are proportions.
        offset : str or array-like, optional
            Offset of ``newdata`` (read from its column when the model's offset
            was given as a column name).

        Returns
        -------
        ndarray (ndraws, n)
            On the scale of the modelled response: values (gaussian, student,
            gamma, beta), proportions of successes (binomial, betabinomial),
            counts (poisson, negative_binomial, nbinom1), category codes 0, 1,
            ... (cumulative).

        Examples
        --------
        >>> import multilevel as ml, pandas as pd
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> post.posterior_predictive(ndraws=50, seed=0).shape
        (50, 180)
        >>> new = pd.DataFrame({"Days": [0, 9], "Subject": ["308", "new"]})
        >>> post.posterior_predictive(new, seed=0).shape
        (400, 2)
        """
        from .predictive import _predictive

        return _predictive(self, newdata, ndraws=ndraws, seed=seed, trials=trials, offset=offset)

    def linpred(self, newdata=None, ndraws: int | None = None, seed=None, random: bool = True,
                new_levels: str = "sample", offset=None, dpar: str | None = None) -> np.ndarray:
        """Draws of the linear predictor (brms's ``posterior_linpred``).

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict (default: the fitted rows).
        ndraws : int, optional
            Number of posterior draws to use (a random subset; default all).
        seed : int, optional
        random : bool, default True
            Include the random effects (False: population level, brms's
            ``re_formula = NA``).
        new_levels : {"sample", "zero", "error"}
            A level not in the fit gets random effects drawn from each draw's
            N(0, Sigma) (brms's ``sample_new_levels = "gaussian"``), zero, or
            an error.
        offset : str or array-like, optional
            Offset of ``newdata``.
        dpar : {None, "mu", "zi"}
            A zero-inflated model's (``zi=``) part, as brms's ``dpar``: the
            count model's linear predictor (None or ``"mu"``) or the
            zero-inflation model's, the logit of ``pi`` (``"zi"``).

        Returns
        -------
        ndarray (ndraws, n)

        Examples
        --------
        >>> import multilevel as ml, pandas as pd
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> new = pd.DataFrame({"Days": [0, 9], "Subject": ["308", "308"]})
        >>> post.linpred(new, random=False).shape
        (400, 2)
        """
        from .predictive import _linear_draws

        return _linear_draws(self, newdata, ndraws=ndraws, seed=seed, offset=offset, random=random,
                             new_levels=new_levels, dpar=dpar)

    def epred(self, newdata=None, ndraws: int | None = None, seed=None, random: bool = True,
              new_levels: str = "sample", offset=None, dpar: str | None = None) -> np.ndarray:
        """Draws of the expected response, without residual noise (brms's ``posterior_epred``).

        The inverse link of :meth:`linpred`: a mean (gaussian, student, gamma,
        beta), a probability (binomial: the expected proportion of successes),
        a rate (poisson, negative_binomial); for a cumulative model, the
        probability of each category (as brms); for a zero-inflated model
        (``zi=``) the mean ``(1 - pi) mu``, with ``dpar="mu"`` the count
        model's mean ``mu`` and with ``dpar="zi"`` the probability ``pi`` of
        a structural zero. Arguments as :meth:`linpred`.

        Returns
        -------
        ndarray (ndraws, n), or (ndraws, n, categories) for a cumulative model

        Examples
        --------
        >>> import multilevel as ml, pandas as pd, numpy as np
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> new = pd.DataFrame({"Days": [0, 9], "Subject": ["308", "308"]})
        >>> bool(np.allclose(post.epred(new), post.linpred(new)))   # identity link
        True
        """
        from .predictive import _linear_draws

        return _linear_draws(self, newdata, ndraws=ndraws, seed=seed, offset=offset, random=random,
                             new_levels=new_levels, response=True, dpar=dpar)

    def ppc_stats(self, stats=("mean", "sd"), group: str | None = None, ndraws: int | None = None,
                  seed=None, prob: float = 0.95) -> pd.DataFrame:
        """Test statistics of replicated data sets against the observed data's, with
        posterior predictive p values (bayesplot's ``ppc_stat`` / ``ppc_stat_grouped``).

        See :func:`multilevel.bayes.ppc.ppc_stats`.

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> 0 < float(post.ppc_stats("sd", seed=1)["p_value"].iloc[0]) < 1
        True
        """
        from .ppc import ppc_stats

        return ppc_stats(self, stats=stats, group=group, ndraws=ndraws, seed=seed, prob=prob)

    def loo_pit(self, seed=None) -> np.ndarray:
        """Leave-one-out probability integral transform of each observation (ArviZ's
        ``loo_pit``): uniform on (0, 1) for a calibrated model.

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> post.loo_pit(seed=1).shape
        (180,)
        """
        from .ppc import loo_pit

        return loo_pit(self, seed=seed)

    def log_likelihood(self) -> np.ndarray:
        """Pointwise log-likelihood of the fitted data, (chains, draws, n).

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> post.log_likelihood().shape
        (2, 200, 180)
        """
        from .predictive import _loglik_draws

        if self.model.design.terms:
            self._need_ranef()
        return _loglik_draws(self)

    def to_arviz(self, log_likelihood: bool = True, ranef: bool = True,
                 posterior_predictive: bool = False, seed=None):
        """ArviZ ``InferenceData``: posterior, sample_stats, observed_data and log_likelihood.

        Parameters
        ----------
        log_likelihood : bool, default True
            Add the pointwise log-likelihood (for ``az.loo`` and ``az.waic``);
            needs the random effects' draws.
        ranef : bool, default True
            Add the random effects as ``r_<group>`` with dims ``(<group>, <group>_coef)``.
        posterior_predictive : bool, default False
            Add a replicated data set per draw (for ``az.plot_ppc``, ``az.loo_pit``).
        seed : int, optional
            Seed of the replicated data.

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> idata = post.to_arviz()
        >>> sorted(idata.groups())
        ['log_likelihood', 'observed_data', 'posterior', 'sample_stats']
        """
        import arviz as az

        posterior = {n: np.asarray(v) for n, v in self.draws.items()}
        coords: dict = {"obs": np.arange(self.nobs)}
        dims: dict = {"y": ["obs"]}
        if ranef and self.ranef_draws is not None:
            for g, arr in self.ranef_draws.items():
                meta = self._ranef_meta[g]
                posterior[f"r_{g}"] = np.asarray(arr)
                coords[g] = [str(v) for v in meta["levels"]]
                coords[f"{g}_coef"] = list(meta["coefs"])
                dims[f"r_{g}"] = [g, f"{g}_coef"]
        kw = {}
        if log_likelihood:
            if self.model.design.terms and self.ranef_draws is None:
                warnings.warn("no log_likelihood group: the random effects' draws were not kept "
                              "(keep_ranef=False)", stacklevel=2)
            else:
                kw["log_likelihood"] = {"y": self.log_likelihood()}
        if posterior_predictive:
            rep = self.posterior_predictive(seed=seed)
            kw["posterior_predictive"] = {"y": rep.reshape(self.chains, self.ndraws, -1)}
        stats = {k: np.asarray(v) for k, v in self.stats.items()}
        if not self.model.rowless:  # (data in parts: the rows are not here)
            kw["observed_data"] = {"y": self.model.design.y}
        return az.from_dict(posterior=posterior, sample_stats=stats, coords=coords, dims=dims,
                            attrs={"inference_library": "multilevel", "formula": self.formula}, **kw)

    # ------------------------------------------------------------------ tables and text
    def prior_summary(self) -> pd.DataFrame:
        """Every prior used, with the autoscaled numbers, as brms's ``prior_summary``.

        Returns
        -------
        DataFrame
            Columns ``prior``, ``class``, ``coef``, ``group``, ``source``
            (``"default"`` or the ``priors=`` key that set it).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.bayes.fit import prepare
        >>> ps = prepare("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> print(Posterior.prior_table(ps)[["prior", "source"]].to_string())
                                                  prior   source
        b_Intercept                normal(298.5, 140.8)  default
        b_Days                         normal(0, 48.89)  default
        sd_Subject__Intercept  half_student_t(3, 140.8)  default
        sigma                      exponential(0.01775)  default
        """
        return self.prior_table(self.model)

    @staticmethod
    def prior_table(model) -> pd.DataFrame:
        """The prior summary of a prepared model (see :meth:`prior_summary`).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.bayes.fit import prepare
        >>> m = prepare("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> Posterior.prior_table(m).loc["sigma", "class"]
        'sigma'
        """
        rows = [{"prior": str(s.prior), "class": s.cls, "coef": s.coef, "group": s.group, "source": s.source}
                for s in model.slots]
        return pd.DataFrame(rows, index=pd.Index([s.name for s in model.slots]))

    def table(self, prob: float = 0.95, interval: str | None = None, style: str = "brms",
              thin: int = 1, ac_lag: int = 10, names=None) -> pd.DataFrame:
        """Summary table of every scalar parameter (and derived quantity) as a DataFrame.

        Parameters
        ----------
        prob : float, default 0.95
        interval : {"eti", "hpd"}, optional
            Equal-tailed (brms's default) or highest posterior density
            (runjags's); defaults to ``"eti"`` for brms style and ``"hpd"`` for jags.
        style : {"brms", "jags"}
        thin : int, default 1
            Summarise every ``thin``-th draw of each chain (runjags's and
            JAGS's ``thin``).
        ac_lag : int, default 10
            The lag of the jags style's autocorrelation column (``AC.<lag>``).
        names : mapping, optional
            New names for parameters, e.g. ``{"b_Intercept": "g0",
            "sd_girl__time": "tau1"}`` for the names a JAGS model gives them.

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> list(post.table().index)
        ['b_Intercept', 'b_Days', 'sd_Subject__Intercept', 'sigma']
        >>> t = post.table(style="jags", thin=2, ac_lag=5, names={"b_Intercept": "g0", "b_Days": "g1"})
        >>> list(t.index)[:2], t.columns[-2]
        (['g0', 'g1'], 'AC.5')
        """
        from .tables import summary_table

        prob = _check_prob(prob)
        if style not in ("brms", "jags"):
            raise ValueError(f"style must be 'brms' or 'jags', not {short_repr(style)}")
        interval = interval or ("eti" if style == "brms" else "hpd")
        if interval not in ("eti", "hpd"):
            raise ValueError(f"interval must be 'eti' or 'hpd', not {short_repr(interval)}")
        thin = _positive_int(thin, "thin", self.ndraws - 1,
                             f"below the {self.ndraws} draws per chain")
        # a lag at or beyond the draws kept gives NaN in the AC column, as coda does
        ac_lag = _positive_int(ac_lag, "ac_lag", None, "")
        if style == "brms" and ac_lag != 10:
            raise ValueError("ac_lag sets the autocorrelation column of style='jags'; the brms "
                             "style has none")
        rename = self._renaming(names)
        draws = {rename.get(k, k): np.asarray(v)[:, ::thin] for k, v in self.draws.items()}
        return summary_table(draws, prob=prob, interval=interval, style=style, ac_lag=ac_lag)

    def _renaming(self, names) -> dict:
        """``names`` checked: known parameters to new, distinct, non-empty names."""
        if names is None:
            return {}
        if not isinstance(names, Mapping):
            raise TypeError(f"names must be a mapping from parameter names to new names, e.g. "
                            f"{{'b_Intercept': 'g0'}}, not {short_repr(names)}")
        unknown = [k for k in names if k not in self.draws]
        if unknown:
            raise ValueError(f"names: no parameter {short_repr(unknown[0])}; the parameters are "
                             f"{', '.join(self.draws)}")
        bad = [v for v in names.values() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise ValueError(f"names: new names must be non-empty strings, not {short_repr(bad[0])}")
        final = [names.get(k, k) for k in self.draws]
        clash = sorted({n for n in final if final.count(n) > 1})
        if clash:
            raise ValueError(f"names: {short_repr(clash[0])} would name two parameters; give each "
                             "its own name")
        return dict(names)

    def summary(self, prob: float = 0.95, interval: str | None = None, style: str = "brms",
                thin: int = 1, ac_lag: int = 10, names=None) -> str:
        """Summary text: brms's ``summary`` (default) or runjags's table (``style="jags"``).

        Parameters
        ----------
        prob : float, default 0.95
            Probability of the intervals.
        interval : {"eti", "hpd"}, optional
            Defaults to ``"eti"`` for brms style and ``"hpd"`` for jags style.
        style : {"brms", "jags"}
        thin, ac_lag, names
            As for :meth:`table`: every ``thin``-th draw, the lag of the
            ``AC.<lag>`` column (jags style), new parameter names.

        Returns
        -------
        str

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> print(post.summary().splitlines()[0])
         Family: gaussian
        >>> "Lower95" in post.summary(style="jags")
        True
        >>> print(post.summary(style="jags", thin=2, names={"b_Intercept": "g0"}).splitlines()[0])
        Model summary statistics from 200 samples (chains = 2; warmup = 200; thin = 2):
        """
        from .text import _brms_text, _jags_text

        if style == "jags":
            table = self.table(prob=prob, interval=interval, style=style, thin=thin,
                               ac_lag=ac_lag, names=names)
            return _jags_text(self, table, thin=int(thin))
        # the brms text finds its rows by the parameters' own names, then shows the new ones
        rename = self._renaming(names)
        table = self.table(prob=prob, interval=interval, style=style, thin=thin, ac_lag=ac_lag)
        return _brms_text(self, table, prob, names=rename, thin=int(thin))

    def report(self, path=None, **kw) -> str:
        """Write a self-contained HTML report of this posterior (sampler diagnostics,
        summary, priors, trace, rank and posterior predictive plots, the call that
        reproduces it) and return its text (see :func:`multilevel.report`).

        Examples
        --------
        >>> import multilevel as ml
        >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
        >>> "Sampler diagnostics" in post.report(figures=False)
        True
        """
        from ..report import report

        return report(self, path, **kw)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<Posterior {self.family} {self.formula!r}: {self.chains} chains x {self.ndraws} draws, "
                f"{self.nobs} obs>")

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>"
