"""MIL op families; importing this package registers every op (see ``registry``)."""

from affdeploy.coreml_reference.ops import (  # noqa: F401
    activation,
    classify,
    conv,
    elementwise,
    indexing,
    linalg,
    normalization,
    pool,
    recurrent,
    reduction,
    resize,
    shape,
)
