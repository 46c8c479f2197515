"""Protobuf message classes built at run time from a schema written in Python, so that a
frontend can parse a framework's files (Caffe's NetParameter, Paddle's ProgramDesc) through the
`protobuf` package without the framework installed and without generated `_pb2` modules.

A schema maps message names to their fields, `(name, number, type, label)`, where `type` is a
scalar type name ("int32", "float", "string", "bytes", "bool", ...), the name of another
message or enum of the same schema; `label` is "optional" (the default), "repeated" or
"packed" (a repeated scalar stored packed, as proto3 does and as `[packed = true]` asks).
Enums map their names to `{value name: number}`; an enum named "Message.Enum" is declared inside
that message, as proto files nest enums whose value names would otherwise clash (Caffe's
PoolingParameter.PoolMethod and EltwiseParameter.EltwiseOp both have a value MAX); fields name it
by that dotted name. Only the fields a frontend reads need to be declared: unknown fields are
skipped by the parser."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

_SCALARS = {
    "double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "fixed64": 6, "fixed32": 7, "bool": 8,
    "string": 9, "bytes": 12, "uint32": 13, "sfixed32": 15, "sfixed64": 16, "sint32": 17, "sint64": 18,
}
_MESSAGE, _ENUM = 11, 14
_OPTIONAL, _REPEATED = 1, 3

Field = tuple  # (name, number, type) or (name, number, type, label) or (..., label, default)


def build_messages(package: str, messages: Mapping[str, Sequence[Field]],
                   enums: Mapping[str, Mapping[str, int]] | None = None) -> dict[str, type]:
    """Message classes of a proto2 schema: {message name: class}."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    enums = enums or {}
    fdp = descriptor_pb2.FileDescriptorProto(name=f"{package.replace('.', '/')}.ovcc.proto", package=package,
                                             syntax="proto2")
    protos = {mname: fdp.message_type.add(name=mname) for mname in messages}
    for ename, values in enums.items():
        owner, _, short = ename.rpartition(".")
        if owner and owner not in protos:
            raise ValueError(f"schema {package}: enum {ename!r} is nested in an undeclared message")
        e = protos[owner].enum_type.add(name=short) if owner else fdp.enum_type.add(name=ename)
        for vname, num in values.items():
            e.value.add(name=vname, number=num)
    for mname, fields in messages.items():
        m = protos[mname]
        for spec in fields:
            name, number, typ = spec[:3]
            label = spec[3] if len(spec) > 3 else "optional"
            f = m.field.add(name=name, number=number,
                            label=_REPEATED if label in ("repeated", "packed") else _OPTIONAL)
            if typ in _SCALARS:
                f.type = _SCALARS[typ]
            elif typ in enums:
                f.type, f.type_name = _ENUM, f".{package}.{typ}"
            elif typ in messages:
                f.type, f.type_name = _MESSAGE, f".{package}.{typ}"
            else:
                raise ValueError(f"schema {package}: field {mname}.{name} has unknown type {typ!r}")
            if label == "packed":
                f.options.packed = True
            if len(spec) > 4:
                f.default_value = str(spec[4]).lower() if isinstance(spec[4], bool) else str(spec[4])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
            for name in messages}


__all__ = ["build_messages"]


def first_non_text(message) -> str | None:
    """The path of the first string field (at any depth) that holds bytes which are not UTF-8,
    or None. protobuf's proto2 parser hands such a field over as bytes, not str, which no name
    lookup of a frontend expects."""
    for field, value in message.ListFields():
        if field.type not in (field.TYPE_STRING, field.TYPE_MESSAGE):
            continue
        many = field.is_repeated
        for i, v in enumerate(value if many else [value]):
            bad = (None if isinstance(v, str) else "") if field.type == field.TYPE_STRING else first_non_text(v)
            if bad is not None:
                return (f"{field.name}[{i}]" if many else field.name) + (f".{bad}" if bad else "")
    return None
