"""FASTER Recurrent Networks for Efficient Video Classification: tables, claims and models."""
