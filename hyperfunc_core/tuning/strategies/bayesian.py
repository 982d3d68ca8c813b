"""Bayesian optimisation over mixed spaces: a Gaussian process with expected improvement.

A ``Float`` or ``Int`` is a numeric dimension (its unit position, log-aware), a ``Choice`` or
``Bool`` a categorical one that the kernel treats as unordered (``gaussian_process.py``). An
``Int`` is only ever evaluated at its integers' exact positions, so the search can land exactly
on an integer optimum. The next point maximises log expected improvement: random and perturbed
candidates, then from the best few a local search that alternates an L-BFGS-B ascent along the
numeric dimensions (analytic gradients) with discrete moves (each integer one step either way,
each categorical option), until neither improves.

Failed trials and trials that broke a constraint count as the worst value seen (a penalty), and
trials still running as "constant liars" at that value, so concurrent asks spread out.
Hyperparameters are refitted at every ask up to 50 trials and then at a rate that falls with
the trial count (every n/50-th ask), always warm-started; BLAS runs on one thread inside the
strategy, where a busy machine's extra threads cost more than they give.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import erfcx
from scipy.stats import qmc

from hyperfunc_core.tuning.space import Bool, Choice, Int, Space
from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion, TrialRecord
from hyperfunc_core.tuning.strategies.gaussian_process import GaussianProcess
from hyperfunc_core.validation import InvalidInput

REFIT_EVERY_ASK_UP_TO = 50


@functools.lru_cache(maxsize=1)
def _threads() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # inspecting the loaded BLAS libraries once, not at every ask


class Encoding:
    """A flat point as the GP sees it: numeric dimensions in [0, 1], categorical ones as option indices."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.params = [space.params[n] for n in space.names]
        self.categorical = np.array([isinstance(p, (Choice, Bool)) for p in self.params])
        self.levels = np.array([len(p.options) if isinstance(p, Choice) else 2 for p in self.params])
        self.integers = [j for j, p in enumerate(self.params) if isinstance(p, Int)]
        self.numeric = ~self.categorical

    def encode(self, flat: dict) -> np.ndarray:
        def one(p: Any, value: Any) -> float:
            if isinstance(p, Choice):
                return float(p.index(value))
            if isinstance(p, Bool):
                return float(bool(value))
            return float(p.to_unit(value))

        return np.array([one(p, flat[n]) for p, n in zip(self.params, self.space.names)])

    def decode(self, x: np.ndarray) -> dict:
        def one(p: Any, value: float) -> Any:
            if isinstance(p, Choice):
                return p.options[int(round(value))]
            if isinstance(p, Bool):
                return bool(round(value))
            return p.from_unit(float(value))

        return {n: one(p, v) for p, n, v in zip(self.params, self.space.names, x)}

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Rows of the unit cube (random or Sobol) as encoded points."""
        x = np.where(self.categorical, np.minimum(np.floor(u * self.levels), self.levels - 1), u)
        return self.snap(x)

    def snap(self, x: np.ndarray) -> np.ndarray:
        """Numeric values clipped into [0, 1], each ``Int`` moved to its integer's exact position."""
        x = np.array(x, dtype=float)
        x[..., self.numeric] = np.clip(x[..., self.numeric], 0.0, 1.0)
        for j in self.integers:
            p = self.params[j]
            x[..., j] = np.vectorize(lambda u, p=p: p.to_unit(p.from_unit(u)))(x[..., j])
        return x

    def neighbours(self, x: np.ndarray) -> np.ndarray:
        """Every point one discrete move away: an integer one step either way, another option."""
        out = []
        for j in self.integers:
            p, k = self.params[j], self.params[j].from_unit(x[j])
            for step in (-1, 1):
                if p.low <= k + step <= p.high:
                    moved = x.copy()
                    moved[j] = p.to_unit(k + step)
                    out.append(moved)
        for j in np.flatnonzero(self.categorical):
            for option in range(self.levels[j]):
                if option != x[j]:
                    moved = x.copy()
                    moved[j] = option
                    out.append(moved)
        return np.array(out).reshape(-1, len(x))


