"""The batched sweep against its oracle: K separate single-model computations."""

import pytest
import torch

from sparselab import cli
from sparselab.energy import energy, variance_hinge_grad
from sparselab.models import LinearDictionary, LISTAEncoder, MLPDecoder
from sparselab.runs import load_run, make_config, sweep, train
from sparselab.runs.config import sweep_configs
from sparselab.solvers import fista
from sparselab.stacked import stack_models

SMALL = dict(n_train=500, n_val=100, n_test=100, epochs=1, device="cpu")


def _singles(kind, K, L=8, P=30, H=16):
    make = {
        "linear": lambda g: LinearDictionary(L, P, generator=g),
        "mlp": lambda g: MLPDecoder(L, H, P, generator=g),
        "lista": lambda g: LISTAEncoder(P, L, 3, generator=g),
    }[kind]
    return [make(torch.Generator().manual_seed(k)).double() for k in range(K)]


@pytest.mark.parametrize("kind", ["linear", "mlp", "lista"])
def test_stacked_forward_and_unstack_match_the_single_models(kind):
    models = _singles(kind, 3)
    stacked = stack_models(models)
    x = torch.randn(3, 5, models[0].input_dim if kind == "lista" else 8, dtype=torch.float64)
    out = stacked(x)
    for k, m in enumerate(models):
        torch.testing.assert_close(out[k], m(x[k]))
        assert torch.equal(stacked.unstack(k)(x[k]), m(x[k]))


def test_hinge_gradient_is_per_model():
    z = torch.rand(3, 10, 4, dtype=torch.float64)
    g = variance_hinge_grad(z, 2.0, 0.5)
    for k in range(3):
        torch.testing.assert_close(g[k], variance_hinge_grad(z[k], 2.0, 0.5))


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_stacked_fista_equals_per_model_fista(kind):
    K, B = 3, 20
    models = _singles(kind, K)
    stacked = stack_models(models)
    g = torch.Generator().manual_seed(5)
    y = torch.randn(K, B, 30, generator=g, dtype=torch.float64)
    e = torch.rand(K, B, 8, generator=g, dtype=torch.float64)
    lams = [0.005, 0.01, 0.02]
    lam = torch.tensor(lams, dtype=torch.float64).view(K, 1, 1)
    settings = dict(beta=10.0, T=0.5, gamma=5.0, step=0.05, max_iter=60, tol=1e-3)
    res = fista(stacked, y, lam=lam, z_target=e, z0=e, **settings)
    for k, m in enumerate(models):
        ref = fista(m, y[k], lam=lams[k], z_target=e[k], z0=e[k], **settings)
        torch.testing.assert_close(res.z[k], ref.z)
        assert torch.equal(res.n_iter[k], ref.n_iter)
        F = energy(y[k], ref.z, m, lam=lams[k], beta=10.0, T=0.5, gamma=5.0, z_target=e[k])
        torch.testing.assert_close(res.energy[k], F)


def test_stacked_mlp_fista_with_early_stopping_equals_per_model_fista():
    """Once fewer than half of a model's rows still iterate, the stacked MLP step runs on the rows
    left (as many for every model); the codes and step counts must stay each model's own."""
    K, B = 3, 60
    models = _singles("mlp", K)
    g = torch.Generator().manual_seed(8)
    y = torch.randn(K, B, 30, generator=g, dtype=torch.float64)
    far = (
        torch.linspace(0, 3, B, dtype=torch.float64)[:, None]
        ** (1 + torch.arange(K))[:, None, None]
    )
    e = torch.rand(K, B, 8, generator=g, dtype=torch.float64) * far  # starts far and near
    lams = [0.005, 0.01, 0.02]
    lam = torch.tensor(lams, dtype=torch.float64).view(K, 1, 1)
    settings = dict(beta=10.0, T=0.5, gamma=5.0, step=0.05, max_iter=100, tol=1e-3)
    res = fista(stack_models(models), y, lam=lam, z_target=e, z0=e, **settings)
    for k, m in enumerate(models):
        ref = fista(m, y[k], lam=lams[k], z_target=e[k], z0=e[k], **settings)
        n = ref.n_iter.float()
        assert n.median() < 0.5 * n.max()  # most rows stopped while some went on
        torch.testing.assert_close(res.z[k], ref.z, rtol=0, atol=1e-12)
        assert torch.equal(res.n_iter[k], ref.n_iter)


