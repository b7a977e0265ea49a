"""Build modules without allocating or randomly initialising their parameters.

A real 2B DiT spends tens of seconds in random init whose values are overwritten at once by the
checkpoint. Parameters are created on the `meta` device; buffers stay real (they are small and
some, e.g. FSQ level tables, are non-persistent and must keep their values). Loading then uses
`load_state_dict(..., assign=True)`.
"""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def parameters_on_meta():
    """Inside this context, every nn.Parameter registered is created on the meta device."""
    original = torch.nn.Module.register_parameter

    def register_on_meta(module, name, param):
        if param is not None and param.device.type != "meta":
            param = torch.nn.Parameter(param.detach().to("meta"), requires_grad=param.requires_grad)
        original(module, name, param)

    torch.nn.Module.register_parameter = register_on_meta
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = original


def meta_parameters(module: torch.nn.Module) -> list[str]:
    """Names of parameters/buffers still on meta (i.e. never loaded)."""
    names = [n for n, p in module.named_parameters() if p.device.type == "meta"]
    names += [n for n, b in module.named_buffers() if b.device.type == "meta"]
    return names
