"""Measurement: FLOPs and parameters (flops, costs, thop_replica), latency and training speed (bench,
train_bench) and the papers' runtime checks (runtime)."""