def test_stacked_fista_rejects_bad_shapes():
    stacked = stack_models(_singles("linear", 2))
    y = torch.randn(3, 4, 30, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"y must be \(K, B, P\) = \(2, B, P\)"):
        fista(stacked, y, lam=0.1, step=0.1)
    with pytest.raises(ValueError, match="lam must be"):
        fista(stacked, y[:2], lam=torch.ones(3, 1, 1, dtype=torch.float64), step=0.1)
    with pytest.raises(ValueError, match="step='auto'"):
        fista(stacked, y[:2], lam=0.1)


@pytest.mark.parametrize(
    "preset, lams, seeds, extra",
    [
        ("mnist-vdl", [0.005, 0.02], [0], {}),
        ("mnist-sdl-nl", [0.01], [0, 1], {"hidden_dim": 32, "max_iter": 50}),
    ],
)
def test_sweep_reproduces_separate_train_runs(preset, lams, seeds, extra):
    configs = sweep_configs(preset, lams, seeds, **SMALL, **extra)
    results = sweep(configs, progress=False)
    for config, result in zip(configs, results, strict=True):
        ref = train(config, progress=False)
        for key, value in ref.history[0].items():
            if key != "seconds":
                assert result.history[0][key] == pytest.approx(value, rel=1e-3, abs=1e-5), key
        for (name, p), q in zip(
            ref.decoder.state_dict().items(), result.decoder.state_dict().values(), strict=True
        ):
            torch.testing.assert_close(q, p, rtol=1e-3, atol=1e-5, msg=name)


