"""The one epoch loop (Method §4), for one model or the K stacked models of a sweep.

Per batch ``y: (B, P)`` (or ``(K, B, P)``): the encoder predicts ``e = E(y)`` (a constant); FISTA
minimises the energy of Method §2 from ``z0 = e`` with target ``e`` and fixed step ``eta`` (the
paper's ``lrt_Z``); then one Adam step for the decoder on ``mean_i (1/P) ||y_i - D(z*_i)||^2``
(followed, for SDL/SDL-NL, by rescaling the decoder's columns to unit norm) and one Adam step for
the encoder on ``mean_i (1/L) ||E(y_i) - z*_i||^2``. K stacked models are K independent ones: Adam
is elementwise and the loss a sum of per-model losses (:mod:`sparselab.stacked`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..energy import l1, reconstruction, variance_hinge
from ..evaluate import encode_decode
from ..gradients import curvature
from ..metrics import dead_components, psnr
from ..models import MLPDecoder
from ..solvers import fista
from ..stacked import StackedLISTA, StackedMLPDecoder
from ..util.progress import progress as progress_bar
from .config import TrainConfig

__all__ = [
    "infer",
    "decoder_lr",
    "optimizers",
    "train_epoch",
    "check_finite",
    "frozen_shares",
    "validate_epoch",
]


def infer(config, decoder, encoder, y: Tensor, lam=None, *, gamma=None, z0=None):
    """FISTA codes of y (Method §3) started from, and pulled towards, the encoder's prediction
    ``e = E(y)`` (a constant); ``lam`` overrides ``config.lam`` (a per-model tensor in a sweep),
    ``gamma`` the encoder term's weight, ``z0`` the start (None: ``e``)."""
    with torch.no_grad():
        e = encoder(y)
    return fista(
        decoder,
        y,
        lam=config.lam if lam is None else lam,
        beta=config.beta,
        T=config.T,
        gamma=config.gamma if gamma is None else gamma,
        z_target=e,
        z0=e if z0 is None else z0,
        step=config.eta,
        max_iter=config.max_iter,
        tol=config.tol,
        safeguard=config.fista_safeguard,
    )


