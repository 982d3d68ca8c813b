"""CMA-ES (Hansen's tutorial, 2016): a full covariance matrix learnt from ranked steps, σ by path
length; separable CMA-ES (Ros & Hansen 2008) keeps only its diagonal, for θ too large for a d×d matrix.

The arithmetic runs in float64 (θ stays float32); a full covariance above ``max_full_size``
entries of θ is refused with the separable variant named, as d×d memory and an O(d³)
eigendecomposition per step would dominate the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from hyperfunc_core.es.base import ESStrategy, best_first, check_positive, standard_normal
from hyperfunc_core.es.layout import Layout
from hyperfunc_core.validation import InvalidInput

if TYPE_CHECKING:
    from hyperfunc_core.es.strategy import ESConfig, ESState


@dataclass(frozen=True)
class CMAES(ESStrategy):
    """``sigma``: the initial step size (None: ``ESConfig.sigma``); ``separable``: a diagonal covariance."""

    sigma: float | None = None
    separable: bool = False
    max_full_size: int = 4096
    tol_sigma: float = 1e-12  # converged when σ·(largest axis) falls below this

    name = "cma_es"

    def check(self, config: "ESConfig") -> None:
        super().check(config)
        check_positive("CMAES", sigma=self.sigma, tol_sigma=self.tol_sigma)
        if config.pop_size < 4:
            raise InvalidInput(f"pop_size: CMA-ES needs at least 4 candidates, got {config.pop_size}")

    def _constants(self, n: int, lam: int) -> dict[str, Any]:
        mu = lam // 2
        w = math.log(mu + 0.5) - torch.log(torch.arange(1, mu + 1, dtype=torch.float64))
        w = w / w.sum()
        mueff = float(1 / (w**2).sum())
        cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
        cs = (mueff + 2) / (n + mueff + 5)
        c1 = 2 / ((n + 1.3) ** 2 + mueff)
        cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
        if self.separable:  # the diagonal learns (n + 2) / 3 times faster (Ros & Hansen)
            c1, cmu = c1 * (n + 2) / 3, min(1 - c1 * (n + 2) / 3, cmu * (n + 2) / 3)
        damps = 1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + cs
        chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
        return dict(mu=mu, w=w, mueff=mueff, cc=cc, cs=cs, c1=c1, cmu=cmu, damps=damps, chi_n=chi_n)

    def init(self, config: "ESConfig", layout: Layout, theta0: torch.Tensor) -> dict[str, Any]:
        n = theta0.numel()
        if not self.separable and n > self.max_full_size:
            raise InvalidInput(
                f"strategy: full CMA-ES over {n} parameters keeps a {n}x{n} covariance; "
                f"use CMAES(separable=True) (or raise max_full_size above {self.max_full_size})"
            )
        f64 = dict(dtype=torch.float64, device=theta0.device)
        extra = {
            "mean": theta0.double(),
            "sigma": torch.tensor(float(self.sigma or config.sigma), **f64),
            "p_sigma": torch.zeros(n, **f64),
            "p_c": torch.zeros(n, **f64),
            "generation": 0,
        }
        if self.separable:
            extra["diag"] = torch.ones(n, **f64)
        else:
            extra.update(cov=torch.eye(n, **f64), axes=torch.eye(n, **f64), scales=torch.ones(n, **f64))
        return extra

    def ask(self, config: "ESConfig", layout: Layout, state: "ESState") -> tuple[torch.Tensor, torch.Tensor]:
        e = state.extra
        z = standard_normal(config, state, config.pop_size, state.theta.numel(), torch.float64)
        y = z * e["diag"].sqrt() if self.separable else (z * e["scales"]) @ e["axes"].T  # y ~ N(0, C)
        return (e["mean"] + e["sigma"] * y).float(), y

    def tell(
        self, config: "ESConfig", layout: Layout, state: "ESState", noise: torch.Tensor, scores: torch.Tensor
    ) -> "ESState":
        e, n = state.extra, state.theta.numel()
        k = self._constants(n, noise.shape[0])
        w = k["w"].to(noise.device)
        chosen = noise[best_first(scores)[: k["mu"]].to(noise.device)]
        y_w = w @ chosen
        mean = e["mean"] + e["sigma"] * y_w
        whitened = y_w / e["diag"].sqrt() if self.separable else e["axes"] @ ((e["axes"].T @ y_w) / e["scales"])
        cs, cc, mueff = k["cs"], k["cc"], k["mueff"]
        p_sigma = (1 - cs) * e["p_sigma"] + math.sqrt(cs * (2 - cs) * mueff) * whitened
        generation = e["generation"] + 1
        norm = float(p_sigma.norm()) / math.sqrt(1 - (1 - cs) ** (2 * generation))
        h_sigma = 1.0 if norm < (1.4 + 2 / (n + 1)) * k["chi_n"] else 0.0
        p_c = (1 - cc) * e["p_c"] + h_sigma * math.sqrt(cc * (2 - cc) * mueff) * y_w
        c1, cmu = k["c1"], k["cmu"]
        keep = 1 - c1 - cmu + c1 * (1 - h_sigma) * cc * (2 - cc)
        sigma = e["sigma"] * math.exp(min(1.0, (cs / k["damps"]) * (float(p_sigma.norm()) / k["chi_n"] - 1)))
        extra = {**e, "mean": mean, "sigma": sigma, "p_sigma": p_sigma, "p_c": p_c, "generation": generation}
        if self.separable:
            extra["diag"] = keep * e["diag"] + c1 * p_c**2 + cmu * (w @ chosen**2)
        else:
            cov = keep * e["cov"] + c1 * torch.outer(p_c, p_c) + cmu * (chosen.T * w) @ chosen
            cov = (cov + cov.T) / 2
            values, axes = torch.linalg.eigh(cov)
            extra.update(cov=cov, axes=axes, scales=values.clamp_min(1e-30).sqrt())
        return replace(state, theta=mean.float(), extra=extra)

    def elite_count(self, population: int) -> int | None:
        return population // 2  # μ: the rest get no weight

    def scale(self, config: "ESConfig", state: "ESState") -> float:
        return float(state.extra["sigma"])

    def converged(self, state: "ESState") -> bool:
        e = state.extra
        widest = float(e["diag"].max().sqrt() if self.separable else e["scales"].max())
        return float(e["sigma"]) * widest < self.tol_sigma or not math.isfinite(widest)
