# %% [markdown]
# ## When FISTA stalls
#
# The paper runs FISTA with a fixed step $\eta$ (`lrt_Z` = 0.5 for the VDL models). For a linear
# dictionary that step is safe as long as $\eta L \le 1$, $L$ the Lipschitz constant of the smooth
# part. A multi-layer decoder has no fixed $L$: its curvature at a code, the top eigenvalue of
# $\tfrac{2}{P} J_i^\top J_i$ with $J_i$ the decoder's Jacobian at $z_i$, moves as the decoder
# learns. Late in the MNIST VDL-NL run at $\lambda = 0.01$ it reaches $1.09/\eta$ to $1.93/\eta$,
# and from epoch 41 every batch runs to the 200-step cap.
#
# Why 4/3? Near a minimum each direction of curvature $h$ behaves like the quadratic
# $\tfrac{h}{2} z^2$. ISTA multiplies the error by $q = 1 - \eta h$ at each step: it converges for
# $\eta h < 2$. FISTA adds momentum $\beta_k = (t_k - 1)/t_{k+1} \to 1$, so late in a run the error
# follows $e_{k+1} = q\,((1+\beta) e_k - \beta e_{k-1})$, whose characteristic roots solve
# $r^2 - 2 q r + q = 0$. For $\eta h > 1$ ($q < 0$) the larger root is $q - \sqrt{q^2 - q}$, and
# its modulus passes 1 exactly at $q = -1/3$, that is $\eta h = 4/3$. Above that edge the error
# flips sign at every step and grows: a period-2 oscillation, which the non-negativity of the codes
# (and the ReLUs of the decoder) keep bounded, so the relative-change stopping rule never fires.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import sparselab as sl

eta_h = np.linspace(0.05, 2.2, 400)
q = 1 - eta_h
roots = np.stack([np.roots([1, -2 * qi, qi]) for qi in q])
fista_rate = np.abs(roots).max(1)  # the late-run (momentum -> 1) growth factor per step

# measured: sl.fista on a one-atom dictionary, lam = 0 and signed codes: a pure quadratic
D = sl.LinearDictionary(1, 4, generator=torch.Generator().manual_seed(0)).double()
y = torch.ones(2, 4, dtype=torch.float64)
L = sl.lipschitz_constant(D)
z_star = sl.fista(D, y, lam=0.0, step=0.5 / L, positive=False, max_iter=500, tol=0).z
grid = np.linspace(0.2, 1.9, 18)
error = [
    float((sl.fista(D, y, lam=0.0, step=c / L, positive=False, max_iter=60, tol=0).z - z_star)
          .abs().max()) + 1e-16
    for c in grid
]  # fmt: skip

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
ax1.plot(eta_h, np.abs(1 - eta_h), label="ISTA: |1 - eta h|")
ax1.plot(eta_h, fista_rate, label="FISTA, late in a run")
ax1.axhline(1, color="grey", lw=0.8)
for edge in (4 / 3, 2):
    ax1.axvline(edge, color="grey", ls=":", lw=0.8)
ax1.set(xlabel="eta x curvature h", ylabel="error growth per step", ylim=(0, 2.5))
ax1.legend(fontsize=8)
ax2.semilogy(grid, error, "o-")
ax2.axvline(4 / 3, color="grey", ls=":", lw=0.8)
ax2.set(xlabel="eta x L (one atom, lam = 0)", ylabel="|z_60 - z*|", title="sl.fista, 60 steps")
fig.tight_layout()
plt.show()
plt.close(fig)

# %% [markdown]
# The same edge on a multi-layer decoder. This small MLP decoder explains its inputs well, and its
# curvature varies by a factor 1.5 over the batch; at $\eta = 1.9 / \max_i h_i$ (printed below as
# "eta x curvature") almost every sample sits past 4/3. `sl.curvature` is the per-sample power
# iteration on the decoder's Jacobian that the history's curvature column records.
#
# Two opt-in safeguards depart from the paper here (`fista(..., safeguard=...)`; the default
# `None` is the paper's fixed step, so every stored run stays reproducible):
#
# - `"backtrack"`: each sample halves its own step until the quadratic upper bound of the smooth
#   part holds at that sample (Beck & Teboulle 2009), never above the given step; the hinge's
#   gradient stays in the smooth step, and because it couples the batch, its excess over its
#   linear model must fit in the room the samples leave, or every sample's step halves.
# - `"restart"`: a sample whose energy rose drops its momentum (O'Donoghue & Candès 2015).

# %%
g = torch.Generator().manual_seed(0)
Lc, H, P, B = 32, 256, 196, 200
dec = sl.MLPDecoder(Lc, H, P, generator=g).double()
with torch.no_grad():
    dec.fc1.weight.copy_(
        torch.linalg.qr(torch.randn(H, Lc, generator=g, dtype=torch.float64))[0] * 4
    )
    dec.fc1.bias.fill_(0.5)
    dec.fc2.weight.copy_(torch.randn(P, H, generator=g, dtype=torch.float64) * 3 / H**0.5)
z_true = torch.relu(torch.randn(B, Lc, generator=g, dtype=torch.float64) - 0.5)
with torch.no_grad():
    y = dec(z_true) + 0.1 * torch.randn(B, P, generator=g, dtype=torch.float64)
h = sl.curvature(dec, z_true)
eta = 1.9 / float(h.max())
print(f"eta x curvature: {float((eta * h).min()):.2f} to {float((eta * h).max()):.2f}; "
      f"past 4/3: {float((eta * h > 4 / 3).double().mean()):.0%}")  # fmt: skip
kw = dict(lam=0.05, beta=1.0, T=0.5, step=eta, max_iter=200)
best = sl.fista(dec, y, **dict(kw, step=0.5 / float(h.max()), max_iter=2000, tol=0)).energy
print(f"{'safeguard':<10} {'at the cap':>10} {'mean steps':>11} {'energy gap':>11}")
for safeguard in (None, "backtrack", "restart"):
    res = sl.fista(dec, y, safeguard=safeguard, **kw)
    gap = float((res.energy - best) / best)
    print(f"{safeguard!s:<10} {float((~res.converged).double().mean()):>10.1%} "
          f"{float(res.n_iter.double().mean()):>11.1f} {gap:>11.1e}")  # fmt: skip

# %% [markdown]
# Backtracking is the one to use: every sample stops before the cap (here 0 % against the fixed
# step's 23.5 %), in fewer steps (15.8 against 55.9), within 1e-4 of the energy that a long
# small-step run reaches. Restart ends closer to that energy (3.6e-6) but still leaves 6.5 % of
# the samples at the cap, and it cannot help a sample past 2 / h, where even ISTA oscillates. To train with it:
# `fista(decoder, y, ..., safeguard="backtrack")`.
