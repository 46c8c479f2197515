"""The `ov` dialect: one operation per OpenVINO opset operation, on tensors.

`OPS` maps each op's OpenVINO type name to its class; `OV` is the xDSL dialect object."""

from xdsl.ir import Dialect

from dialects.ov import elementwise, extension, movement, nn  # noqa: F401  (registers the ops)
from dialects.ov.base import (
    OPS,
    REQUIRED,
    Dim,
    OvOp,
    Shape,
    TensorInfo,
    create,
    dtype_of,
    format_shape,
    is_static,
    np_dtype,
    ov_type_name,
    shape_of,
    tensor_type,
    xdsl_type,
)
from dialects.ov.constant import Const
from dialects.ov.fused import Fused, FusedYield
from dialects.ov.values import constant_of, fully_known, info_of

OV = Dialect("ov", [*OPS.values(), Fused, FusedYield], [])

__all__ = ["OPS", "OV", "REQUIRED", "Const", "Dim", "Fused", "FusedYield", "OvOp", "Shape", "TensorInfo",
           "constant_of", "create", "dtype_of", "format_shape", "fully_known", "info_of", "is_static",
           "np_dtype", "ov_type_name", "shape_of", "tensor_type", "xdsl_type"]
