"""The lesson checks: right answers pass, missing answers are "not done yet", and each classic
wrong answer gets its own diagnostic (never a bare False).

The right answers here are written independently of sparselab (torch.std, autograd, explicit
loops), as a student would write them; the wrong ones are the mistakes the checks claim to spot.
"""

import math

import numpy as np
import pytest
import torch

from sparselab.checks import CheckFailed, set_strict
from sparselab.checks._core import FAIL, NOT_DONE, PASS
from sparselab.checks.autoencoders import check_autoencoder_forward, check_reconstruction
from sparselab.checks.downstream import check_few_per_class, check_psnr
from sparselab.checks.fista import check_fista, check_fista_momentum
from sparselab.checks.ista import check_ista_step, check_lipschitz, check_soft_threshold
from sparselab.checks.l1_collapse import check_collapse, check_energy
from sparselab.checks.lista import check_lista_forward, check_lista_from_dictionary
from sparselab.checks.multilayer_decoders import check_component_image, check_mlp_decoder
from sparselab.checks.natural_patches import check_lcn
from sparselab.checks.reproducing_the_paper import check_above_curve, check_psnr_at
from sparselab.checks.variance_hinge import check_hinge_grad, check_variance_hinge


# ---- right answers, written from the formulas -------------------------------------------------
def reconstruction(y, y_hat):
    return ((y - y_hat) ** 2).mean(dim=1).sum()


def autoencoder_forward(y, W_e, b_e, W_d):
    return torch.relu(y @ W_e.T + b_e) @ W_d.T


def energy(y, z, W, lam):
    return ((y - z @ W.T) ** 2).mean(dim=1).sum() + lam * z.abs().sum()


def soft_threshold(u, t):
    return torch.clamp(u - t, min=0)


def lipschitz(W):
    return 2 / W.shape[0] * float(torch.linalg.svdvals(W.double())[0]) ** 2


def ista_step(z, y, W, lam, eta):
    grad = 2 / y.shape[1] * (z @ W.T - y) @ W
    return torch.relu(z - eta * grad - eta * lam)


def fista_momentum(x, x_prev, t):
    t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
    return x + (t - 1) / t_next * (x - x_prev), t_next


def fista(y, W, lam, eta, n_iter):
    x = torch.zeros(y.shape[0], W.shape[1], dtype=y.dtype)
    x_prev, v, t = x, x, 1.0
    for _ in range(n_iter):
        x = ista_step(v, y, W, lam, eta)
        v, t = fista_momentum(x, x_prev, t)
        x_prev = x
    return x


def variance_hinge(z, beta, T):
    return beta * torch.relu(T - z.std(dim=0)).pow(2).sum()


def hinge_grad(z, beta, T):
    """By autograd (NaN at a dead component, replaced by the subgradient 0)."""
    z = z.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(variance_hinge(z, beta, T), z)
    return torch.nan_to_num(g, nan=0.0)


def lista_forward(y, W_e, b_e, S, n_iter):
    b = y @ W_e.T + b_e
    z = torch.relu(b)
    for _ in range(n_iter):
        z = torch.relu(b + z @ S.T)
    return z


def lista_from_dictionary(W, lam, eta):
    P, L = W.shape
    eye = torch.eye(L, dtype=W.dtype)
    return (
        2 * eta / P * W.T,
        torch.full((L,), -eta * lam, dtype=W.dtype),
        eye - 2 * eta / P * W.T @ W,
    )


def mlp_decoder(z, W1, b1, W2):
    return torch.relu(z @ W1.T + b1) @ W2.T


def component_image(decoder, j, a):
    dtype = next(decoder.parameters()).dtype
    z = torch.zeros(1, decoder.code_dim, dtype=dtype)
    z[0, j] = a
    with torch.no_grad():
        return (decoder(z) - decoder(torch.zeros_like(z)))[0]


def _blur(v, window, sigma):
    g = torch.exp(-0.5 * ((torch.arange(window, dtype=v.dtype) - (window - 1) / 2) / sigma) ** 2)
    g = torch.outer(g, g) / g.sum() ** 2
    return torch.nn.functional.conv2d(v[:, None], g[None, None])[:, 0]


