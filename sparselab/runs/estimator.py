"""``SparseCoding``: the paper's model (Method §2-4) as a scikit-learn-style estimator, for
coursework. numpy in, numpy out::

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    clf = make_pipeline(SparseCoding(n_components=64, epochs=2), LogisticRegression())

``fit(X)`` trains a decoder and a LISTA encoder on the rows of ``X: (N, P)`` with the package's
one training loop (``sparselab.runs.trainer.train_on``, the loop of ``python -m sparselab
train``), X serving as its validation set too: the epoch whose encoder codes have the lowest
energy on X is kept. ``transform(X)`` runs FISTA on ``F(z) = (1/P) ||x - D(z)||^2 + (gamma/L)
||z - E(x)||^2 + lam ||z||_1`` started from the encoder's prediction ``E(x)``, with the training
step ``eta``: the variance hinge, which couples the samples of a batch, shapes training only, so
each row's code depends on that row alone. ``score(X)`` is minus the mean of that energy per sample
(higher is better, like ``PCA.score``; it compares models of one ``lam``: across ``lam``, score the
downstream task, e.g. a Pipeline with a classifier).

scikit-learn is optional (``pip install sparselab[sklearn]``): the class implements
``get_params``, ``set_params`` and ``__sklearn_tags__`` itself, so ``clone``, ``Pipeline`` and
``GridSearchCV`` take it, and it imports scikit-learn only when scikit-learn asks for its tags (or
to raise its ``NotFittedError``). ``tests/test_estimator.py`` runs sklearn's
``parametrize_with_checks`` on it; the checks it does not pass are listed there with the reason.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from torch import Tensor, nn

from ..energy import energy
from ..solvers import fista
from ..util.validate import check_int
from .config import PRESETS, make_config
from .trainer import train_on

__all__ = ["SparseCoding"]


class SparseCoding:
    """Sparse coding with a linear or one-hidden-layer decoder and a LISTA encoder, trained with
    the variance hinge (VDL, VDL-NL) or without it (``beta=0``).

    Every hyper-parameter left at None takes the value of ``preset`` (default ``"mnist-vdl"``;
    any name of ``sparselab.runs.PRESETS``; the others, ``eta``, the learning rates ...,
    come from the preset too): n_components (L) 128, decoder ``"linear"`` (``"mlp"``: one hidden
    layer of hidden_dim 1024), lam 0.02, beta 10, T 0.5, gamma 5, eta (FISTA's fixed step) 0.5, epochs 200 (the paper's: ask
    for fewer on a CPU), batch_size 250, device ``"auto"`` (CUDA when available), random_state
    31. A training run whose codes diverge raises FloatingPointError naming ``eta``: the
    preset's step suits its data (784 pixels, 128 or 256 components); ask for a smaller one for
    other shapes or scales. ``encoder=False``: codes are FISTA's from zero, with no encoder term (gamma 0), in
    training and in ``transform``; the loop's LISTA encoder then only warm-starts training and is
    dropped. verbose: a progress bar while fitting.

    Fitted attributes: ``decoder_`` (nn.Module, (n, L) -> (n, P)), ``encoder_`` (LISTA, or None
    without encoder), ``config_`` (the TrainConfig trained), ``history_`` (one dict an epoch),
    ``components_`` ((L, P), linear decoders only), ``n_features_in_``, ``n_components_``.
    """

    def __init__(
        self,
        n_components: int | None = None,
        *,
        decoder: str | None = None,
        hidden_dim: int | None = None,
        lam: float | None = None,
        beta: float | None = None,
        T: float | None = None,
        gamma: float | None = None,
        eta: float | None = None,
        encoder: bool = True,
        epochs: int | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        random_state: int | None = None,
        preset: str | None = None,
        verbose: bool = False,
    ):
        self.n_components = n_components
        self.decoder = decoder
        self.hidden_dim = hidden_dim
        self.lam = lam
        self.beta = beta
        self.T = T
        self.gamma = gamma
        self.eta = eta
        self.encoder = encoder
        self.epochs = epochs
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.preset = preset
        self.verbose = verbose

    # -- scikit-learn's estimator protocol, without importing scikit-learn ----------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's keywords and their values (``deep`` is accepted for sklearn)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> SparseCoding:
        """Set constructor keywords (``lam=0.01``); an unknown name is a ValueError naming it."""
        for name, value in params.items():
            if name not in self._param_names():
                raise ValueError(
                    f"{name!r} is not a parameter of SparseCoding; parameters: "
                    f"{', '.join(self._param_names())}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        init = inspect.signature(type(self).__init__).parameters
        changed = (
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if value is not init[name].default
        )
        return f"SparseCoding({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
            input_tags=InputTags(two_d_array=True),
            requires_fit=True,
            non_deterministic=False,
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "decoder_")

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()  # pickle: fitted modules move to the CPU
        for key in ("decoder_", "encoder_"):
            if isinstance(state.get(key), nn.Module):
                state[key] = state[key].cpu()
        return state

    # -- the estimator -------------------------------------------------------------------------

    def _config(self):
        """The TrainConfig of these hyper-parameters (ValueError naming a bad one)."""
        preset = "mnist-vdl" if self.preset is None else self.preset
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
        if not isinstance(self.encoder, (bool, np.bool_)):
            raise ValueError(f"encoder must be True or False; got {self.encoder!r}")
        if self.random_state is not None:
            check_int("random_state", self.random_state, low=0)
        names = {
            "n_components": "code_dim",
            "decoder": "decoder",
            "hidden_dim": "hidden_dim",
            "lam": "lam",
            "beta": "beta",
            "T": "T",
            "gamma": "gamma",
            "eta": "eta",
            "epochs": "epochs",
            "batch_size": "batch_size",
            "random_state": "seed",
            "device": "device",
        }
        overrides = {f: getattr(self, p) for p, f in names.items() if getattr(self, p) is not None}
        if not self.encoder:
            overrides["gamma"] = 0.0
        try:
            config = make_config(preset, **overrides)
        except ValueError as err:  # name the estimator's keyword, not the config field
            message = str(err)
            for param, field in names.items():
                if param != field and message.startswith(field + " "):
                    message = param + message[len(field) :]
            raise ValueError(message) from None
        return config

    def _check_X(self, X, *, fitted: bool, name: str = "X") -> Tensor:
        """X: (N, P) array-like of real numbers -> a float32 tensor (on the CPU)."""
        if type(X).__module__.startswith("scipy.sparse"):
            raise TypeError(
                f"{name} is a scipy sparse matrix: sparse input is not supported; pass "
                f"{name}.toarray()"
            )
        X = np.asarray(X)
        if X.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} must hold real numbers")
        try:
            X = X.astype(np.float64) if X.dtype.kind in "OSU" else X
        except (TypeError, ValueError) as err:  # numpy's message names the bad entry's type
            raise type(err)(f"{name} must be an array of numbers ({err})") from None
        if X.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be an array of real numbers; got dtype {X.dtype}")
        if X.ndim != 2:
            raise ValueError(
                f"{name} must be a 2-D array (n_samples, n_features); got shape {X.shape}"
                + (
                    f". Reshape your data: {name}.reshape(1, -1) for one sample"
                    if X.ndim == 1
                    else ""
                )
            )
        for axis, what in ((0, "sample"), (1, "feature")):
            if X.shape[axis] == 0:
                raise ValueError(
                    f"{name} has 0 {what}(s) (shape={X.shape}) while a minimum of 1 is required."
                )
        if not np.isfinite(X).all():
            raise ValueError(f"{name} must not contain NaN or inf")
        if fitted:
            want = self.n_components_ if name == "Z" else self.n_features_in_
            if X.shape[1] != want:
                what = "components" if name == "Z" else "features"
                raise ValueError(
                    f"{name} has {X.shape[1]} {what}, but SparseCoding is expecting {want} "
                    f"{what} as input"
                )
        return torch.from_numpy(np.array(X, dtype=np.float32))  # a copy: X stays untouched

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            from_sklearn = _not_fitted_error()
            raise from_sklearn(
                "This SparseCoding instance is not fitted yet: call fit(X) before using it"
            )

    def fit(self, X, y=None) -> SparseCoding:
        """Train on X: (N, P), N >= 2 (``y`` is ignored, as in sklearn's transformers)."""
        x = self._check_X(X, fitted=False)
        if len(x) < 2:
            raise ValueError(
                f"X must hold at least 2 samples (a batch needs a std); got n_samples = {len(x)}"
            )
        result = train_on(self._config(), x, x, progress=bool(self.verbose))
        self.config_, self.history_ = result.config, result.history
        self.decoder_ = result.decoder.eval()
        self.encoder_ = result.encoder.eval() if self.encoder else None
        config = self.config_
        self.n_features_in_, self.n_components_ = x.shape[1], config.code_dim
        if hasattr(self.decoder_, "weight") and isinstance(self.decoder_.weight, Tensor):
            self.components_ = self.decoder_.weight.detach().T.cpu().double().numpy()
        return self

    def _codes(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """FISTA codes of x: (N, P) (and the encoder's prediction, None without encoder), in
        batches of ``batch_size``."""
        device = next(self.decoder_.parameters()).device
        codes, targets = [], []
        for start in range(0, len(x), self.config_.batch_size):
            y = x[start : start + self.config_.batch_size].to(device)
            e = None
            if self.encoder_ is not None:
                with torch.no_grad():
                    e = self.encoder_(y)
            res = fista(
                self.decoder_,
                y,
                lam=self.config_.lam,
                gamma=self.config_.gamma,
                z_target=e,
                z0=e,
                step=self.config_.eta,
                max_iter=self.config_.max_iter,
                tol=self.config_.tol,
            )
            codes.append(res.z.detach())
            targets.append(e)
        z = torch.cat(codes)
        return z, None if self.encoder_ is None else torch.cat(targets)

    def transform(self, X) -> np.ndarray:
        """Codes of X: (N, P) -> (N, n_components), non-negative, in X's float dtype."""
        self._check_fitted()
        x = self._check_X(X, fitted=True)
        z, _ = self._codes(x)
        return _out(z, X)

    def fit_transform(self, X, y=None) -> np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X, y).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        """Decoded codes Z: (N, n_components) -> reconstructions (N, P)."""
        self._check_fitted()
        z = self._check_X(Z, fitted=True, name="Z")
        device = next(self.decoder_.parameters()).device
        with torch.no_grad():
            x_hat = self.decoder_(z.to(device))
        return _out(x_hat, Z)

    def score(self, X, y=None) -> float:
        """Minus the mean energy per sample of X's codes (see the module docstring): higher is
        better."""
        self._check_fitted()
        x = self._check_X(X, fitted=True)
        z, e = self._codes(x)
        device = z.device
        with torch.no_grad():
            F = energy(
                x.to(device),
                z,
                self.decoder_,
                lam=self.config_.lam,
                gamma=self.config_.gamma,
                z_target=e,
            )
        return -float(F) / len(x)


def _out(t: Tensor, like) -> np.ndarray:
    """t as a numpy array in the float dtype of the input ``like`` (float64 for other inputs)."""
    dtype = np.asarray(like).dtype
    return t.detach().cpu().numpy().astype(dtype if dtype.kind == "f" else np.float64)


def _not_fitted_error() -> type[Exception]:
    """sklearn's NotFittedError where sklearn is installed (what its tools catch), else a
    ValueError/AttributeError subclass of ours with the same bases."""
    try:
        from sklearn.exceptions import NotFittedError
    except ImportError:
        return _NotFitted
    return NotFittedError


class _NotFitted(ValueError, AttributeError):
    """Raised by a method that needs ``fit`` first (sklearn's NotFittedError without sklearn)."""
