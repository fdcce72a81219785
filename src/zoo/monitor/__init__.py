"""Watching blocks learn: debug statistics of residual blocks and the block plot.

    >>> import torch, zoo
    >>> cnn = zoo.CNN(blocks="(cnf16 m) r r32_3_2", mult=1).debug(True)
    >>> cnn(torch.randn(4, 3, 16, 16)).sum().backward()
    >>> cnn.update()  # after backward(): the scale and its gradient
    >>> [(row["name"], row["path"]) for row in cnn.block_stats()]
    [('r', 'blocks.1'), ('r32_3_2', 'blocks.2')]

``cnn.plot()`` draws the statistics with matplotlib (``zoo-cnn[plot]``),
``block_table(cnn)`` in the terminal with rich, and :class:`BlockMonitor` does both
every N steps of any training loop.
"""

from .plot import plot_blocks
from .stats import BlockStats, block_stats, residual_blocks, set_debug, update_scales
from .table import BlockTable, block_table

# one import path per name: BlockMonitor is zoo.BlockMonitor
__all__ = [
    "BlockStats",
    "BlockTable",
    "block_stats",
    "block_table",
    "plot_blocks",
    "residual_blocks",
    "set_debug",
    "update_scales",
]
