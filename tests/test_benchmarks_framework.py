"""The benchmark framework (issue 6): timing, policies, runtime.yaml, the JSON reader and the report section."""
from __future__ import annotations

import json
import re
import textwrap
import time
import xml.etree.ElementTree as ET

import pytest
import torch
from torch import nn

from conftest import REPO, write_paper
from repro import cli
from repro.measure import bench
from repro.report.performance import paper_performance, read_run
from repro.errors import DataError
from repro.audit.papers import load_paper
from repro.report.render import render
from repro.measure.runtime import FAILS, HOLDS, NOT_MEASURED, bench_cases, evaluate, load_runtime, uncovered_models
from repro.report.latency_plot import latency_plot


class Sleeper(nn.Module):
    """A model with known behaviour: each forward sleeps `seconds` and is counted."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.calls = seconds, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        time.sleep(self.seconds)
        return x


def test_time_forward_warms_up_then_times_each_round():
    model = Sleeper(0.02)
    timing, plan = bench.time_forward(model, [torch.zeros(1)], bench.BenchOptions(), bench.RoundsPlan(4, 2, True))
    assert model.calls == 6 and len(timing.seconds) == 4 and timing.warmup == 2 and plan.rounds == 4
    assert all(0.02 <= s < 0.2 for s in timing.seconds)
    assert 0.02 <= timing.median <= timing.quartiles[1]


def test_without_a_plan_the_first_forward_plans_the_rounds():
    model = Sleeper(0.01)
    timing, plan = bench.time_forward(model, [torch.zeros(1)], bench.BenchOptions())
    assert plan == bench.plan_rounds(0.01, "cpu") == bench.RoundsPlan(15, 1, True)  # 6 s / 0.01 s, capped at 15
    assert model.calls == 1 + 1 + 15 and timing.warmup == 2 and len(timing.seconds) == 15


def test_a_runner_does_the_timed_loop():
    seen = []

    def runner(step, rounds, warmup):
        seen.append((rounds, warmup, step()))
        return [0.5] * rounds

    timing, _ = bench.time_forward(nn.Identity(), [torch.ones(2)], bench.BenchOptions(),
                                   bench.RoundsPlan(3, 0, True), runner)
    assert seen[0][:2] == (3, 0) and torch.equal(seen[0][2], torch.ones(2)) and timing.seconds == (0.5,) * 3


def test_rounds_policy_reduces_rounds_on_cpu_only():
    assert bench.plan_rounds(0.5, "cpu") == bench.RoundsPlan(12, 1, True)
    assert bench.plan_rounds(2.5, "cpu") == bench.RoundsPlan(3, 0, True)
    assert bench.plan_rounds(30.0, "cpu") == bench.RoundsPlan(2, 0, True)
    assert bench.plan_rounds(0.001, "cuda") == bench.RoundsPlan(200, bench.GPU_WARMUP, False)
    assert "reduced rounds" in bench.rounds_policy("cpu") and "reduced" not in bench.rounds_policy("cuda")


def test_fill_batch_policies():
    batch, why = bench.cpu_fill_batch(0.1, 1_000, 10**9)
    assert batch == 16 and "within about 2 s" in why  # 2 s / 0.1 s = 20 -> 16
    assert bench.cpu_fill_batch(0.001, 1_000, 10**9)[0] == bench.CPU_FILL_CAP
    batch, why = bench.cpu_fill_batch(0.01, 10**8, 10**9)  # 25% of 1 GB holds 2.5 batches of 100 MB
    assert batch == 2 and "memory" in why
    assert bench.cpu_fill_batch(5.0, 1_000, 10**9)[0] == 1
    assert bench.gpu_fill_batch(lambda b: None if b <= 24 else "out of memory") == (
        16, "largest power of two that fits; 32 failed (out of memory)")
    assert bench.gpu_fill_batch(lambda b: None)[0] == bench.GPU_FILL_CAP
    assert bench.with_batch([(1, 3, 8), (2, 5)], 4) == [(4, 3, 8), (4, 5)]


def test_activation_bytes_and_throughput():
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    # outputs 20 + 20 + 5 floats, plus the 10-float input, 4 bytes each
    assert bench.activation_bytes(model, [torch.zeros(1, 10)]) == 4 * (20 + 20 + 5 + 10)
    assert bench.achieved_gflops(1e9, 0.5) == 4.0
    assert "inference_mode" in bench.BenchOptions().describe() and "threads" in bench.device_name("cpu")


# --- runtime.yaml --------------------------------------------------------------------------------

COSTS = """\
probes:
  big: {model: baselines/small3d, input: [1, 3, 8, 32, 32]}
  small: {model: baselines/small2d, input: [1, 3, 8, 32, 32]}
