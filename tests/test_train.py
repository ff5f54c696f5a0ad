"""Training loop, presets, checkpoints and resume (sparselab.runs)."""

import dataclasses
import math
import warnings

import pytest
import torch

from sparselab.energy import energy
from sparselab.evaluate import encode_decode
from sparselab.metrics import psnr
from sparselab.runs import (
    PRESETS,
    TrainConfig,
    build_models,
    load_run,
    load_split,
    make_config,
    train,
)
from sparselab.runs.loop import frozen_shares as _frozen
from sparselab.runs.loop import optimizers as _optimizers
from sparselab.runs.trainer import stall_message as _stall_message
from sparselab.solvers import fista
from sparselab.util.device import resolve_device

SMALL = dict(n_train=1000, n_val=500, n_test=500, device="cpu")

# Method §6, typed again from the table: (decoder, L, H, lam, beta, gamma, eta, lr D, lr E,
# column norm, wd bias D, wd bias E, anneal every, epochs)
TABLE = {
    "mnist-sdl": ("linear", 128, None, 0.005, 0, 1, 1.0, 1e-3, 3e-4, True, 0, 0, 0, 200),
    "mnist-sdl-nl": ("mlp", 128, 1024, 0.01, 0, 1, 1.0, 1e-3, 1e-4, True, 1e-3, 0, 0, 200),
    "mnist-vdl": ("linear", 128, None, 0.02, 10, 5, 0.5, 3e-4, 1e-4, False, 0, 0, 0, 200),
    "mnist-vdl-nl": ("mlp", 128, 1024, 0.01, 10, 100, 0.5, 3e-4, 1e-4, False, 1e-3, 0, 30, 200),
    "patches-sdl": ("linear", 256, None, 0.005, 0, 1, 0.5, 1e-3, 1e-4, True, 0, 0.01, 0, 100),
    "patches-sdl-nl": ("mlp", 256, 2048, 0.01, 0, 1, 0.5, 1e-3, 1e-4, True, 0.01, 0.01, 0, 100),
    "patches-vdl": ("linear", 256, None, 0.01, 10, 5, 0.5, 3e-4, 1e-4, False, 0, 0.01, 0, 100),
    "patches-vdl-nl": ("mlp", 256, 2048, 0.01, 10, 40, 0.5, 5e-5, 1e-4, False, 0.1, 0.01, 30, 100),
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_presets_hold_the_papers_values(name):
    c = PRESETS[name]
    dec, L, H, lam, beta, gamma, eta, lr_d, lr_e, norm, wd_d, wd_e, anneal, epochs = TABLE[name]
    assert (c.decoder, c.code_dim, c.lam, c.beta, c.gamma, c.eta) == (dec, L, lam, beta, gamma, eta)
    assert (c.lr_decoder, c.lr_encoder, c.normalize_columns) == (lr_d, lr_e, norm)
    assert (c.wd_bias_decoder, c.wd_bias_encoder, c.anneal_every, c.epochs) == (
        wd_d,
        wd_e,
        anneal,
        epochs,
    )
    assert H is None or c.hidden_dim == H
    assert c.data == name.split("-")[0]
    assert (c.batch_size, c.max_iter, c.tol, c.n_iter_lista, c.seed) == (250, 200, 1e-3, 3, 31)
    assert c.T == 0.5 and c.anneal_factor == 0.5


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(lam=-0.1), "lam"),
        (dict(beta=-1.0), "beta"),
        (dict(eta=0.0), "eta"),
        (dict(batch_size=1), "batch_size"),
        (dict(decoder="conv"), "decoder"),
        (dict(n_train=0), "n_train"),
        (dict(lam=float("nan")), "lam"),
        (dict(epochs=1.5), "epochs"),
        (dict(normalize_columns="yes"), "normalize_columns"),
        (dict(data="patches"), "patches_file"),
        (dict(device="tpu"), "device"),
        (dict(nope=1), "nope"),
    ],
)
def test_make_config_rejects_bad_values_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        make_config("mnist-vdl", **overrides)


def test_resolve_device_names_the_device_a_machine_lacks():
    # no machine has 64 GPUs: this fails on CPU-only torch and on a GPU machine alike
    with pytest.raises(ValueError, match="device='cuda:64'"):
        resolve_device("cuda:64")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("cuda:x")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device='cuda:64'"):
        train(make_config("mnist-sdl", epochs=1, **(SMALL | dict(device="cuda:64"))))


def test_make_config_rejects_unknown_preset():
    with pytest.raises(ValueError, match="preset"):
        make_config("mnist-xyz")