def test_cli_writes_runs_that_load_like_train_runs(tmp_path):
    out = tmp_path / "sweep"
    argv = ["sweep", "--preset", "mnist-sdl", "--seeds", "2", "--lam", "0.005", "0.01"]
    argv += ["--epochs", "1", "--n-train", "300", "--n-val", "100", "--n-test", "100"]
    assert cli.main(argv + ["--device", "cpu", "--no-progress", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == ["lam0.005_seed0", "lam0.005_seed1", "lam0.01_seed0", "lam0.01_seed1"]
    run = load_run(out / "lam0.01_seed1")
    assert run.config == make_config("mnist-sdl", lam=0.01, seed=1, **{**SMALL, "n_train": 300})
    assert len(run.history) == 1 and run.metrics["sweep_models"] == 4
    assert run.encoder(torch.zeros(1, 784)).shape == (1, 128)
    argv[argv.index("--epochs") + 1] = "2"  # extend the finished sweep by one epoch
    assert cli.main(argv + ["--device", "cpu", "--no-progress", "--out", str(out), "--resume"]) == 0
    assert len(load_run(out / "lam0.01_seed1").history) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--preset", "nope"], "preset must be one of"),
        (["--lam", "0.01", "0.01"], "must not repeat"),
        (["--lam", "-1"], "lam must be >= 0"),
        (["--epochs", "0"], "epochs must be >= 1"),
    ],
)
def test_cli_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "sweep"
    assert cli.main(["sweep", "--out", str(out)] + args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "x").write_text("")
    assert cli.main(["sweep", "--out", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert cli.main(["sweep", "--out", str(tmp_path), "--resume"]) == 2  # x is not a sweep
    assert "resume needs a sweep folder" in capsys.readouterr().err


def test_resumed_sweep_matches_an_uninterrupted_one(tmp_path):
    """Interrupted after epoch 1 and resumed to 2: the same histories and models as one pass of 2."""
    configs = sweep_configs("mnist-vdl", [0.005, 0.02], [0], **{**SMALL, "epochs": 2})
    whole = sweep(configs, tmp_path / "whole", progress=False)
    short = sweep_configs("mnist-vdl", [0.005, 0.02], [0], **SMALL)
    sweep(short, tmp_path / "cut", progress=False)
    resumed = sweep(configs, tmp_path / "cut", progress=False, resume=True)
    for a, b in zip(whole, resumed, strict=True):
        assert len(b.history) == 2
        for row_a, row_b in zip(a.history, b.history, strict=True):
            assert {k: v for k, v in row_a.items() if k != "seconds"} == pytest.approx(
                {k: v for k, v in row_b.items() if k != "seconds"}
            )
        for (name, p), q in zip(
            a.decoder.state_dict().items(), b.decoder.state_dict().values(), strict=True
        ):
            torch.testing.assert_close(q, p, msg=name)
    assert load_run(tmp_path / "cut" / "lam0.02_seed0").history[1]["epoch"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lam", "0.005", "0.01"], "trains (lam, seed) = [(0.005, 0), (0.02, 0)]"),
        (["--lam", "0.005", "0.02", "--n-train", "400"], "differs from the sweep"),
    ],
)
def test_cli_resume_refuses_another_sweep(tmp_path, capsys, args, message):
    configs = sweep_configs("mnist-vdl", [0.005, 0.02], [0], **SMALL)
    sweep(configs, tmp_path, progress=False)
    argv = ["sweep", "--out", str(tmp_path), "--resume", "--n-val", "100", "--n-test", "100"]
    argv += ["--n-train", "500", "--device", "cpu", "--epochs", "2"]
    assert cli.main(argv + args) == 2
    assert message in capsys.readouterr().err


def test_sweep_warns_once_for_the_model_whose_fista_stalls(monkeypatch):
    import sparselab.runs.loop as sw

    steps = iter([40.0, 12.0, 150.0, 195.0, 200.0])
    train_epoch = sw.train_epoch

    def scripted(*args, **kwargs):  # the real epoch; the second model gets a stalling run's steps
        first, second = train_epoch(*args, **kwargs)
        return [first, second | {"fista_iter": next(steps)}]

    monkeypatch.setattr(sw, "train_epoch", scripted)
    configs = sweep_configs("mnist-sdl", [0.005, 0.01], [0], **{**SMALL, "epochs": 5})
    with pytest.warns(RuntimeWarning, match="lam0.01_seed0: epoch 4: .*195 of max_iter") as caught:
        sweep(configs, progress=False)
    assert len([w for w in caught if "FISTA" in str(w.message)]) == 1


@pytest.mark.parametrize("preset", ["mnist-vdl", "mnist-sdl-nl"])
def test_a_one_model_sweep_is_a_train_run_to_the_last_bit(tmp_path, preset):
    # K = 1 goes through the same loop as train, with single (not stacked) models
    config = make_config(preset, hidden_dim=64, **{**SMALL, "epochs": 2})
    (swept,) = sweep([config], tmp_path / "sweep", progress=False)
    trained = train(config, tmp_path / "train", progress=False)

    def rows(history):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in history]

    assert rows(swept.history) == rows(trained.history)
    assert swept.metrics == trained.metrics | {
        "sweep_models": 1,
        "seconds": swept.metrics["seconds"],
    }
    on_disk = load_run(tmp_path / "sweep" / f"lam{config.lam:g}_seed{config.seed}")
    assert rows(on_disk.history) == rows(load_run(tmp_path / "train").history)
    for model in ("decoder", "encoder"):
        a, b = getattr(swept, model).state_dict(), getattr(trained, model).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in b)
        c = getattr(on_disk, model).state_dict()
        assert all(torch.equal(c[k], b[k].cpu()) for k in b)


def test_cli_resume_restarts_a_sweep_killed_before_its_first_checkpoint(tmp_path, capsys):
    argv = ["sweep", "--out", str(tmp_path), "--lam", "0.02", "--n-train", "500", "--n-val"]
    argv += ["100", "--n-test", "100", "--device", "cpu", "--epochs", "1", "--no-progress"]
    assert cli.main(argv) == 0
    (tmp_path / "checkpoint.pt").unlink()  # as a kill during the first epoch leaves it
    assert cli.main(argv + ["--resume"]) == 0
    assert (tmp_path / "checkpoint.pt").is_file()
    assert "1 models in" in capsys.readouterr().out