def decoder_lr(config: TrainConfig, epoch: int) -> float:
    """Decoder learning rate during ``epoch`` (0-based): halved every ``anneal_every`` epochs."""
    if config.anneal_every == 0:
        return config.lr_decoder
    return config.lr_decoder * config.anneal_factor ** (epoch // config.anneal_every)


def _decayed_biases(decoder, encoder) -> tuple[Tensor | None, Tensor]:
    """The biases with their own weight decay: the MLP decoder's hidden bias (a linear dictionary
    has none) and the encoder's input bias, of one model or of the K stacked models of a sweep."""
    if isinstance(decoder, MLPDecoder):
        dec_bias = decoder.fc1.bias
    elif isinstance(decoder, StackedMLPDecoder):
        dec_bias = decoder.b1
    else:
        dec_bias = None
    return dec_bias, encoder.bias if isinstance(encoder, StackedLISTA) else encoder.W.bias


def optimizers(config, decoder, encoder) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for the decoder and for the encoder (single or stacked); weight decay only on the
    biases of ``_decayed_biases`` (own parameter groups)."""
    dec_bias, enc_bias = _decayed_biases(decoder, encoder)

    def groups(model: nn.Module, bias: Tensor | None, wd: float) -> list[dict]:
        rest = [p for p in model.parameters() if p is not bias]
        return [{"params": rest}] + (
            [{"params": [bias], "weight_decay": wd}] if bias is not None else []
        )

    opt_d = torch.optim.Adam(
        groups(decoder, dec_bias, config.wd_bias_decoder), lr=config.lr_decoder
    )
    opt_e = torch.optim.Adam(
        groups(encoder, enc_bias, config.wd_bias_encoder), lr=config.lr_encoder
    )
    return opt_d, opt_e


def train_epoch(configs, decoder, encoder, opt_d, opt_e, x, epoch, bar) -> list[dict]:
    """One pass over ``x: (N, P)`` in shuffled batches; returns each model's training statistics.

    configs: one config (single models), or the K configs of a sweep (stacked models, equal but
    for lam and seed): then each batch is ``y: (K, B, P)``, model k shuffled with its own seed as
    it would be alone, and FISTA takes a per-model lam.
    """
    c, L, P = configs[0], configs[0].code_dim, x.shape[1]
    orders = torch.stack(
        [
            torch.randperm(len(x), generator=torch.Generator().manual_seed(ck.seed * 1009 + epoch))
            for ck in configs
        ]
    ).to(x.device)
    if len(configs) > 1:  # per-model lam, (K, 1, 1)
        lam = torch.tensor([ck.lam for ck in configs], dtype=x.dtype, device=x.device).view(
            -1, 1, 1
        )
    else:
        orders, lam = orders[0], None
    for group in opt_d.param_groups:
        group["lr"] = decoder_lr(c, epoch)
    sums = torch.zeros(len(configs), 6, dtype=torch.float64, device=x.device)
    peak = torch.zeros(len(configs), dtype=x.dtype, device=x.device)  # largest code entry
    starts = range(0, len(x) - 1, c.batch_size)  # a last batch of one sample would have no std
    for start in progress_bar(starts, enabled=bar, desc=f"epoch {epoch + 1}", unit="batch"):
        y = x[orders[..., start : start + c.batch_size]]
        n = y.shape[-2]
        res = infer(c, decoder, encoder, y, lam=lam)
        z = res.z
        # per model: mean_i (1/P) ||y_i - D(z_i)||^2; a sum of them gives independent gradients
        loss_d = (y - decoder(z)).pow(2).sum((-2, -1)) / P / n
        check_finite(loss_d, z, configs, epoch, start // c.batch_size)
        opt_d.zero_grad(set_to_none=True)
        loss_d.sum().backward()
        opt_d.step()
        if c.normalize_columns:
            decoder.normalize_columns_()
        loss_e = (encoder(y) - z).pow(2).sum() / (n * L)  # mean_i (1/L) ||E(y_i) - z_i||^2
        opt_e.zero_grad(set_to_none=True)
        loss_e.backward()
        opt_e.step()
        # summed on the device: one host sync per epoch, not per batch
        sums += torch.stack(
            [
                res.energy / n,
                loss_d.detach(),
                z.sum((-2, -1)) / n,
                res.n_iter.amax(-1).to(z),  # steps the batch ran (until its last sample converged)
                res.n_iter.float().mean(-1).to(z),  # steps per sample (what Method §8 quotes)
                (~res.converged).float().mean(-1).to(z),  # share of samples at max_iter
            ],
            dim=-1,
        ).double()
        peak = torch.maximum(peak, z.flatten(-2).amax(-1))
    keys = ("train_energy", "train_mse", "train_code_l1", "fista_iter", "fista_iter_sample")
    keys += ("fista_at_cap",)
    rows = [dict(zip(keys, row, strict=True)) for row in (sums / len(starts)).tolist()]
    frozen = frozen_shares(opt_d, opt_e, len(configs))
    # eta x the smooth part's curvature at the last batch's codes: above 4/3 the fixed step
    # oscillates (chapter 7); median and largest over the batch's samples
    kappa = (c.eta * curvature(decoder, z, gamma=c.gamma, iters=10)).reshape(len(configs), -1)
    return [
        row
        | {
            "train_code_max": m,
            "frozen_weights": f,
            "step_curvature": k.median().item(),
            "step_curvature_max": k.max().item(),
        }
        for row, m, f, k in zip(rows, peak.tolist(), frozen, kappa, strict=True)
    ]


def check_finite(loss_d: Tensor, z: Tensor, configs, epoch: int, batch: int) -> None:
    """Stop before an Adam step on a loss that is not finite (it would turn the weights into NaN).
    loss_d: scalar, or (K,) for a sweep."""
    bad = ~torch.isfinite(loss_d.reshape(-1))
    if not bool(bad.any()):
        return
    k = int(bad.nonzero()[0])
    c, z_k = configs[k], z.reshape(len(configs), -1)[k]
    codes = f"as large as {z_k.max().item():.3g}" if z_k.isfinite().all() else "not finite"
    again = f"resuming at epoch {epoch} would replay the same batches; " if epoch else ""
    raise FloatingPointError(
        f"epoch {epoch + 1}, batch {batch + 1} (lam={c.lam:g}, seed={c.seed}): the decoder's loss "
        f"is {loss_d.reshape(-1)[k].item()}: FISTA's codes diverged (they are {codes}), the fixed "
        f"step eta={c.eta:g} being too long for this decoder. Training stopped before an Adam step "
        f"on it; {again}train again with a smaller eta (e.g. "
        f"{c.eta / 2:g}; chapter 10, 'FISTA iterations')."
    )


def frozen_shares(opt_d, opt_e, n_models: int) -> list[float]:
    """Per model (the K of a sweep, or 1): the share of its weights whose Adam second-moment
    estimate has overflowed to inf. Adam's step for such a weight is 0 from then on."""
    frozen = torch.zeros(n_models, dtype=torch.float64)
    total = 0
    for opt in (opt_d, opt_e):
        for group in opt.param_groups:
            for p in group["params"]:
                total += p.numel() // n_models  # stacked parameters lead with K
                v = opt.state.get(p, {}).get("exp_avg_sq")
                if v is not None:
                    frozen += torch.isinf(v.reshape(n_models, -1)).sum(-1).cpu()
    return (frozen / total).tolist()


@torch.no_grad()
def validate_epoch(config, decoder, encoder, x, pixel_scale) -> dict[str, float]:
    """Validation statistics of one (single) model with the encoder's codes; the energy (Method
    §2, encoder term 0) is per sample, averaged over batches of ``batch_size``."""
    z, x_hat = encode_decode(decoder, encoder, x)
    B, energies = config.batch_size, []
    for start in range(0, len(x) - 1, B):
        zb = z[start : start + B]
        F = reconstruction(x[start : start + B], x_hat[start : start + B]) + l1(zb, config.lam)
        if config.beta > 0:
            F = F + variance_hinge(zb, config.beta, config.T)
        energies.append(F / len(zb))
    stats = torch.stack(
        [
            torch.stack(energies).mean(),
            (x_hat - x).pow(2).mean(),
            psnr(x_hat, x, pixel_scale).mean(),
            (z == 0).float().mean(),
            z.sum(dim=1).mean(),
            decoder.column_norms().mean(),
        ]
    ).tolist()
    keys = ("val_energy", "val_mse", "val_psnr", "val_zero_fraction", "val_code_l1", "column_norm")
    return dict(zip(keys, stats, strict=True)) | {"val_dead": dead_components(z)}
