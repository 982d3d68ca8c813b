"""Bayesian optimisation: a Gaussian process with expected improvement.

Points live in the unit cube (``Space.to_unit``). The GP uses an ARD Matérn-5/2 kernel
whose length scales, signal variance and noise are fitted by maximising the marginal
likelihood with analytic gradients; the next point maximises log expected improvement
over Sobol candidates, perturbations of the best points, and an L-BFGS-B polish. Trials
still running count as "constant liars" (at the worst value seen) so concurrent asks
spread out.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.optimize import minimize
from scipy.special import erfcx
from scipy.stats import qmc

from hyperfunc_core.tuning.space import Space
from hyperfunc_core.tuning.strategies.base import Strategy, Suggestion, TrialRecord
from hyperfunc_core.validation import InvalidInput

SQRT5 = math.sqrt(5.0)
LOG_BOUNDS_LS = (math.log(0.01), math.log(20.0))
LOG_BOUNDS_SV = (math.log(0.05), math.log(20.0))
LOG_BOUNDS_NOISE = (math.log(1e-6), math.log(0.5))


def _scaled_sq_dists(a: np.ndarray, b: np.ndarray, ls: np.ndarray) -> np.ndarray:
    """Per-dimension squared distances scaled by length scale: shape (n, m, d)."""
    return ((a[:, None, :] - b[None, :, :]) / ls) ** 2


def matern52(a: np.ndarray, b: np.ndarray, ls: np.ndarray, sv: float) -> np.ndarray:
    r = np.sqrt(np.maximum(_scaled_sq_dists(a, b, ls).sum(-1), 0.0))
    return sv * (1.0 + SQRT5 * r + 5.0 / 3.0 * r**2) * np.exp(-SQRT5 * r)


class GaussianProcess:
    """A zero-mean GP on standardised targets."""

    def __init__(self, dims: int) -> None:
        self.theta = np.concatenate([np.full(dims, math.log(0.3)), [0.0, math.log(1e-3)]])

    def _unpack(self, theta: np.ndarray) -> tuple[np.ndarray, float, float]:
        return np.exp(theta[:-2]), float(np.exp(theta[-2])), float(np.exp(theta[-1]))

    def _nll_and_grad(self, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        ls, sv, noise = self._unpack(theta)
        n = len(y)
        d2 = _scaled_sq_dists(x, x, ls)
        r = np.sqrt(np.maximum(d2.sum(-1), 0.0))
        e = np.exp(-SQRT5 * r)
        k_signal = sv * (1.0 + SQRT5 * r + 5.0 / 3.0 * r**2) * e
        k = k_signal + (noise + 1e-8) * np.eye(n)
        try:
            chol = cholesky(k, lower=True)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve((chol, True), y)
        nll = 0.5 * y @ alpha + np.log(np.diag(chol)).sum() + 0.5 * n * math.log(2 * math.pi)
        w = cho_solve((chol, True), np.eye(n)) - np.outer(alpha, alpha)
        common = sv * 5.0 / 3.0 * (1.0 + SQRT5 * r) * e  # dk/dlog(ls_j) = common * d2_j
        grad = np.empty_like(theta)
        grad[:-2] = 0.5 * np.einsum("ij,ijk->k", w * common, d2)
        grad[-2] = 0.5 * np.sum(w * k_signal)
        grad[-1] = 0.5 * np.trace(w) * noise
        return float(nll), grad

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, restarts: int = 2) -> None:
        bounds = [LOG_BOUNDS_LS] * x.shape[1] + [LOG_BOUNDS_SV, LOG_BOUNDS_NOISE]
        starts = [self.theta] + [np.array([rng.uniform(lo, hi) for lo, hi in bounds]) for _ in range(restarts)]
        best = (math.inf, self.theta)
        for start in starts:
            res = minimize(
                self._nll_and_grad,
                np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds]),
                args=(x, y),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 100},
            )
            if res.fun < best[0]:
                best = (res.fun, res.x)
        self.theta = best[1]
        ls, sv, noise = self._unpack(self.theta)
        self.x, self.ls, self.sv = x, ls, sv
        k = matern52(x, x, ls, sv) + (noise + 1e-8) * np.eye(len(x))
        self.chol = cholesky(k, lower=True)
        self.alpha = cho_solve((self.chol, True), y)

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ks = matern52(self.x, xs, self.ls, self.sv)
        mean = ks.T @ self.alpha
        v = solve_triangular(self.chol, ks, lower=True)
        var = np.maximum(self.sv - (v**2).sum(0), 1e-12)
        return mean, np.sqrt(var)


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


UNUSABLE = 1e10  # what the acquisition polish scores a point the model cannot evaluate


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sobol = qmc.Sobol(dims, scramble=True, seed=self.rng)
            self._startup = sobol.random(max(2, 2 ** math.ceil(math.log2(self.n_startup))))[: self.n_startup]
        self._asked = 0
        self._pending: dict[str, np.ndarray] = {}
        self.gp = GaussianProcess(dims)

    def ask(self) -> Suggestion:
        observed = self.completed()
        if self._asked < self.n_startup or len(observed) < 2:
            u = self._startup[self._asked] if self._asked < self.n_startup else self.rng.random(len(self.space.names))
            info = {"model": "sobol-startup"}
        else:
            u = self._maximise_ei(observed)
            info = {"model": "gp-ei"}
        self._asked += 1
        params = self.space.from_unit(u)
        self._pending[self.space.key(params)] = self.space.to_unit(params)
        return Suggestion(params, info=info)

    def tell(self, trial: TrialRecord) -> None:
        super().tell(trial)
        self._pending.pop(self.space.key(trial.params), None)

    def _polish(self, start: np.ndarray, best: float) -> tuple[float, np.ndarray] | None:
        """Local L-BFGS-B ascent of log EI from ``start``; None when it does not end on a finite point.

        Finite-difference steps can leave the model's numerically safe region (log EI of -inf
        or NaN); such points score as very bad instead of reaching the GP, whose triangular
        solve refuses non-finite input and would fail the whole sweep."""

        def neg_log_ei(u: np.ndarray) -> float:
            if not np.all(np.isfinite(u)):
                return UNUSABLE
            value = float(log_expected_improvement(*self.gp.predict(u[None, :]), best)[0])
            return -value if math.isfinite(value) else UNUSABLE

        res = minimize(neg_log_ei, start, method="L-BFGS-B", bounds=[(0.0, 1.0)] * len(start), options={"maxiter": 30})
        if not (np.all(np.isfinite(res.x)) and math.isfinite(res.fun) and res.fun < UNUSABLE):
            return None
        return float(res.fun), np.clip(res.x, 0.0, 1.0)

    def _maximise_ei(self, observed: list[TrialRecord]) -> np.ndarray:
        x = np.array([self.space.to_unit(t.params) for t in observed])
        y = np.array([self.signed(t.value) for t in observed])
        if self._pending:  # constant liar: running points count as the worst value seen
            x = np.vstack([x, np.array(list(self._pending.values()))])
            y = np.concatenate([y, np.full(len(self._pending), y.min())])
        mu, sd = y.mean(), y.std() or 1.0
        ys = (y - mu) / sd
        self.gp.fit(x, ys, self.rng, restarts=2 if len(observed) % 10 == 0 else 0)
        best = ys[: len(observed)].max()
        dims = x.shape[1]
        top = x[np.argsort(-ys[: len(observed)])[:5]]
        candidates = [self.rng.random((self.n_candidates, dims))]
        for scale in (0.1, 0.02):
            candidates.append(
                np.clip(np.repeat(top, 100, axis=0) + self.rng.normal(0, scale, (len(top) * 100, dims)), 0, 1)
            )
        cands = np.vstack(candidates)
        scores = log_expected_improvement(*self.gp.predict(cands), best)
        order = np.argsort(-scores)
        polished = [p for p in (self._polish(start, best) for start in cands[order[:3]]) if p is not None]
        ranked = [u for _, u in sorted(polished, key=lambda p: p[0])] + list(cands[order[:200]])
        # Int, Choice and Bool dimensions decode many points to one: take the best point not tried yet.
        seen = {self.space.key(t.params) for t in self.trials} | set(self._pending)
        for u in ranked:
            if self.space.key(self.space.from_unit(u)) not in seen:
                return u
        return self.rng.random(dims)
