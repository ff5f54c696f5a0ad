"""sparselab.SparseCoding, the sklearn-style estimator: scikit-learn's own estimator checks, and
its maths against independent oracles (sklearn's Lasso, the package's loop called directly,
numpy's energy).

sklearn checks: all of ``parametrize_with_checks`` run and none is expected to fail; sklearn
itself skips ``check_array_api_input`` unless ``SCIPY_ARRAY_API=1`` is set (the estimator takes
numpy only). The checks run with a small FISTA step (``eta=0.05``): their random data (a few
features, values up to ~5) is not what the preset's ``eta=0.5`` was tuned for.
"""

import warnings

import numpy as np
import pytest
import torch

import sparselab
from sparselab.runs import make_config, train_on
from sparselab.runs.estimator import SparseCoding
from sparselab.solvers import fista

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import Lasso, LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

TINY = dict(n_components=4, hidden_dim=8, epochs=1, batch_size=50, eta=0.05, device="cpu")


@parametrize_with_checks(
    [SparseCoding(**TINY, random_state=0), SparseCoding(**TINY, decoder="mlp", random_state=0)]
)
def test_sklearn_estimator_checks(estimator, check):
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frozen-weight notes on random data
        check(estimator)


@pytest.fixture(scope="module")
def digits():
    """400 MNIST training digits and labels, numpy: (400, 784) float32, (400,) int64."""
    d = sparselab.load_mnist("train", n=400)
    return d.x.numpy(), d.labels.numpy()


@pytest.fixture(scope="module")
def fitted(digits):
    torch.set_num_threads(1)
    return SparseCoding(
        n_components=16, epochs=2, batch_size=100, device="cpu", random_state=0
    ).fit(digits[0])


def test_import_sparselab_exposes_it(fitted):
    assert sparselab.SparseCoding is SparseCoding


def test_fit_is_the_package_loop_on_the_rows_of_X(digits, fitted):
    config = make_config("mnist-vdl", code_dim=16, epochs=2, batch_size=100, seed=0, device="cpu")
    assert fitted.config_ == config
    x = torch.from_numpy(digits[0])
    direct = train_on(config, x, x)
    for a, b in zip(fitted.decoder_.parameters(), direct.decoder.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    def timeless(history):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history]

    assert timeless(fitted.history_) == timeless(direct.history)
    np.testing.assert_array_equal(fitted.components_, direct.decoder.weight.detach().T.double())


def test_transform_is_fista_from_the_encoder_and_inverse_transform_decodes(digits, fitted):
    x = torch.from_numpy(digits[0][:50])
    e = fitted.encoder_(x).detach()
    c = fitted.config_
    want = fista(fitted.decoder_, x, lam=c.lam, gamma=c.gamma, z_target=e, z0=e, step=c.eta).z
    z = fitted.transform(digits[0][:50])
    assert z.dtype == np.float32 and z.shape == (50, 16) and (z >= 0).all()
    np.testing.assert_allclose(z, want.detach().numpy(), rtol=1e-6, atol=1e-7)
    x_hat = fitted.inverse_transform(z.astype(np.float64))
    assert x_hat.dtype == np.float64
    np.testing.assert_allclose(x_hat, z @ fitted.components_, rtol=1e-4, atol=1e-5)


def test_score_is_minus_the_mean_energy(digits, fitted):
    x = digits[0][:60].astype(np.float64)
    z = fitted.transform(x)
    e = fitted.encoder_(torch.from_numpy(digits[0][:60])).detach().double().numpy()
    c, W = fitted.config_, fitted.components_
    per_sample = (
        ((x - z @ W) ** 2).mean(1) + c.gamma * ((z - e) ** 2).mean(1) + c.lam * np.abs(z).sum(1)
    )
    assert fitted.score(x) == pytest.approx(-per_sample.mean(), rel=1e-4)


