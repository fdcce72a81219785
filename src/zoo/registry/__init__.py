"""The plugins' contributions and the tables they fill.

- :mod:`zoo.registry.specs`: what a plugin declares (``Param``, ``Token``,
  ``Activation``, ``Norm``), the hook markers and the size limits; the lowest layer
  (no torch, nothing of zoo above ``errors`` and ``kinds``).
- :mod:`zoo.registry.registry`: the :class:`~zoo.registry.registry.Registry` that loads
  the plugins (the built-in tokens are one) and holds their tables: tokens,
  activations, norm kinds, options, preset folders.

Nothing is imported here: the declarations sit below the tokens, the registry above
them, and importing one must not load the other.
"""
