"""A Gaussian process over mixed inputs, for the Bayesian search.

Inputs are numeric dimensions in [0, 1] (a ``Float``'s or ``Int``'s unit position) and
categorical ones (a ``Choice``'s or ``Bool``'s option index). The kernel is an ARD Matérn-5/2
on one distance: per numeric dimension ``((a - b) / ls)**2``, per categorical one ``[a != b] / ls**2``
(categories are unordered: any two options are equally far apart). Length scales, signal
variance and noise maximise the marginal likelihood under weak priors, with analytic gradients;
the per-dimension differences are computed once per fit, not at each likelihood evaluation.
``predict_with_gradient`` gives the mean's and deviation's gradients for the acquisition's ascent.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import cho_solve, cholesky, lapack
from scipy.optimize import minimize

SQRT5 = math.sqrt(5.0)
LOG_BOUNDS_LS = (math.log(0.01), math.log(20.0))
LOG_BOUNDS_SV = (math.log(0.05), math.log(20.0))
LOG_BOUNDS_NOISE = (math.log(1e-6), math.log(0.5))


def _matern(r: np.ndarray, sv: float) -> tuple[np.ndarray, np.ndarray]:
    """k(r), and dk/dr divided by r (finite at r = 0), for Matérn-5/2."""
    e = np.exp(-SQRT5 * r)
    return sv * (1.0 + SQRT5 * r + 5.0 / 3.0 * r**2) * e, -sv * 5.0 / 3.0 * (1.0 + SQRT5 * r) * e


def _log_prior(theta: np.ndarray) -> tuple[float, np.ndarray]:
    """Weak priors keeping the fit sane with few points: length scales neither tiny nor huge, some
    signal, little noise. Returns the log density (up to a constant) and its gradient."""
    log_ls, log_sv, log_noise = theta[:-2], theta[-2], theta[-1]
    inv_sq = np.exp(-2.0 * log_ls)  # 1 / ls**2
    value = -np.sum(0.1 / inv_sq + 0.1 * inv_sq)
    grad_ls = -(0.2 / inv_sq - 0.2 * inv_sq)  # d/dlog_ls of the line above
    value += log_sv - math.exp(log_sv)  # gamma(2, 1) on the signal variance
    grad_sv = 1.0 - math.exp(log_sv)
    value += 0.1 * log_noise - 30.0 * math.exp(log_noise)  # gamma(1.1, 30) on the noise
    grad_noise = 0.1 - 30.0 * math.exp(log_noise)
    return float(value), np.concatenate([grad_ls, [grad_sv, grad_noise]])


class GaussianProcess:
    """A zero-mean GP on standardised targets; ``categorical`` marks the categorical dimensions."""

    def __init__(self, categorical: np.ndarray) -> None:
        self.categorical = np.asarray(categorical, dtype=bool)
        dims = len(self.categorical)
        self.theta = np.concatenate([np.full(dims, math.log(0.5)), [0.0, math.log(1e-3)]])

    def differences(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per-dimension squared differences, shape (n, m, d): numeric squared, categorical 0 or 1."""
        diff = a[:, None, :] - b[None, :, :]
        return np.where(self.categorical, (diff != 0).astype(float), diff**2)

    @staticmethod
    def _unpack(theta: np.ndarray) -> tuple[np.ndarray, float, float]:
        return np.exp(theta[:-2]), float(np.exp(theta[-2])), float(np.exp(theta[-1]))

    def _objective(self, theta: np.ndarray, squared: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """The negative log marginal likelihood and log prior, and its gradient."""
        ls, sv, noise = self._unpack(theta)
        n = len(y)
        scaled = squared / ls**2  # (n, n, d)
        r = np.sqrt(np.maximum(scaled.sum(-1), 0.0))
        k_signal, slope = _matern(r, sv)
        k = k_signal + (noise + 1e-8) * np.eye(n)
        try:
            chol = cholesky(k, lower=True)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve((chol, True), y)
        # K^-1 from the Cholesky factor (LAPACK potri): the likelihood's gradient needs its trace terms.
        inverse, info = lapack.dpotri(chol, lower=True)
        if info != 0:
            return 1e10, np.zeros_like(theta)
        inverse = np.tril(inverse) + np.tril(inverse, -1).T
        w = inverse - np.outer(alpha, alpha)
        nll = 0.5 * y @ alpha + np.log(np.diag(chol)).sum() + 0.5 * n * math.log(2 * math.pi)
        grad = np.empty_like(theta)
        # dk/dlog(ls_j) = -slope * scaled_j (slope = dk/dr / r, and dr/dlog ls_j = -scaled_j / r)
        grad[:-2] = 0.5 * np.einsum("ij,ijk->k", w * -slope, scaled)
        grad[-2] = 0.5 * np.sum(w * k_signal)
        grad[-1] = 0.5 * np.trace(w) * noise
        prior, prior_grad = _log_prior(theta)
        return float(nll - prior), grad - prior_grad

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, optimise: bool = True, restarts: int = 0):
        """Condition on (x, y); with ``optimise``, refit the hyperparameters first (warm-started from the
        last fit, plus ``restarts`` random starts)."""
        squared = self.differences(x, x)  # once per fit: every likelihood evaluation and the final K share it
        if optimise:
            bounds = [LOG_BOUNDS_LS] * x.shape[1] + [LOG_BOUNDS_SV, LOG_BOUNDS_NOISE]
            lows, highs = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
            starts = [self.theta] + [rng.uniform(lows, highs) for _ in range(restarts)]
            best = (math.inf, self.theta)
            for start in starts:
                res = minimize(
                    self._objective,
                    np.clip(start, lows, highs),
                    args=(squared, y),
                    jac=True,
                    method="L-BFGS-B",
                    bounds=bounds,
                    options={"maxiter": 60},
                )
                if res.fun < best[0]:
                    best = (res.fun, res.x)
            self.theta = best[1]
        self.ls, self.sv, noise = self._unpack(self.theta)
        self.x = x
        k = _matern(np.sqrt(np.maximum((squared / self.ls**2).sum(-1), 0.0)), self.sv)[0]
        self.chol = cholesky(k + (noise + 1e-8) * np.eye(len(x)), lower=True)
        self.alpha = cho_solve((self.chol, True), y)

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation at each row of ``xs``."""
        r = np.sqrt(np.maximum((self.differences(self.x, xs) / self.ls**2).sum(-1), 0.0))
        ks = _matern(r, self.sv)[0]  # (n, m)
        mean = ks.T @ self.alpha
        v = cho_solve((self.chol, True), ks)
        var = np.maximum(self.sv - np.sum(ks * v, axis=0), 1e-12)
        return mean, np.sqrt(var)

    def predict_with_gradient(self, point: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Mean and deviation at one point, and their gradients along the numeric dimensions
        (zero along categorical ones, which the acquisition searches option by option)."""
        diff = point[None, :] - self.x  # (n, d)
        squared = self.differences(point[None, :], self.x)[0]
        r = np.sqrt(np.maximum((squared / self.ls**2).sum(-1), 0.0))
        k, slope = _matern(r, self.sv)
        # dk/dpoint_j = slope * diff_j / ls_j**2 (slope = dk/dr / r; dr/dpoint_j = diff_j / (ls_j**2 r))
        dk = np.where(self.categorical, 0.0, slope[:, None] * diff / self.ls**2)  # (n, d)
        mean = float(k @ self.alpha)
        dmean = dk.T @ self.alpha
        v = cho_solve((self.chol, True), k)
        var = max(self.sv - float(k @ v), 1e-12)
        sd = math.sqrt(var)
        dsd = -(dk.T @ v) / sd  # d var = -2 dk . v, d sd = d var / (2 sd)
        return mean, sd, dmean, dsd