"""
RUNTIME = """\
probes:
  head: {model: faster/avg_pool, input: [1, 2, 2048, 1, 7, 7]}
benchmarks: [big, small]
checks:
  - id: big-over-small
    label: big over small
    time: time(big) / time(small)
    paper: "{1|Base|GFLOPs} / {1|Ours|GFLOPs}"
    claim: half
    compare:
      - {to: flops, op: approx, tolerance: {rel: 0.5}}
      - {to: paper, op: approx}
  - id: head-share
    label: the head's share
    unit: "%"
    time: 100 * time(head) / (time(big) + time(head))
    paper: "5"
    compare:
      - {to: paper, op: le}
"""


def _toy(tmp_path, runtime=RUNTIME):
    folder = write_paper(tmp_path / "papers")
    (folder / "costs.yaml").write_text(COSTS)
    (folder / "runtime.yaml").write_text(textwrap.dedent(runtime))
    return load_paper(folder)


def test_runtime_yaml_declares_benchmarks_and_checks(tmp_path):
    paper = _toy(tmp_path)
    spec = load_runtime(paper)
    assert spec.benchmarks == ["big", "small"] and set(spec.probes) == {"big", "small", "head"}
    check = spec.checks[0]
    assert check.time.probes == ("big", "small") and check.claim == "half" and check.compare[1].tolerance.rel == 0.1
    cases = {c.id: c.batches for c in bench_cases([paper])}
    assert cases["toy/big"] == ("1", "fill") and cases["toy/head"] == ("1",)
    assert cases["baselines/r3d_18"] == ("1", "fill")  # no paper benchmarks it: its registered reference input
    assert "faster/fast_gru" in uncovered_models(bench_cases([paper]))  # no reference input and no paper here


def test_runtime_checks_are_ratios_of_latencies_beside_macs(tmp_path):
    paper = _toy(tmp_path)
    big, share = load_runtime(paper).checks
    latency, macs = {"big": 0.3, "small": 0.1, "head": 0.003}, {"big": 4e9, "small": 1e9, "head": 1e6}
    result = evaluate(big, paper, latency, macs, "cpu")
    assert result.measured == pytest.approx(3.0) and result.flops == pytest.approx(4.0) and result.paper == 2.0
    assert [o.status for o in result.outcomes] == [HOLDS, FAILS]  # 3 is within 50% of 4, not within 10% of 2
    result = evaluate(share, paper, latency, macs, "cpu")
    assert result.measured == pytest.approx(100 * 0.003 / 0.303) and result.outcomes[0].status == HOLDS
    missing = evaluate(big, paper, {"big": 0.3}, macs, "cpu")
    assert missing.measured is None and missing.missing == ("small",) and missing.outcomes[0].status == NOT_MEASURED


@pytest.mark.parametrize(("old", "new", "line", "field", "expected"), [
    ("time: time(big) / time(small)", "time: macs(big) / time(small)", 7, "checks[0].time", r"like time\(probe\)"),
    ("benchmarks: [big, small]", "benchmarks: [big, nope]", 3, "benchmarks[1]", "a probe of costs.yaml"),
    ('paper: "{1|Base|GFLOPs} / {1|Ours|GFLOPs}"', 'paper: "{1|Base|Time}"', 8, "checks[0].paper", "declared cells"),
    ('paper: "{1|Base|GFLOPs} / {1|Ours|GFLOPs}"', 'paper: "{1|1:1|Top-1}"', 8, "checks[0].paper", "absent"),
    ("claim: half", "claim: halve", 9, "checks[0].claim", "a claim id of claims.yaml"),
    ("{to: flops, op: approx", "{to: floops, op: approx", 11, "checks[0].compare[0].to", "one of flops, paper"),
    ("head: {model: faster/avg_pool", "big: {model: faster/avg_pool", 2, "probes.big", "costs.yaml declares"),
    ("  - id: head-share", "  - id: big-over-small", 13, "checks[1].id", "a unique id"),
])
def test_runtime_yaml_errors_name_file_line_and_field(tmp_path, old, new, line, field, expected):
    assert old in RUNTIME
    with pytest.raises(DataError) as caught:
        load_runtime(_toy(tmp_path, RUNTIME.replace(old, new)))
    err = caught.value
    assert err.path.endswith("runtime.yaml") and (err.line, err.field) == (line, field), str(err)
    assert re.search(expected, err.expected), str(err)


def test_compare_with_the_paper_needs_a_paper_value(tmp_path):
    text = RUNTIME.replace('    paper: "5"\n', "")
    with pytest.raises(DataError, match=r"runtime.yaml:\d+: checks\[1\].compare\[0\].to: a `paper:` value"):
        load_runtime(_toy(tmp_path, text))


# --- the JSON and the report ---------------------------------------------------------------------


def _entry(case, probe, batch, median, gmacs, size="paper"):
    info = {"kind": "model", "case": case, "paper": case.split("/")[0], "probe": probe,
            "model": "baselines/small3d", "input": "1x3x8x32x32", "batch": batch, "batch_rule": "batch 1",
            "size": size, "gmacs": gmacs, "params": 1000, "device": "cpu", "device_name": "Test CPU (2 threads)",
            "options": "float32, inference_mode", "rounds": 3, "warmup": 1, "reduced_rounds": True,
            "peak_gflops": 100.0}
    return {"name": f"test_latency[{case}@{batch}]", "extra_info": info,
            "stats": {"median": median, "min": median * 0.9, "q1": median * 0.95, "q3": median * 1.1, "rounds": 3}}


def _json(tmp_path, entries):
    data = {"machine_info": {}, "commit_info": {"id": "abc1234"}, "datetime": "2026-01-01T00:00:00",
            "benchmarks": [*entries, {"name": "test_loader", "extra_info": {"clips": 8}, "stats": {"median": 1}}],
            "repro": {"rounds_policy": "CPU, reduced rounds"}}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data))
    return path


ENTRIES = [_entry("toy/big", "big", 1, 0.3, 4.0), _entry("toy/big", "big", 4, 1.0, 16.0),
           _entry("toy/small", "small", 1, 0.1, 1.0), _entry("toy/head", "head", 1, 0.003, 0.001),
           _entry("toy/small", "small", 1, 0.01, 0.01, size="example")]


def test_json_reader_keeps_paper_size_model_rows(tmp_path):
    run = read_run([_json(tmp_path, ENTRIES)])
    assert [(r.case, r.batch) for r in run.rows] == [("toy/big", 1), ("toy/big", 4), ("toy/small", 1), ("toy/head", 1)]
    assert run.smoke_rows == 1 and run.commit == "abc1234" and run.header["rounds_policy"] == "CPU, reduced rounds"
    big = run.rows[0]
    assert big.gflops == pytest.approx(2 * 4.0 / 0.3) and big.fraction_of_peak == pytest.approx(big.gflops / 100)
    broken = dict(ENTRIES[0], extra_info={k: v for k, v in ENTRIES[0]["extra_info"].items() if k != "gmacs"})
    with pytest.raises(DataError, match=r"bench.json: benchmarks\[0\] \(test_latency\[toy/big@1\]\)"
                                        r".extra_info.gmacs: a value"):
        read_run([_json(tmp_path, [broken])])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match="bad.json:1: json: valid JSON"):
        read_run([tmp_path / "bad.json"])


def test_bench_rows_lines_read_like_the_json_and_a_line_cut_off_mid_write_is_dropped(tmp_path):
    """`pytest --bench-rows FILE` appends a row as soon as it is measured; a run killed at its time limit leaves
    the rows it finished, and perhaps half a line."""
    header = {"datetime": "2026-01-01T00:00:00", "repro": {"rounds_policy": "GPU"}}
    lines = [json.dumps(header), *(json.dumps(entry) for entry in ENTRIES)]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n" + json.dumps(ENTRIES[0])[:40])
    run = read_run([path])
    assert [(r.case, r.batch) for r in run.rows] == [("toy/big", 1), ("toy/big", 4), ("toy/small", 1), ("toy/head", 1)]
    assert run.smoke_rows == 1 and run.header["rounds_policy"] == "GPU" and run.sources == [str(path)]
    path.write_text(lines[0] + "\n{not json\n" + lines[1] + "\n")
    with pytest.raises(DataError, match="rows.jsonl:2: json: one JSON object a line"):
        read_run([path])


def test_the_bench_rows_option_writes_each_row_as_it_is_measured(tmp_path):
    import subprocess
    import sys

    rows = tmp_path / "rows.jsonl"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--bench-device", "cpu",
                           "--bench-rows", str(rows), "tests/test_benchmarks.py", "-k", "small3d"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    header, *entries = [json.loads(line) for line in rows.read_text().splitlines()]
    assert header["repro"]["device"] == "cpu" and header["repro"]["size"] == "example"
    assert [e["name"] for e in entries] == ["test_latency[baselines/small3d@1]", "test_latency[baselines/small3d@fill]"]
    assert read_run([rows]).smoke_rows == 2
    refused = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--bench-rows",
                              str(tmp_path / "rows.json"), "tests/test_readme.py"], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode != 0 and "a .jsonl file" in refused.stderr + refused.stdout


def test_latency_plot_is_valid_svg_with_a_point_per_row(tmp_path):
    run = read_run([_json(tmp_path, ENTRIES)])
    svg = latency_plot(run.rows)
    root = ET.fromstring(svg)
    circles = root.findall("{http://www.w3.org/2000/svg}circle")
    assert len([c for c in circles if c.find("{http://www.w3.org/2000/svg}title") is not None]) == len(run.rows)
    assert "100% of peak" in svg and "toy/big · batch 4" in svg
    assert latency_plot([]) == ""


def test_report_shows_the_performance_section_and_the_checks(tmp_path):
    paper = _toy(tmp_path)
    index, page = render([paper], tmp_path / "out", benchmarks=read_run([_json(tmp_path, ENTRIES)]))
    html = page.read_text()
    assert 'id="performance"' in html and "<svg" in html and "<script" not in html
    assert 'id="runtime-big-over-small"' in html and 'href="#claim-half"' in html
    assert re.search(r"3\s*x.*?4\s*x.*?2\s*x", html, re.S)  # measured 0.27/0.09, FLOPs 4, paper 30/15
    performance = html[html.index('id="performance"'):]
    assert performance.count(f">{HOLDS}<") == 2 and performance.count(f">{FAILS}<") == 1
    assert "from the separate batch-1 benchmarks" in performance
    # the ratio and its verdicts also sit in the cells the paper's value reads, and in the claim's row
    cells = re.findall(r'<td class="cell[^"]*"[^>]*>(.*?)</td>', html, re.S)
    with_ratio = [c for c in cells if 'href="#runtime-big-over-small"' in c]
    assert len(with_ratio) == 2 and all("measured 3 x" in c and f">{FAILS}<" in c for c in with_ratio)
    claim_row = re.search(r'<tr[^>]*id="claim-half".*?</tr>', html, re.S).group(0)
    assert 'href="#runtime-big-over-small"' in claim_row and "paper 2 x" in claim_row
    assert "Test CPU (2 threads)" in html and "reduced" in html
    assert "toy.html#performance" in index.read_text()
    empty = render([paper], tmp_path / "none")[1].read_text()
    assert "No benchmark run yet" in empty and "nox -s bench" in empty and ">not measured<" in empty


def test_interleaved_check_timings_replace_the_separate_benchmarks(tmp_path):
    paper = _toy(tmp_path)
    interleaved = {"name": "test_runtime_checks[toy]", "extra_info": {
        "kind": "runtime_checks", "paper": "toy", "size": "paper", "device_name": "Test CPU (2 threads)",
        "options": "float32, inference_mode", "rounds": 2,
        "seconds": {"big": [0.25, 0.2], "small": [0.1, 0.12], "head": [0.002, 0.003]},
        "macs": {"big": 4e9, "small": 1e9, "head": 1e6}}}
    run = read_run([_json(tmp_path, [*ENTRIES, interleaved])])
    assert len(run.check_timings) == 1 and run.check_timings[0].fastest["big"] == 0.2
    checks = paper_performance(paper, run).checks
    assert [c.timing for c in checks] == ["interleaved, 2 rounds"] * 2  # no second set from the separate rows
    assert checks[0].measured == pytest.approx(0.2 / 0.1)
    smoke = dict(interleaved, extra_info=dict(interleaved["extra_info"], size="example"))
    assert read_run([_json(tmp_path, [smoke])]).check_timings == []
    broken = dict(interleaved, extra_info={k: v for k, v in interleaved["extra_info"].items() if k != "seconds"})
    with pytest.raises(DataError, match=r"extra_info.seconds: a value \(written by tests/test_runtime_checks.py\)"):
        read_run([_json(tmp_path, [broken])])


def test_report_command_reads_the_benchmark_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    data = json.loads(_json(tmp_path, []).read_text())
    entry = _entry("faster/r2d_26_l32", "r2d_26_l32", 1, 0.5, 12.7)
    data["benchmarks"] = [entry]
    path = tmp_path / "faster.json"
    path.write_text(json.dumps(data))
    assert cli.main(["report", "--paper", "faster", "--out", str(tmp_path / "out"), "--benchmarks", str(path)]) == 0
    assert f"benchmarks: 1 rows from {path}" in capsys.readouterr().out
    html = (tmp_path / "out" / "faster.html").read_text()
    assert "r2d_26_l32" in html and "no latency for r2plus1d_50_l32" in html
    assert "compares them only as ratios" in html  # Table 5's seconds are never set against ours


def test_fast_inference_rows_reach_their_own_table(tmp_path):
    fast = {"name": "test_fast_inference[toy/big]", "stats": {"median": 0.2, "min": 0.19, "q1": 0.2, "q3": 0.21},
            "extra_info": {"kind": "fast_inference", "case": "toy/big", "paper": "toy", "probe": "big",
                           "model": "baselines/small3d", "input": "1x3x8x32x32", "size": "paper", "gmacs": 4.0,
                           "default_ms": 300.0, "fast_ms": 200.0, "default_gflops": 26.7, "gflops": 40.0,
                           "device_name": "Test CPU (2 threads)", "default_options": "float32, inference_mode",
                           "options": "float32, inference_mode, channels_last", "peak_gflops": 100.0}}
    run = read_run([_json(tmp_path, [*ENTRIES, fast])])
    assert [(r.case, r.speedup, r.of_peak(r.gflops)) for r in run.fast] == [("toy/big", 1.5, 0.4)]
    assert all(r.options == "float32, inference_mode" for r in run.rows)  # kept apart from the model rows
    html = render([_toy(tmp_path)], tmp_path / "out", benchmarks=run)[1].read_text()
    assert 'id="fast-inference"' in html and "1.50×" in html and ">40 · 40%<" in html
    broken = {**fast, "extra_info": {k: v for k, v in fast["extra_info"].items() if k != "fast_ms"}}
    with pytest.raises(DataError, match=r"extra_info.fast_ms: a value"):
        read_run([_json(tmp_path, [broken])])


def _on_gpu(entry: dict) -> dict:
    """The same benchmark as a GPU run writes it: another device, batch and time, a bf16 peak."""
    info = dict(entry["extra_info"], device="cuda", device_name="NVIDIA H200", peak_gflops=791_000.0,
                peak_precision="bfloat16", options="bfloat16 autocast, inference_mode, channels_last",
                batch=1 if entry["extra_info"]["batch"] == 1 else 256, batch_rule="fits in GPU memory")
    stats = {k: v / 100 if isinstance(v, float) else v for k, v in entry["stats"].items()}
    return {**entry, "extra_info": info, "stats": stats}


def test_a_cpu_and_a_gpu_run_render_side_by_side(tmp_path):
    cpu = _json(tmp_path, ENTRIES)
    gpu_path = tmp_path / "gpu.json"
    gpu = json.loads(cpu.read_text())
    gpu["benchmarks"] = [_on_gpu(e) for e in gpu["benchmarks"] if e.get("extra_info", {}).get("kind") == "model"]
    gpu_path.write_text(json.dumps(gpu))
    run = read_run([cpu, gpu_path])
    performance = paper_performance(_toy(tmp_path), run)
    assert performance.devices == ["Test CPU (2 threads)", "NVIDIA H200"]
    paired = {(label.case, label.batch_kind): sorted(by_device) for label, by_device in performance.side_by_side}
    assert paired[("toy/big", "full")] == ["NVIDIA H200", "Test CPU (2 threads)"]  # batch 4 and 256: one row
    assert len(paired) == 4
    html = render([_toy(tmp_path)], tmp_path / "out", benchmarks=run)[1].read_text()
    table = html[html.index('<table class="perf devices">'):]
    table = table[:table.index("</table>")]
    assert table.count('class="device"') == 2 and table.count("<tr><th scope=\"row\">") == 4
    assert "of bfloat16 peak" in table and "Test CPU (2 threads)" in table
    assert "NVIDIA H200: bfloat16 autocast, inference_mode, channels_last, measured bfloat16 matmul peak 791,000" \
        in html


def test_training_rows_and_the_fast_pick_reach_the_index(tmp_path):
    train = {"name": "test_train_speed", "stats": {"median": 0.1},
             "extra_info": {"kind": "train", "model": "baselines/r2plus1d_50", "input": "3x8x224x224", "batch": 32,
                            "batch_rule": "given", "size": "paper", "device_name": "NVIDIA H200",
                            "options": "bfloat16 autocast, channels_last_3d, torch.compile",
                            "clips_per_second": 700.0, "tflops": 210.0, "peak_tflops": 791.0,
                            "peak_precision": "bfloat16", "fraction_of_peak": 210 / 791, "peak_memory_mb": 60000.0,
                            "plain_clips_per_second": 720.0, "engine_over_plain": 700 / 720,
                            "compile_seconds": 95.0}}
    fast = {"name": "test_fast_inference[toy/big]", "stats": {"median": 0.2},
            "extra_info": {"kind": "fast_inference", "case": "toy/big", "paper": None, "probe": "big",
                           "model": "baselines/small3d", "input": "1x3x8x32x32", "size": "paper", "gmacs": 4.0,
                           "default_ms": 300.0, "fast_ms": 200.0, "default_gflops": 26.7, "gflops": 40.0,
                           "device_name": "Test CPU (2 threads)", "default_options": "float32, inference_mode",
                           "options": "float32, inference_mode, channels_last", "peak_gflops": 200.0,
                           "peak_precision": "float32", "candidates": {"float32, inference_mode": 300.0,
                                                                      "float32, inference_mode, channels_last": 200.0},
                           "bound_by": [["aten::mkldnn_convolution", 0.8], ["aten::relu", 0.1]]}}
    loader = {"name": "test_loader_keeps_up_with_training", "stats": {"median": 1.0},
              "extra_info": {"kind": "loader", "size": "paper", "input": "train_jitter 8f 224px",
                             "video": "340x256 H.264", "decoder": "decord", "per_worker": 35.0, "cores": 16,
                             "train_rate": 700.0, "train_device": "NVIDIA H200", "workers_needed": 20,
                             "delivered_share": 0.8}}
    run = read_run([_json(tmp_path, [*ENTRIES, train, fast, loader])])
    assert [(r.model, r.engine_over_plain) for r in run.train] == [("baselines/r2plus1d_50", 700 / 720)]
    index = render([_toy(tmp_path)], tmp_path / "out", benchmarks=run)[0].read_text()
    section = index[index.index('id="training-speed"'):]
    assert "26.5% of bfloat16" in section and "97%" in section and "compiled in 95 s" in section
    assert re.search(r"takes\s+20 workers, and the 16 cores of this host deliver 80% of it: they fall short by 20%",
                     section)
    assert "fastest of 2 tried" in index and "bound by aten::mkldnn_convolution 80%, aten::relu 10%" in index
