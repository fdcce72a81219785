"""The inspector: module tree, parameters, MACs and the document's cost table,
computed on the meta device.

    >>> import zoo
    >>> print(zoo.inspect("(cnf64 m) 2r r128_3_2", input_size=(3, 32, 32)))  # doctest: +SKIP

``zoo.inspect`` returns a :class:`Report` (rich renderable, ``.to_dict()``);
``zoo.ModelState(model).layers(depth, input_size=...)`` prints the document's tree.
"""

from .report import BlockRow, ModuleRow

# one import path per name: inspect, ModelState and Report are zoo's
__all__ = ["BlockRow", "ModuleRow"]
