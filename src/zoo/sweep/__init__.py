"""Sweeps: families of block strings, trained and compared (``zoo sweep``, ``zoo report``)."""
