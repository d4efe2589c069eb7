"""The engine's device options (repro.engine.speed, repro.engine.step): allocation failures end a batch search
cleanly whatever their kind, the training batch search and its cache, the precision a run trains in, and the
settings a resumed run may differ in."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from repro.engine.config import TrainConfig
from repro.engine.loop import Task
from repro.engine.speed import (Speed, allocation_failure, cached_batch, fits, has_grouped_3d_convs, largest_batch,
                                scaled_lr)
from repro.engine.step import TrainStep, find_train_batch
from repro.measure import bench


class FakeAllocator:
    """A device with `budget` bytes, where a kernel also refuses outputs over `kernel_limit` elements: what an
    H200 did at large batches ("Output tensor is too large"), on a CPU."""

    def __init__(self, budget: int, kernel_limit: int | None = None):
        self.budget, self.kernel_limit, self.calls = budget, kernel_limit, []

    def __deepcopy__(self, memo):  # a copy of the model runs on the same device
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        if self.kernel_limit is not None and x.numel() > self.kernel_limit:
            raise RuntimeError("Output tensor is too large")
        if x.numel() * x.element_size() * 4 > self.budget:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return x


class Guarded(nn.Module):
    def __init__(self, allocator: FakeAllocator):
        super().__init__()
        self.allocator, self.conv = allocator, nn.Conv3d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.allocator(x)).mean((2, 3, 4))


def test_allocation_failures_are_told_from_real_errors():
    assert allocation_failure(torch.OutOfMemoryError("CUDA out of memory")) == "out of memory"
    refused = allocation_failure(RuntimeError("Output tensor is too large"))
    assert refused == "a kernel refused: Output tensor is too large"
    assert allocation_failure(RuntimeError("Expected canUse32BitIndexMath(input) to be true")).startswith("a kernel")
    assert allocation_failure(RuntimeError("CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate")) is not None
    assert allocation_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    assert allocation_failure(ValueError("too large")) is None  # not the device's
    assert fits(lambda: None) is None
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        fits(lambda: (_ for _ in ()).throw(RuntimeError("mat1 and mat2 shapes cannot be multiplied")))


@pytest.mark.parametrize("allocator, expected, why", [
    (FakeAllocator(budget=10**12, kernel_limit=3 * 8**4), 8,
     "16 failed (a kernel refused: Output tensor is too large)"),
    (FakeAllocator(budget=4 * 4 * 3 * 8 * 8 * 8 * 4), 4, "8 failed (out of memory)"),
    (FakeAllocator(budget=10**12), 64, "capped at 64"),
])
def test_the_fill_batch_search_ends_cleanly_at_any_allocation_failure(allocator, expected, why):
    """The benchmarks' search: a batch the fake device refuses, for either reason, ends it at the batch before."""
    model = Guarded(allocator)
    options = bench.BenchOptions(device="cpu")

    def try_batch(batch: int) -> str | None:
        return fits(bench.prepare(model, [torch.randn(batch, 3, 8, 8, 8)], options))

    batch, rule = largest_batch(try_batch, cap=64)
    assert batch == expected and why in rule
    assert allocator.calls[-1] == min(2 * expected, 64)  # the search stopped at the first refusal


def test_the_training_batch_search_trains_copies_and_leaves_the_model_alone():
    allocator = FakeAllocator(budget=10**12, kernel_limit=3 * 8 * 8 * 8 * 8)
    model = Guarded(allocator)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    task = Task(model, forward=lambda m, x: m(x), loss=nn.functional.cross_entropy)
    config = TrainConfig(lr=0.5, batch_size=2)
    batch, rule = find_train_batch(task, torch.randn(1, 3, 8, 8, 8), torch.tensor([1]), config, device="cpu",
                                   layout=False, cap=64)
    assert batch == 8 and "16 failed (a kernel refused" in rule
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # trained a copy
    assert allocator.calls.count(8) == 2  # two steps per try: the second holds the optimiser state too
    with pytest.raises(RuntimeError, match="even a batch of 1 does not fit"):
        find_train_batch(Task(Guarded(FakeAllocator(budget=1)), forward=lambda m, x: m(x),
                              loss=nn.functional.cross_entropy), torch.randn(1, 3, 8, 8, 8), torch.tensor([0]),
                         config, device="cpu", layout=False)


def test_the_found_batch_is_cached_and_the_lr_scales_linearly(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE_DIR", str(tmp_path))
    searches = []

    def search():
        searches.append(1)
        return 32, "largest power of two that fits; 64 failed (out of memory)"

    key = "r2plus1d_50|1x3x8x224x224|H200|bfloat16"
    first = cached_batch(key, search)
    again = cached_batch(key, search)
    assert first == (32, "largest power of two that fits; 64 failed (out of memory)")
    assert again == (32, first[1] + " (cached)") and len(searches) == 1
    assert (tmp_path / "train_batches.json").is_file()
    assert scaled_lr(0.1, 8, 32) == pytest.approx(0.4)


def test_precision_bf16_needs_no_scaler_and_cpu_stays_fp32():
    model = nn.Linear(4, 2)
    task = Task(model, forward=lambda m, x: m(x), loss=nn.functional.cross_entropy)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    cpu = TrainStep(task, model, optimizer, device="cpu", amp=True)
    assert cpu.dtype is None and not cpu.scaler.is_enabled()  # autocast only on CUDA: CPU runs unchanged
    loss = cpu(torch.randn(3, 4), torch.tensor([0, 1, 0]))
    assert loss.dtype == torch.float32 and not loss.requires_grad
    with pytest.raises(ValueError, match="amp_dtype"):
        TrainConfig.from_mapping({"amp_dtype": "float8"})
    assert TrainConfig(amp_dtype="float16").amp_dtype == "float16"


def test_a_checkpoint_from_before_a_setting_existed_resumes():
    saved = TrainConfig(lr=0.1).as_dict()
    del saved["amp_dtype"]  # written before the setting was added: that run used its default
    assert TrainConfig(lr=0.1).changes_from(saved) == []
    assert TrainConfig(lr=0.1, amp_dtype="float16").changes_from(saved) == ["amp_dtype"]
    assert TrainConfig(lr=0.2).changes_from(TrainConfig(lr=0.1).as_dict()) == ["lr"]


def test_channels_last_is_chosen_per_model_and_device():
    plain = nn.Sequential(nn.Conv3d(3, 8, 3))
    grouped = nn.Sequential(nn.Conv3d(3, 8, 1), nn.Conv3d(8, 8, 3, groups=4))
    assert not has_grouped_3d_convs(plain) and has_grouped_3d_convs(grouped)
    assert Speed().layout(plain, "cuda") and not Speed().layout(grouped, "cuda")
    assert not Speed().layout(plain, "cpu") and Speed(channels_last="on").layout(plain, "cpu")
    assert not Speed(channels_last="off").layout(plain, "cuda")
