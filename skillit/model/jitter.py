"""A stand-in for another machine's floating point: the initial weights nudged by about one ulp.

The same seed gives different float rounding on another CPU (other kernels, other summation
orders), and training amplifies the difference until runs part ways. A suite that is to survive
another machine is run under more than one *numerics variant*. Another thread count would be one,
but on these small models it often changes nothing. `model.init_jitter = eps` multiplies every
initial weight by 1 + eps * s, with signs s = +-1 drawn from a generator of its own (seeded by the
run's seed, or by `model.init_jitter_seed` for other draws of the variant at the same seed, so
the variant is reproducible and the data stream untouched). eps = 1e-7 is a little
under float32's machine epsilon (1.19e-7): a change of at most one unit in the last place, as
another CPU's rounding makes.
"""

from __future__ import annotations

JITTER_STREAM = 0x6A177E  # keeps the signs apart from every other stream seeded by the run's seed


def jitter_weights(network, eps: float, seed: int) -> None:
    """Multiply every floating-point parameter of `network` by 1 + eps * (+-1), in place."""
    if eps == 0:
        return
    import torch

    gen = torch.Generator().manual_seed((int(seed) * 1_000_003 + JITTER_STREAM) % 2**63)
    with torch.no_grad():
        for param in network.parameters():
            if not param.is_floating_point():
                continue
            signs = torch.randint(0, 2, param.shape, generator=gen).to(param.dtype) * 2 - 1
            param.mul_(1 + eps * signs.to(param.device))
