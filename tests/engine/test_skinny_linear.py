"""The planner LM's few-row CPU matmul (engine/planner/skinny_linear.py): same product, same
module type, and out of the way wherever it does not apply."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.planner import skinny_linear as sk


def _big_linear(bias: bool = True) -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(1024, 1024, bias=bias).requires_grad_(False)  # 1 M weights: eligible


@pytest.mark.parametrize("shape", [(1, 1024), (2, 1, 1024), (4, 1024), (8, 1024)])
@pytest.mark.parametrize("bias", [True, False])
def test_few_rows_give_the_same_product_as_f_linear(shape, bias):
    layer = _big_linear(bias)
    x = torch.randn(*shape)
    expected = torch.nn.functional.linear(x, layer.weight, layer.bias)
    assert sk.install_skinny_linears(layer) == 1
    out = layer(x)
    assert out.shape == expected.shape and out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)  # summation order only


def test_many_rows_small_layers_and_other_dtypes_keep_the_stock_path(monkeypatch):
    calls = []
    monkeypatch.setattr(sk.torch, "mm", lambda *a: calls.append(a) or torch.matmul(*a))
    layer = _big_linear()
    sk.install_skinny_linears(layer)
    layer(torch.randn(sk.SKINNY_MAX_ROWS + 1, 1024))  # prefill / teacher forcing: a real GEMM
    assert not calls
    layer(torch.randn(1, 1024))  # one row is a GEMV, already at the weights' streaming rate
    assert not calls
    layer(torch.randn(2, 1024))
    assert len(calls) == 1
    small = torch.nn.Linear(64, 64)
    assert sk.install_skinny_linears(small) == 0 and "forward" not in vars(small)
    half = _big_linear().to(torch.bfloat16)
    sk.install_skinny_linears(half)
    half(torch.randn(2, 1024, dtype=torch.bfloat16))
    assert len(calls) == 1  # only fp32 was measured to pay


def test_the_module_stays_a_linear_that_quantisers_and_copies_handle():
    from engine.runtime.int8_dynamic import apply_int8_dynamic

    model = torch.nn.Sequential(_big_linear())
    sk.install_skinny_linears(model)
    assert type(model[0]) is torch.nn.Linear and set(model.state_dict()) == {"0.weight", "0.bias"}
    twin = copy.deepcopy(model)
    twin[0].weight.add_(1.0)
    x = torch.randn(2, 1024)
    assert not torch.allclose(twin(x), model(x))  # the copy's forward uses the copy's weights
    apply_int8_dynamic(model)  # swaps the exact-type Linear for an int8 module
    assert type(model[0]).__name__ == "DynamicInt8Linear"


def test_the_planner_loader_installs_it_on_large_layers_only(tiny_checkpoints):
    from engine.planner.lm import PlannerLM

    lm = PlannerLM.load(tiny_checkpoints)
    linears = [m for m in lm.model.modules() if type(m) is torch.nn.Linear]
    # Tiny LMs are 16 wide: nothing of theirs qualifies, so their decoded tokens stay as pinned.
    assert linears and not any("forward" in vars(m) for m in linears)
    wide = torch.nn.Linear(sk.SKINNY_MIN_IN_FEATURES, sk.SKINNY_MIN_WEIGHT // sk.SKINNY_MIN_IN_FEATURES)
    narrow = torch.nn.Linear(16, 66585)  # the tiny LM head: over a million weights but 16 wide
    assert sk.install_skinny_linears(torch.nn.Sequential(wide, narrow)) == 1 and "forward" in vars(wide)