def _lcn(floor="batch", centre=True, eps=1e-4):
    def lcn(v, window, sigma):
        h = (window - 1) // 2
        c = v[:, h:-h, h:-h] - _blur(v, window, sigma)
        s = _blur(c * c, window, sigma).sqrt()
        top = c[:, h:-h, h:-h] if centre else v[:, 2 * h : -2 * h, 2 * h : -2 * h]
        f = {"batch": s.mean(), "crop": s.mean(dim=(1, 2), keepdim=True), "none": s.new_zeros(())}
        return top / torch.maximum(s, f[floor]).clamp_min(eps)

    return lcn


def psnr(x_hat, x, pixel_scale):
    return -10 * torch.log10((((x_hat - x) * pixel_scale) ** 2).mean(dim=1))


def few_per_class(labels, n, generator):
    order = torch.randperm(len(labels), generator=generator)  # one shuffle, then n of each class
    return torch.cat([order[labels[order] == c][:n] for c in range(10)])


def _few(pick):
    def draw(labels, n, generator):
        return torch.cat([pick((labels == c).nonzero()[:, 0], n, generator) for c in range(10)])

    return draw


def psnr_at(curve, z):
    """Linear interpolation by numpy, NaN outside the curve (numpy would hold its end values)."""
    zs, ps = zip(*curve, strict=True)
    return float(np.interp(z, zs, ps, left=math.nan, right=math.nan))


def above_curve(points, curve):
    inside = [p > psnr_at(curve, z) for z, p in points if not math.isnan(psnr_at(curve, z))]
    return len(inside) > 0 and all(inside)


RIGHT = [
    (check_reconstruction, reconstruction),
    (check_autoencoder_forward, autoencoder_forward),
    (check_energy, energy),
    (check_soft_threshold, soft_threshold),
    (check_lipschitz, lipschitz),
    (check_ista_step, ista_step),
    (check_fista_momentum, fista_momentum),
    (check_fista, fista),
    (check_variance_hinge, variance_hinge),
    (check_hinge_grad, hinge_grad),
    (check_lista_forward, lista_forward),
    (check_lista_from_dictionary, lista_from_dictionary),
    (check_mlp_decoder, mlp_decoder),
    (check_component_image, component_image),
    (check_lcn, _lcn()),
    (check_psnr, psnr),
    (check_few_per_class, few_per_class),
    (check_psnr_at, psnr_at),
    (check_above_curve, above_curve),
]
CHECKS = [check for check, _ in RIGHT]


@pytest.mark.parametrize("check, answer", RIGHT, ids=lambda x: getattr(x, "__name__", ""))
def test_right_answer_passes(check, answer):
    result = check(answer)
    assert result.status == PASS, result
    assert result and repr(result).startswith("✔") and "cases pass" in result.message


def _stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("student", [_stub, lambda *a: None], ids=["raises", "returns None"])
def test_missing_answer_is_not_done(check, student):
    result = check(student)
    assert result.status == NOT_DONE and not result
    assert "not done yet" in repr(result)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_a_crash_is_reported_with_its_message(check):
    def crash(*args):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    result = check(crash)
    assert result.status == FAIL
    assert "raised RuntimeError: mat1 and mat2 shapes cannot be multiplied" in result.message


# ---- wrong answers and the diagnostic each must get -----------------------------------------
def _ista(threshold=None, grad_scale=1.0, sign=1.0, two_sided=False):
    def step(z, y, W, lam, eta):
        u = z - sign * eta * grad_scale * 2 / y.shape[1] * (z @ W.T - y) @ W
        t = eta * lam if threshold is None else threshold(lam, eta)
        return torch.sign(u) * torch.relu(u.abs() - t) if two_sided else torch.relu(u - t)

    return step


def _momentum(coef):
    def update(x, x_prev, t):
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        return x + coef(t, t_next) * (x - x_prev), t_next

    return update


def _fista_with(update=None, steps=lambda n: n):
    def run(y, W, lam, eta, n_iter):
        x = torch.zeros(y.shape[0], W.shape[1], dtype=y.dtype)
        x_prev, v, t = x, x, 1.0
        for _ in range(steps(n_iter)):
            x = ista_step(v, y, W, lam, eta)
            v, t = (x, t) if update is None else update(x, x_prev, t)
            x_prev = x
        return x

    return run


def _std_biased(z):
    return z.std(dim=0, unbiased=False)


