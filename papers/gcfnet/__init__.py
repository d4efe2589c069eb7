"""GCF-Net: Gated Clip Fusion Network for Video Action Recognition: tables, claims and models."""
