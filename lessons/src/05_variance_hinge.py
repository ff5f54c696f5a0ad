# %% [markdown]
# # Lesson 5: the variance hinge
#
# VDL prevents the L1 collapse of lesson 2 without constraining the decoder: it adds to the energy
# a hinge on the spread of each code component over the batch (Method §2),
#
# $$\beta \sum_j \mathrm{relu}\big(T - s_j(Z)\big)^2, \qquad
#   s_j(Z) = \sqrt{\tfrac{1}{B-1} \textstyle\sum_i (z_{ij} - \bar z_j)^2},$$
#
# the **unbiased** standard deviation of component `j` over the batch. FISTA needs its gradient in
# closed form:
#
# $$\frac{\partial}{\partial z_{ij}} = -\frac{2\beta\, \mathrm{relu}(T - s_j)\,(z_{ij} - \bar z_j)}{(B-1)\, s_j},$$
#
# taken as 0 where `s_j = 0` (a *dead* component, constant over the batch).

# %%
import torch

import sparselab
from sparselab.checks.variance_hinge import check_hinge_grad, check_variance_hinge
from sparselab.metrics import dead_components

# %% [markdown]
# ## Exercise 1: the hinge term
#
# `z: (B, L)`; the std of each component is taken over the batch (`dim=0`), unbiased.


# %%
def variance_hinge(z, beta, T):
    """z: (B, L) with B >= 2 -> scalar tensor."""
    ### BEGIN SOLUTION
    s = z.std(dim=0, unbiased=True)
    return beta * torch.relu(T - s).pow(2).sum()
    ### END SOLUTION


check_variance_hinge(variance_hinge)

# %% [markdown]
# ## Exercise 2: its gradient
#
# Write the closed form above. Autograd gives `NaN` for a dead component (the square root is not
# differentiable at 0); your gradient must be 0 there. The check includes such a component.


# %%
def variance_hinge_grad(z, beta, T):
    """z: (B, L) with B >= 2 -> (B, L)."""
    ### BEGIN SOLUTION
    B = z.shape[0]
    centred = z - z.mean(dim=0)
    s = centred.pow(2).sum(dim=0).div(B - 1).sqrt()
    # where s = 0 the centred values are 0 as well: any finite divisor gives the zero gradient
    return -2 * beta * torch.relu(T - s) * centred / ((B - 1) * s.clamp_min(1e-12))
    ### END SOLUTION


check_hinge_grad(variance_hinge_grad)

# %% [markdown]
# ## What the hinge does to inference
#
# Codes inferred by FISTA for 250 digits with a random dictionary, without and with the hinge
# (`beta = 10`, `T = 0.5`, the paper's VDL values): how many components are dead (zero for every
# digit of the batch), and how many have a std over the batch below `T`.

# %%
x = sparselab.load_mnist("train", n=250).x
decoder = sparselab.LinearDictionary(128, 784, generator=torch.Generator().manual_seed(0))
for beta in (0.0, 10.0):
    z = sparselab.fista(decoder, x, lam=0.005, beta=beta, T=0.5).z
    print(
        f"beta = {beta:4.1f}: {dead_components(z)} dead components of 128, "
        f"{int((z.std(dim=0) < 0.5).sum())} with a std below T"
    )