def _hinge_grad_formula(ddof=1, relu=True, sign=1.0, nan_safe=True):
    def grad(z, beta, T):
        B = z.shape[0]
        c = z - z.mean(dim=0)
        s = c.pow(2).sum(dim=0).div(B - ddof).sqrt()
        gap = torch.relu(T - s) if relu else T - s
        d = s.clamp_min(1e-12) if nan_safe else s
        return sign * -2 * beta * gap * c / ((B - ddof) * d)

    return grad


def _lista(bias_in_loop=True, relu=True, extra=0):
    def forward(y, W_e, b_e, S, n_iter):
        b = y @ W_e.T + b_e
        z = torch.relu(b)
        for _ in range(n_iter + extra):
            u = (b if bias_in_loop else y @ W_e.T) + z @ S.T
            z = torch.relu(u) if relu else u
        return z

    return forward


def _image(subtract=True, amplitude=True, shift=0):
    def image(decoder, j, a):
        z = torch.zeros(1, decoder.code_dim, dtype=next(decoder.parameters()).dtype)
        z[0, (j + shift) % decoder.code_dim] = a if amplitude else 1.0
        with torch.no_grad():
            out = decoder(z)[0]
            return out - decoder(torch.zeros_like(z))[0] if subtract else out

    return image


WRONG = [
    # lesson 1
    ("rec-batch-mean", check_reconstruction, lambda y, yh: ((y - yh) ** 2).mean(), "averaged over the batch"),
    ("rec-sum-pixels", check_reconstruction, lambda y, yh: ((y - yh) ** 2).sum(), "divide by P"),
    ("rec-abs", check_reconstruction, lambda y, yh: (y - yh).abs().mean(dim=1).sum(), "absolute error"),
    ("rec-per-sample", check_reconstruction, lambda y, yh: ((y - yh) ** 2).mean(dim=1), "one value per sample"),
    ("ae-no-relu", check_autoencoder_forward, lambda y, We, be, Wd: (y @ We.T + be) @ Wd.T, "forgot the relu"),
    ("ae-no-bias", check_autoencoder_forward, lambda y, We, be, Wd: torch.relu(y @ We.T) @ Wd.T, "forgot the bias"),
    ("ae-code", check_autoencoder_forward, lambda y, We, be, Wd: torch.relu(y @ We.T + be), "returned the code"),
    ("ae-transposed", check_autoencoder_forward, lambda y, We, be, Wd: (torch.relu(y @ We.T + be) @ Wd.T).T, "transposed"),
    # lesson 2
    ("energy-batch-mean", check_energy, lambda y, z, W, lam: ((y - z @ W.T) ** 2).mean() + lam * z.abs().sum(), "averaged the reconstruction over the batch"),
    ("energy-no-lam", check_energy, lambda y, z, W, lam: ((y - z @ W.T) ** 2).mean(dim=1).sum() + z.abs().sum(), "forgot lam"),
    ("energy-no-abs", check_energy, lambda y, z, W, lam: ((y - z @ W.T) ** 2).mean(dim=1).sum() + lam * z.sum(), "absolute value"),
    ("energy-l2", check_energy, lambda y, z, W, lam: ((y - z @ W.T) ** 2).mean(dim=1).sum() + lam * (z**2).sum(), "squared L2"),
    ("energy-W-z", check_energy, lambda y, z, W, lam: ((y - W @ z) ** 2).mean(dim=1).sum(), "z @ W.T"),
    # lesson 3
    ("st-two-sided", check_soft_threshold, lambda u, t: torch.sign(u) * torch.relu(u.abs() - t), "two-sided"),
    ("st-no-relu", check_soft_threshold, lambda u, t: u - t, "forgot the relu"),
    ("st-hard", check_soft_threshold, lambda u, t: u * (u > t), "hard threshold"),
    ("st-plus", check_soft_threshold, lambda u, t: torch.relu(u + t), "wrong direction"),
    ("st-relu-minus", check_soft_threshold, lambda u, t: torch.relu(u) - t, "relu(u) - threshold"),
    ("st-float32", check_soft_threshold, lambda u, t: torch.relu(u - t).float(), "expected dtype torch.float64"),
    ("st-in-place", check_soft_threshold, lambda u, t: u.sub_(t).clamp_(min=0), "modified its input in place"),
    ("lip-frobenius", check_lipschitz, lambda W: 2 / W.shape[0] * float((W**2).sum()), "Frobenius"),
    ("lip-no-2", check_lipschitz, lambda W: lipschitz(W) / 2, "forgot the factor 2"),
    ("lip-no-P", check_lipschitz, lambda W: lipschitz(W) * W.shape[0], "forgot the factor 1/P"),
    ("lip-not-squared", check_lipschitz, lambda W: 2 / W.shape[0] * float(torch.linalg.svdvals(W)[0]), "square the spectral norm"),
    ("ista-lam", check_ista_step, _ista(threshold=lambda lam, eta: lam), "used lam instead of eta * lam"),
    ("ista-sign", check_ista_step, _ista(sign=-1.0), "sign error"),
    ("ista-no-2/P", check_ista_step, lambda z, y, W, lam, eta: torch.relu(z - eta * (z @ W.T - y) @ W - eta * lam), "forgot the factor 2/P"),
    ("ista-no-1/P", check_ista_step, lambda z, y, W, lam, eta: torch.relu(z - eta * 2 * (z @ W.T - y) @ W - eta * lam), "forgot the factor 1/P"),
    ("ista-two-sided", check_ista_step, _ista(two_sided=True), "negative values"),
    ("ista-no-prox", check_ista_step, lambda z, y, W, lam, eta: z - eta * 2 / y.shape[1] * (z @ W.T - y) @ W, "forgot the proximal step"),
    # lesson 4
    ("mom-t_k", check_fista_momentum, _momentum(lambda t, tn: (t - 1) / t), "used t_k instead of t_{k+1}"),
    ("mom-t_next", check_fista_momentum, _momentum(lambda t, tn: (tn - 1) / tn), "(t_{k+1} - 1) / t_{k+1}"),
    ("mom-none", check_fista_momentum, lambda x, xp, t: (x, (1 + math.sqrt(1 + 4 * t * t)) / 2), "forgot the momentum"),
    ("mom-sign", check_fista_momentum, _momentum(lambda t, tn: (1 - t) / tn), "sign error"),
    ("mom-no-square", check_fista_momentum, lambda x, xp, t: (x + (t - 1) / ((1 + math.sqrt(1 + 4 * t)) / 2) * (x - xp), (1 + math.sqrt(1 + 4 * t)) / 2), "forget the square"),
    ("mom-swapped", check_fista_momentum, lambda x, xp, t: fista_momentum(x, xp, t)[::-1], "return (v, t_next)"),
    ("fista-ista", check_fista, _fista_with(None), "this is ISTA"),
    ("fista-t_k", check_fista, _fista_with(_momentum(lambda t, tn: (t - 1) / t)), "used t_k instead of t_{k+1}"),
    ("fista-extra-step", check_fista, _fista_with(fista_momentum, steps=lambda n: n + 1), "one step too many"),
    ("fista-missing-step", check_fista, _fista_with(fista_momentum, steps=lambda n: n - 1), "one step too few"),
    # lesson 5
    ("hinge-biased", check_variance_hinge, lambda z, b, T: b * torch.relu(T - _std_biased(z)).pow(2).sum(), "biased std"),
    ("hinge-no-relu", check_variance_hinge, lambda z, b, T: b * (T - z.std(dim=0)).pow(2).sum(), "forgot the relu"),
    ("hinge-no-square", check_variance_hinge, lambda z, b, T: b * torch.relu(T - z.std(dim=0)).sum(), "forgot the square"),
    ("hinge-variance", check_variance_hinge, lambda z, b, T: b * torch.relu(T - z.var(dim=0)).pow(2).sum(), "variance instead"),
    ("hinge-dim1", check_variance_hinge, lambda z, b, T: b * torch.relu(T - z.std(dim=1)).pow(2).sum(), "over the batch (dim=0)"),
    ("hinge-mean", check_variance_hinge, lambda z, b, T: b * torch.relu(T - z.std(dim=0)).pow(2).mean(), "SUM over j"),
    ("hinge-vector", check_variance_hinge, lambda z, b, T: b * torch.relu(T - z.std(dim=0)).pow(2), "one value per component"),
    ("grad-sign", check_hinge_grad, _hinge_grad_formula(sign=-1.0), "sign error"),
    ("grad-biased", check_hinge_grad, _hinge_grad_formula(ddof=0), "biased std"),
    ("grad-no-relu", check_hinge_grad, _hinge_grad_formula(relu=False), "forgot the relu"),
    ("grad-nan", check_hinge_grad, _hinge_grad_formula(nan_safe=False), "NaN for a dead component"),
    # lesson 6
    ("lista-extra", check_lista_forward, _lista(extra=1), "one iteration too many"),
    ("lista-fewer", check_lista_forward, _lista(extra=-1), "one iteration too few"),
    ("lista-no-bias", check_lista_forward, _lista(bias_in_loop=False), "missing bias in the loop"),
    ("lista-no-relu", check_lista_forward, _lista(relu=False), "forgot the relu in the loop"),
    ("lfd-no-2", check_lista_from_dictionary, lambda W, lam, eta: (eta / W.shape[0] * W.T, torch.full((W.shape[1],), -eta * lam, dtype=W.dtype), torch.eye(W.shape[1], dtype=W.dtype) - eta / W.shape[0] * W.T @ W), "forgot the factor 2"),
    ("lfd-bias-sign", check_lista_from_dictionary, lambda W, lam, eta: (lambda We, be, S: (We, -be, S))(*lista_from_dictionary(W, lam, eta)), "sign error in the bias"),
    ("lfd-no-eye", check_lista_from_dictionary, lambda W, lam, eta: (lambda We, be, S: (We, be, S - torch.eye(S.shape[0], dtype=S.dtype)))(*lista_from_dictionary(W, lam, eta)), "forgot the identity"),
    # lesson 7
    ("mlp-no-relu", check_mlp_decoder, lambda z, W1, b1, W2: (z @ W1.T + b1) @ W2.T, "forgot the relu"),
    ("mlp-no-bias", check_mlp_decoder, lambda z, W1, b1, W2: torch.relu(z @ W1.T) @ W2.T, "forgot the bias"),
    ("mlp-relu-out", check_mlp_decoder, lambda z, W1, b1, W2: torch.relu((z @ W1.T + b1) @ W2.T), "relu on the output"),
    ("img-no-subtract", check_component_image, _image(subtract=False), "subtract the image of the zero code"),
    ("img-no-amplitude", check_component_image, _image(amplitude=False), "ignored the amplitude"),
    ("img-off-by-one", check_component_image, _image(shift=1), "component j + 1"),
    ("img-2d", check_component_image, lambda d, j, a: _image()(d, j, a)[None], "(1, P)"),
    # lesson 8
    ("lcn-crop-floor", check_lcn, _lcn(floor="crop"), "floored each crop's contrast at its own mean"),
    ("lcn-no-floor", check_lcn, _lcn(floor="none"), "divided by the local std alone"),
    ("lcn-not-centred", check_lcn, _lcn(centre=False), "forgot to subtract the local mean"),
    ("lcn-no-eps", check_lcn, _lcn(eps=0.0), "floor the divisor at 1e-4 too"),
    ("lcn-uncropped", check_lcn, lambda v, w, sg: _lcn()(v, w, sg)[:, :-1], "expected shape"),
    # lesson 9
    ("psnr-no-scale", check_psnr, lambda xh, x, sc: psnr(xh, x, 1.0), "forgot pixel_scale"),
    ("psnr-20log", check_psnr, lambda xh, x, sc: 2 * psnr(xh, x, sc), "20 log10"),
    ("psnr-255", check_psnr, lambda xh, x, sc: psnr(xh, x, sc) + 20 * math.log10(255), "peak of 255"),
    ("psnr-batch", check_psnr, lambda xh, x, sc: -10 * torch.log10((((xh - x) * sc) ** 2).mean()), "one PSNR for the whole batch"),
    ("psnr-scale-once", check_psnr, lambda xh, x, sc: -10 * torch.log10(((xh - x) ** 2 * sc).mean(dim=1)), "scale the difference, then square it"),
    ("few-first", check_few_per_class, _few(lambda i, n, g: i[:n]), "took the first n samples"),
    ("few-global-rng", check_few_per_class, _few(lambda i, n, g: i[torch.randperm(len(i))[:n]]), "not torch's global one"),
    ("few-repeats", check_few_per_class, _few(lambda i, n, g: i[torch.randint(len(i), (n,), generator=g)]), "the same sample twice"),
    ("few-labels", check_few_per_class, lambda labels, n, g: labels[few_per_class(labels, n, g)], "return their positions in labels"),
    ("few-floats", check_few_per_class, lambda labels, n, g: few_per_class(labels, n, g).float(), "integer tensor"),
    ("few-total", check_few_per_class, lambda labels, n, g: few_per_class(labels, n, g)[: 10 * n - 1], "10 n in all"),
    # lesson 10
    ("at-np-interp", check_psnr_at, lambda c, z: float(np.interp(z, *zip(*c, strict=True))), "held the curve's end value"),
    ("at-nearest", check_psnr_at, lambda c, z: min(c, key=lambda p: abs(p[0] - z))[1], "nearest point"),
    ("at-left", check_psnr_at, lambda c, z: max((p for p in c if p[0] <= z), default=(0, math.nan))[1], "less sparse of the two points"),
    ("at-zeros", check_psnr_at, lambda c, z: z, "returned the sparsity"),
    ("at-none-outside", check_psnr_at, lambda c, z: None if z > c[-1][0] else psnr_at(c, z), "returned None outside the curve's range: return math.nan"),
    ("above-nan-below", check_above_curve, lambda pts, c: all(p > psnr_at(c, z) for z, p in pts), "its gap is NaN, skip it"),
    ("above-vacuous", check_above_curve, lambda pts, c: all(p > psnr_at(c, z) for z, p in pts if not math.isnan(psnr_at(c, z))), "nothing was compared"),
    ("above-on-curve", check_above_curve, lambda pts, c: all(p >= psnr_at(c, z) for z, p in pts if not math.isnan(psnr_at(c, z))) and any(not math.isnan(psnr_at(c, z)) for z, _ in pts), "a point on the curve"),
]  # fmt: skip


