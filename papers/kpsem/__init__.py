"""Effective Action Recognition with Embedded Key Point Shifts: tables, claims and models."""