def test_without_encoder_transform_solves_the_positive_lasso(digits):
    torch.set_num_threads(1)
    lam = 0.05
    est = SparseCoding(n_components=16, lam=lam, epochs=1, batch_size=100, encoder=False)
    est.set_params(device="cpu", random_state=1).fit(digits[0])
    assert est.encoder_ is None and est.config_.gamma == 0
    x = digits[0][:5].astype(np.float64)
    z = est.transform(x)
    W = est.components_.T  # (P, L)
    # (1/P)||x - W z||^2 + lam ||z||_1 is twice Lasso's (1/(2P))||x - W z||^2 + (lam/2)||z||_1
    lasso = Lasso(alpha=lam / 2, fit_intercept=False, positive=True, tol=1e-10, max_iter=100_000)
    oracle = np.stack([lasso.fit(W, row).coef_ for row in x])

    def energy(codes):
        return ((x - codes @ W.T) ** 2).mean(1) + lam * np.abs(codes).sum(1)

    np.testing.assert_allclose(energy(z), energy(oracle), rtol=2e-3)
    np.testing.assert_allclose(z, oracle, atol=2e-2)


def test_pipeline_with_logistic_regression_and_grid_search_over_lam(digits):
    torch.set_num_threads(1)
    x, y = digits
    sc = SparseCoding(n_components=16, epochs=1, batch_size=100, device="cpu", random_state=0)
    pipe = make_pipeline(sc, LogisticRegression(max_iter=300))
    search = GridSearchCV(pipe, {"sparsecoding__lam": [0.01, 0.05]}, cv=2)
    search.fit(x[:300], y[:300])
    assert search.best_params_["sparsecoding__lam"] in (0.01, 0.05)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.score(x[300:], y[300:]) > 0.4  # ten classes: chance is 0.1


def test_params_clone_and_presets(digits):
    est = SparseCoding(lam=0.01, preset="mnist-sdl")
    assert est.get_params()["lam"] == 0.01 and est.get_params()["beta"] is None
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    assert repr(est) == "SparseCoding(lam=0.01, preset='mnist-sdl')"
    with pytest.raises(ValueError, match="'alpha' is not a parameter of SparseCoding"):
        est.set_params(alpha=1.0)
    small = dict(n_components=np.int64(8), epochs=1, batch_size=100, device="cpu")
    fitted = est.set_params(**small).fit(digits[0][:200])
    c = fitted.config_
    assert (c.lam, c.beta, c.normalize_columns, c.code_dim) == (0.01, 0.0, True, 8)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(n_components=0), "^n_components must be >= 1; got 0$"),
        (dict(n_components=True), "^n_components must be a finite int; got True$"),
        (dict(lam=-1.0), "^lam must be >= 0"),
        (dict(decoder="deep"), "^decoder must be one of"),
        (dict(preset="mnist"), "^preset must be one of"),
        (dict(encoder="yes"), "^encoder must be True or False"),
        (dict(random_state=-1), "^random_state must be an integer >= 0"),
        (dict(device="tpu"), "^device must be"),
    ],
)
def test_bad_hyper_parameters_are_one_line_naming_the_keyword(digits, params, message):
    with pytest.raises(ValueError, match=message):
        SparseCoding(**params).fit(digits[0][:10])


def test_not_fitted_and_bad_inputs(fitted, digits):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        SparseCoding().transform(digits[0])
    with pytest.raises(ValueError, match="^X has 5 features, but SparseCoding is expecting 784"):
        fitted.transform(digits[0][:, :5])
    with pytest.raises(ValueError, match="^Z has 3 components, but SparseCoding is expecting 16"):
        fitted.inverse_transform(np.zeros((2, 3)))
    bad = digits[0][:4].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="^X must not contain NaN or inf$"):
        fitted.transform(bad)
    with pytest.raises(ValueError, match="n_samples = 1"):
        SparseCoding(epochs=1).fit(digits[0][:1])