@pytest.mark.parametrize("name", ["mnist-sdl", "mnist-sdl-nl", "mnist-vdl", "mnist-vdl-nl"])
def test_two_epochs_per_preset(name):
    # the one-hidden-layer decoders cost ~30 times more per FISTA step: fewer images
    sizes = SMALL | (dict(n_train=500, n_val=250, n_test=250) if "nl" in name else {})
    config = make_config(name, epochs=2, **sizes)
    result = train(config, progress=False)
    assert [row["epoch"] for row in result.history] == [1, 2]
    for row in result.history:
        assert all(math.isfinite(v) for v in row.values())
        assert 1 <= row["fista_iter"] <= config.max_iter
        assert 0 <= row["val_zero_fraction"] <= 1 and 0 <= row["val_dead"] <= config.code_dim
    best = result.history[result.metrics["best_epoch"] - 1]
    assert best["val_energy"] == min(row["val_energy"] for row in result.history)

    # the returned models are the best ones: their validation energy (Method §2 with the encoder's
    # codes, per sample, averaged over batches of 250) and PSNR, recomputed from scratch
    x, scale = load_split(config, "val")
    with torch.no_grad():
        F = [
            energy(y, result.encoder(y), result.decoder, lam=config.lam, beta=config.beta, T=0.5)
            / len(y)
            for y in x.split(config.batch_size)
        ]
        x_hat = result.decoder(result.encoder(x))
    assert torch.stack(F).mean().item() == pytest.approx(best["val_energy"], rel=1e-5)
    assert psnr(x_hat, x, 0.3081).mean().item() == pytest.approx(
        result.metrics["val_psnr"], abs=1e-4
    )
    if config.normalize_columns:  # SDL: every column of the decoder has unit norm
        weights = (
            [result.decoder.weight]
            if name == "mnist-sdl"
            else [
                result.decoder.fc1.weight,
                result.decoder.fc2.weight,
            ]
        )
        for W in weights:
            torch.testing.assert_close(W.norm(dim=0), torch.ones(W.shape[1]))
    for key in ("val_psnr", "val_zero_fraction", "test_psnr", "test_zero_fraction", "seconds"):
        assert math.isfinite(result.metrics[key])


