"""Evaluating exported artifacts on the user's own images (``affdeploy eval``)."""