@pytest.mark.parametrize(
    "check, student, diagnostic", [w[1:] for w in WRONG], ids=[w[0] for w in WRONG]
)
def test_known_wrong_answer_gets_its_diagnostic(check, student, diagnostic):
    result = check(student)
    assert result.status == FAIL and not result
    assert diagnostic in result.message, result
    assert repr(result).startswith("✘") and "(case: " in result.message


def test_strict_mode_raises_only_on_failure():
    set_strict(True)
    try:
        assert check_soft_threshold(soft_threshold)
        with pytest.raises(CheckFailed, match="not done yet"):
            check_soft_threshold(_stub)
        with pytest.raises(CheckFailed, match="forgot the relu"):
            check_soft_threshold(lambda u, t: u - t)
    finally:
        set_strict(False)
    assert not check_soft_threshold(lambda u, t: u - t)  # back to reporting


# ---- the collapse experiment ------------------------------------------------------------------
def _history(l1, norms):
    return {"code_l1": l1, "column_norm": norms}


@pytest.mark.parametrize(
    "history, diagnostic",
    [
        (_history([20.0, 21.0, 21.0, 20.5], [1.0, 1.0, 1.0, 1.0]), "you normalised the columns"),
        (_history([20.0, 21.0, 21.0], [1.0, 1.1, 1.15]), "the column norms did not grow"),
        (_history([20.0, 19.0, 18.0], [1.0, 2.0, 3.0]), "the code L1 norms did not shrink"),
        (_history([20.0, float("nan"), 5.0], [1.0, 2.0, 3.0]), "diverged"),
        (_history([20.0, 10.0], [1.0, 3.0]), "at least 3 epochs"),
        (_history([20.0, 10.0, 5.0], [1.0, 3.0]), "'column_norm' has 2"),
        ({"l1": [1.0, 0.5, 0.1]}, "lacks ['code_l1', 'column_norm']"),
        ([1.0, 0.5], "expected a dict"),
        (_history([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]), "all zero"),
        (_history([10.0, 20.0, 19.0], [1.0, 2.0, 3.0]), "peak 20"),
    ],
)
def test_collapse_diagnostics(history, diagnostic):
    result = check_collapse(history)
    assert result.status == FAIL and diagnostic in result.message, result


def test_collapse_passes_on_a_collapsing_history_and_calls_a_function():
    history = _history([24.0, 21.0, 17.0, 12.0], [1.4, 2.3, 3.2, 3.9])
    assert check_collapse(history)
    assert check_collapse(_history([10.0, 20.0, 12.0], [1.0, 2.0, 3.0]))  # the peak counts
    result = check_collapse(lambda n: _history([24.0, 12.0, 6.0][:n], [1.0, 2.0, 3.0][:n]), 3)
    assert result and result.value["code_l1"] == [24.0, 12.0, 6.0]
    assert check_collapse(_stub).status == NOT_DONE