def _without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_resume_gives_the_same_numbers_as_an_uninterrupted_run(tmp_path):
    config = make_config("mnist-vdl", epochs=2, **SMALL)
    full = train(config, tmp_path / "full", progress=False)
    train(dataclasses.replace(config, epochs=1), tmp_path / "cut", progress=False)
    resumed = train(config, tmp_path / "cut", progress=False, resume=True)
    assert _without_seconds(resumed.history) == _without_seconds(full.history)
    for a, b in ((full.decoder, resumed.decoder), (full.encoder, resumed.encoder)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(p, q), name
    ckpt_full = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    ckpt_cut = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    for key in ("decoder", "encoder"):
        for name, p in ckpt_full[key].items():
            assert torch.equal(p, ckpt_cut[key][name]), (key, name)
    # same seed, same numbers; another seed, other numbers
    other = train(dataclasses.replace(config, seed=5, epochs=1), progress=False)
    assert other.history[0]["val_energy"] != full.history[0]["val_energy"]


def test_checkpoint_round_trip(tmp_path):
    config = make_config("mnist-sdl-nl", epochs=1, hidden_dim=64, **SMALL)
    result = train(config, tmp_path, progress=False)
    run = load_run(tmp_path)
    assert run.config == config
    assert run.metrics == result.metrics
    for a, b in ((result.decoder, run.decoder), (result.encoder, run.encoder)):
        for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
            assert torch.equal(p, q)
    assert len(run.history) == 1
    assert run.history[0]["val_psnr"] == pytest.approx(result.history[0]["val_psnr"])
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporary file


def test_l1_collapse_without_a_bound_and_its_cure():
    """lam > 0, no column bound, beta = 0: the codes' L1 norm falls and the decoder's columns grow
    epoch after epoch (Method §4). With the variance hinge (beta > 0) every component of the inferred
    codes keeps a spread of the order of T and the L1 norm does not collapse."""
    base = dict(epochs=4, lr_decoder=3e-3, lam=0.02, n_train=1000, n_val=250, device="cpu")
    free = train(make_config("mnist-vdl", beta=0.0, **base), progress=False)
    l1 = [row["train_code_l1"] for row in free.history]
    norms = [row["column_norm"] for row in free.history]
    assert all(b < a for a, b in zip(l1, l1[1:], strict=False)) and l1[-1] < 0.7 * l1[0]
    assert all(b > a for a, b in zip(norms, norms[1:], strict=False)) and norms[-1] > 1.2

    vdl = train(make_config("mnist-vdl", **base), progress=False)
    assert vdl.history[-1]["train_code_l1"] > 0.7 * vdl.history[0]["train_code_l1"]
    std = {}
    for name, result in (("free", free), ("vdl", vdl)):
        c = result.config
        y = load_split(c, "train")[0][: c.batch_size]
        with torch.no_grad():
            e = result.encoder(y)
        z = fista(
            result.decoder,
            y,
            lam=c.lam,
            beta=c.beta,
            T=c.T,
            gamma=c.gamma,
            z_target=e,
            z0=e,
            step=c.eta,
        ).z
        std[name] = z.std(dim=0)  # (L,) spread of each component over the batch
    T = vdl.config.T
    # balanced against the L1 term, the spread settles somewhat below T (about 0.6 T here)
    assert std["vdl"].min() > 0.4 * T
    assert std["free"].median() < 0.3 * T and std["free"].min() < 0.05 * T


def test_encode_decode_matches_the_models():
    config = make_config("mnist-vdl-nl", hidden_dim=64, **SMALL)
    decoder, encoder = build_models(config)
    x, _ = load_split(config, "test")
    z, x_hat = encode_decode(decoder, encoder, x, batch_size=128)  # chunks of 128: 4 batches
    with torch.no_grad():
        torch.testing.assert_close(z, encoder(x))
        torch.testing.assert_close(x_hat, decoder(encoder(x)))


def test_models_are_seeded():
    config = make_config("mnist-vdl-nl", hidden_dim=64)
    a, b = build_models(config), build_models(config)
    c = build_models(dataclasses.replace(config, seed=0))
    assert torch.equal(a[0].fc1.weight, b[0].fc1.weight) and torch.equal(
        a[1].S.weight, b[1].S.weight
    )
    assert not torch.equal(a[0].fc1.weight, c[0].fc1.weight)


def test_learning_rate_halving_for_the_nl_decoder():
    from sparselab.runs.loop import decoder_lr as _decoder_lr

    config = PRESETS["mnist-vdl-nl"]
    assert [_decoder_lr(config, e) for e in (0, 29, 30, 59, 60)] == [
        3e-4,
        3e-4,
        1.5e-4,
        1.5e-4,
        7.5e-5,
    ]
    assert _decoder_lr(PRESETS["mnist-vdl"], 100) == 3e-4


def test_trainconfig_defaults_are_the_mnist_vdl_preset():
    assert TrainConfig() == PRESETS["mnist-vdl"]


def test_history_csv_keeps_columns_added_by_a_newer_version():
    import csv
    import io

    from sparselab.runs.store import history_csv as _history_csv

    text = _history_csv([{"epoch": 1, "a": 0.5}, {"epoch": 2, "a": 0.25, "b": 3.0}])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0] == {"epoch": "1", "a": "0.5", "b": ""} and rows[1]["b"] == "3.0"


def test_stall_message_tells_a_stall_from_a_slow_start():
    config = make_config("mnist-vdl-nl")  # max_iter 200
    rows = lambda steps: [{"fista_iter": s} for s in steps]  # noqa: E731
    # VDL-NL at lam 0.01 (chapter 10): a few steps per batch, then the cap
    message = _stall_message(rows([3.1, 2.6, 11.0, 46.4, 166.5, 194.8]), config)
    assert "195 of max_iter=200" in message and "up from 3 at epoch 2" in message
    assert "eta=0.5" in message and "0.25" in message
    assert _stall_message(rows([3.1, 2.6, 11.0, 46.4, 166.5]), config) is None  # not yet
    # patches SDL: at the cap from the first epoch and falling, an overcomplete dictionary
    assert _stall_message(rows([200.0, 200.0, 199.1, 194.0, 178.7]), config) is None


def test_train_warns_once_when_fista_stalls(monkeypatch):
    import sparselab.runs.loop as tr

    steps = iter([40.0, 12.0, 150.0, 195.0, 200.0, 200.0])
    train_epoch = tr.train_epoch

    def scripted(*args, **kwargs):  # the real epoch, with the step counts of a stalling run
        (stats,) = train_epoch(*args, **kwargs)
        return [stats | {"fista_iter": next(steps)}]

    monkeypatch.setattr(tr, "train_epoch", scripted)
    sizes = dict(n_train=500, n_val=250, n_test=250, epochs=6, device="cpu")
    with pytest.warns(RuntimeWarning, match="epoch 4: .*195 of max_iter=200") as caught:
        result = train(make_config("mnist-sdl", **sizes), progress=False)
    assert len([w for w in caught if "FISTA" in str(w.message)]) == 1
    assert len(result.history) == 6  # training went on