def log_expected_improvement(mean: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    """log EI for maximisation, stable far into the tail where EI underflows."""
    z = (mean - best) / sd
    log_h = np.empty_like(z)
    tail = z < -6.0
    zt = z[~tail]
    # h(z) = phi(z) + z * Phi(z) = phi(z) * (1 + z * Mills(-z)), Mills via erfcx.
    log_phi = -0.5 * zt**2 - 0.5 * math.log(2 * math.pi)
    log_h[~tail] = log_phi + np.log(np.maximum(1.0 + zt * math.sqrt(math.pi / 2) * erfcx(-zt / math.sqrt(2)), 1e-300))
    zn = z[tail]
    log_h[tail] = -0.5 * zn**2 - 0.5 * math.log(2 * math.pi) - 2.0 * np.log(-zn)
    return np.log(sd) + log_h


def log_ei_slopes(mean: float, sd: float, best: float) -> tuple[float, float]:
    """d log EI / d mean and d log EI / d sd at one point (with h'(z) = Phi(z))."""
    z = (mean - best) / sd
    if z < -6.0:
        ratio = -z - 2.0 / z  # d log h / dz of the tail's form
    else:
        c = math.sqrt(math.pi / 2) * float(erfcx(-z / math.sqrt(2)))
        ratio = c / max(1.0 + z * c, 1e-300)  # Phi(z) / h(z)
    return ratio / sd, (1.0 - z * ratio) / sd


UNUSABLE = 1e10  # what the ascent scores a point the model cannot evaluate


class BayesianSearch(Strategy):
    """GP + expected improvement; ``n_startup`` quasi-random points first."""

    name = "bayesian"

    def __init__(self, space: Space, *, n_startup: int | None = None, n_candidates: int = 1024, **kw) -> None:
        super().__init__(space, **kw)
        dims = len(space.names)
        self.n_startup = n_startup if n_startup is not None else min(10, max(5, 2 * dims))
        if not isinstance(self.n_startup, int) or self.n_startup < 1:
            raise InvalidInput(f"strategy_kwargs['n_startup']: expected an integer >= 1, got {n_startup!r}")
        self.n_candidates = n_candidates
        self.encoding = Encoding(space)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sobol = qmc.Sobol(dims, scramble=True, seed=self.rng)
            self._startup = sobol.random(max(2, 2 ** math.ceil(math.log2(self.n_startup))))[: self.n_startup]
        self._asked = 0
        self._since_fit = 0
        self.gp = GaussianProcess(self.encoding.categorical)

    def ask(self) -> Suggestion:
        observed = self.completed()
        if self._asked < self.n_startup or len(observed) < 2:
            row = self._startup[self._asked] if self._asked < self.n_startup else self.rng.random(len(self.space.names))
            x, info = self.encoding.from_unit(row), {"model": "sobol-startup"}
        else:
            with _threads().limit(limits=1):
                x, info = self._maximise_ei(observed), {"model": "gp-ei"}
        self._asked += 1
        return Suggestion(self.encoding.decode(x), info=info)

    # -- the model -------------------------------------------------------------------
    def _data(self, observed: list[TrialRecord]) -> tuple[np.ndarray, np.ndarray]:
        """Observed points with their signed values, then failed or infeasible ones and running ones at
        the worst value seen."""
        x = [self.encoding.encode(t.params) for t in observed]
        y = [self.signed(t.value) for t in observed]
        worst = min(y)
        penalised = [
            t
            for t in self.trials
            if t.state == "failed" or (t.state == "complete" and not t.info.get("feasible", True))
        ]
        for params in [t.params for t in penalised] + list(self.running.values()):
            x.append(self.encoding.encode(params))
            y.append(worst)
        return np.array(x), np.array(y)

    def _refit_now(self, n: int) -> bool:
        """Every ask up to 50 trials, then every n/50-th: the fit's cost grows as n^3, its drift slowly."""
        self._since_fit += 1
        if n <= REFIT_EVERY_ASK_UP_TO or self._since_fit >= n // REFIT_EVERY_ASK_UP_TO:
            self._since_fit = 0
            return True
        return False

    def _maximise_ei(self, observed: list[TrialRecord]) -> np.ndarray:
        x, y = self._data(observed)
        mu, sd = y.mean(), y.std() or 1.0
        ys = (y - mu) / sd
        n = len(observed)
        refit = self._refit_now(n) or not hasattr(self.gp, "chol")
        self.gp.fit(x, ys, self.rng, optimise=refit, restarts=1 if refit and n % 20 == 0 else 0)
        best = ys[:n].max()
        candidates = self._candidates(x[np.argsort(-ys[:n])[:5]])
        scores = log_expected_improvement(*self.gp.predict(candidates), best)
        order = np.argsort(-scores)
        # The local search starts from the best few candidates and from the best point so far, whose
        # neighbourhood is where a nearly solved problem's last digits are found.
        incumbent = x[int(np.argmax(ys[:n]))]
        starts = [(candidates[i], scores[i]) for i in order[:4]]
        starts.append((incumbent, float(log_expected_improvement(*self.gp.predict(incumbent[None, :]), best)[0])))
        refined = [self._local_search(point, score, best) for point, score in starts]
        ranked = [p for _, p in sorted(refined, key=lambda r: -r[0])] + list(candidates[order[:200]])
        # Many points decode to one (an Int, a Choice): take the best point not tried or running.
        seen = {self.space.key(t.params) for t in self.trials} | {self.space.key(p) for p in self.running.values()}
        for point in ranked:
            if self.space.key(self.encoding.decode(point)) not in seen:
                return point
        return self.encoding.from_unit(self.rng.random(len(self.space.names)))

    def _candidates(self, top: np.ndarray) -> np.ndarray:
        """Random points, and the best points perturbed: numeric dimensions by Gaussian steps, each
        categorical one changed to a random option with probability 1/4."""
        dims = top.shape[1]
        rows = [self.encoding.from_unit(self.rng.random((self.n_candidates, dims)))]
        for scale in (0.1, 0.02):
            near = np.repeat(top, 100, axis=0)
            near = near + np.where(self.encoding.numeric, self.rng.normal(0, scale, near.shape), 0.0)
            flip = self.encoding.categorical & (self.rng.random(near.shape) < 0.25)
            near = np.where(flip, np.floor(self.rng.random(near.shape) * self.encoding.levels), near)
            rows.append(self.encoding.snap(near))
        return np.vstack(rows)

    def _local_search(self, start: np.ndarray, score: float, best: float) -> tuple[float, np.ndarray]:
        """Alternate a gradient ascent along the numeric dimensions with discrete moves, until neither
        improves log EI (at most 4 rounds)."""
        point, numeric = start.copy(), self.encoding.numeric
        for _ in range(4):
            improved = False
            if numeric.any():
                moved = self._ascend(point, best)
                if moved is not None:
                    moved = self.encoding.snap(moved)
                    value = float(log_expected_improvement(*self.gp.predict(moved[None, :]), best)[0])
                    if math.isfinite(value) and value > score + 1e-9:
                        point, score, improved = moved, value, True
            around = self.encoding.neighbours(point)
            if len(around):
                values = log_expected_improvement(*self.gp.predict(around), best)
                i = int(np.argmax(values))
                if math.isfinite(values[i]) and values[i] > score + 1e-9:
                    point, score, improved = around[i], float(values[i]), True
            if not improved:
                break
        return score, point

    def _ascend(self, start: np.ndarray, best: float) -> np.ndarray | None:
        """L-BFGS-B on log EI along the numeric dimensions (analytic gradient); None if it ends nowhere usable."""
        numeric = self.encoding.numeric

        def negative(values: np.ndarray) -> tuple[float, np.ndarray]:
            if not np.all(np.isfinite(values)):
                return UNUSABLE, np.zeros_like(values)
            point = start.copy()
            point[numeric] = values
            mean, sd, dmean, dsd = self.gp.predict_with_gradient(point)
            value = float(log_expected_improvement(np.array([mean]), np.array([sd]), best)[0])
            if not math.isfinite(value):
                return UNUSABLE, np.zeros_like(values)
            by_mean, by_sd = log_ei_slopes(mean, sd, best)
            return -value, -(by_mean * dmean + by_sd * dsd)[numeric]

        res = minimize(
            negative,
            start[numeric],
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * int(numeric.sum()),
            options={"maxiter": 50},
        )
        if not (np.all(np.isfinite(res.x)) and math.isfinite(res.fun) and res.fun < UNUSABLE):
            return None
        point = start.copy()
        point[numeric] = res.x
        return point