def test_a_normal_run_does_not_warn():
    sizes = dict(n_train=500, n_val=250, n_test=250, epochs=3, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        train(make_config("mnist-sdl", **sizes), progress=False)


def _adam_steps(decoder, encoder, opt_d, opt_e, overflow, n=4):
    """n Adam steps on gradients of ones, the first with 1e30 where ``overflow(decoder)`` (a
    view of a gradient) points; returns the weights after that first step."""
    for step in range(n):
        for p in (*decoder.parameters(), *encoder.parameters()):
            p.grad = torch.ones_like(p)
        if step == 0:
            overflow(decoder).fill_(1e30)
        opt_d.step()
        opt_e.step()
        if step == 0:
            after_first = [p.detach().clone() for p in decoder.parameters()]
    return after_first


def test_frozen_counts_the_weights_adam_no_longer_moves():
    # a gradient of 1e30 squares past float32's range: Adam's second moment becomes inf and its
    # step for those weights is 0 from then on (torch's Adam is the oracle)
    config = make_config("mnist-vdl-nl", hidden_dim=16)
    decoder, encoder = build_models(config)
    opt_d, opt_e = _optimizers(config, decoder, encoder)
    after_first = _adam_steps(decoder, encoder, opt_d, opt_e, lambda d: d.fc1.weight.grad[:3, 0])
    total = sum(p.numel() for p in (*decoder.parameters(), *encoder.parameters()))
    assert _frozen(opt_d, opt_e, 1) == [pytest.approx(3 / total)]
    moved = decoder.fc1.weight.detach() != after_first[0]
    assert not moved[:3, 0].any() and moved[3:].all() and moved[:, 1:].all()


def test_frozen_counts_each_model_of_a_sweep_apart():
    from sparselab.runs.config import build_stacked

    configs = [make_config("mnist-vdl-nl", hidden_dim=16, lam=lam) for lam in (0.01, 0.02)]
    decoder, encoder = build_stacked(configs)
    opt_d, opt_e = _optimizers(configs[0], decoder, encoder)
    _adam_steps(decoder, encoder, opt_d, opt_e, lambda d: d.W1.grad[1, :5, 0], n=1)
    total = sum(p.numel() for m in build_models(configs[0]) for p in m.parameters())
    assert _frozen(opt_d, opt_e, 2) == [0.0, pytest.approx(5 / total)]


def test_train_stops_before_diverged_codes_make_the_weights_nan(tmp_path):
    # eta = 5 is ten times the preset's: FISTA's iterates blow up on the first batch
    sizes = dict(n_train=500, n_val=250, n_test=250, epochs=2, device="cpu")
    config = make_config("mnist-vdl-nl", hidden_dim=64, eta=5.0, **sizes)
    message = r"epoch 1, batch 1 \(lam=0.01, seed=31\).*FISTA's codes diverged.*eta=5 .*e.g. 2.5"
    with pytest.raises(FloatingPointError, match=message):
        train(config, tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_history_records_the_largest_code_and_no_frozen_weight(monkeypatch):
    import sparselab.runs.loop as tr

    seen, infer = [], tr.infer

    def recording(*args, **kwargs):  # the real inference, its largest code entry noted
        res = infer(*args, **kwargs)
        seen.append(res.z.max().item())
        return res

    monkeypatch.setattr(tr, "infer", recording)
    result = train(make_config("mnist-vdl", epochs=2, **SMALL), progress=False)
    half = len(seen) // 2
    expected = [max(seen[:half]), max(seen[half:])]
    assert [row["train_code_max"] for row in result.history] == pytest.approx(expected)
    assert [row["frozen_weights"] for row in result.history] == [0.0, 0.0]


def test_train_warns_once_when_weights_freeze(monkeypatch):
    import sparselab.runs.loop as tr

    shares = iter([0.0, 0.02, 0.03])
    monkeypatch.setattr(tr, "frozen_shares", lambda *args: [next(shares)])  # as a diverging run's
    sizes = dict(n_train=500, n_val=250, n_test=250, epochs=3, device="cpu")
    with pytest.warns(RuntimeWarning, match=r"epoch 2: 2 % of the weights no longer train"):
        result = train(make_config("mnist-sdl", **sizes), progress=False)
    assert [row["frozen_weights"] for row in result.history] == [0.0, 0.02, 0.03]
    assert len(result.history) == 3  # training went on
