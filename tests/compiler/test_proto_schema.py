"""Run-time protobuf schemas read what protobuf's own generated classes write."""

from google.protobuf import descriptor_pb2, text_format

from compiler.frontends.proto_schema import build_messages


def test_schema_reads_protobufs_own_encoding():
    # descriptor.proto's FileDescriptorProto as a schema of our own: name=1, package=2, dependency=3
    ours = build_messages("t.fd", {"File": [("name", 1, "string"), ("package", 2, "string"),
                                            ("dependency", 3, "string", "repeated")]})["File"]
    real = descriptor_pb2.FileDescriptorProto(name="a.proto", package="p.q", dependency=["x", "y"])
    got = ours.FromString(real.SerializeToString())
    assert (got.name, got.package, list(got.dependency)) == ("a.proto", "p.q", ["x", "y"])


def test_packed_fields_enums_defaults_and_text_format():
    m = build_messages("t.blob", {"Blob": [("dims", 1, "int64", "packed"), ("kind", 2, "Kind", "optional", "B"),
                                           ("scale", 3, "float", "optional", 0.5)]},
                       {"Kind": {"A": 0, "B": 1}})["Blob"]
    b = m.FromString(m(dims=[2, 3]).SerializeToString())
    assert list(b.dims) == [2, 3] and b.kind == 1 and b.scale == 0.5
    t = text_format.Parse("dims: 4 dims: 5 kind: A", m())
    assert list(t.dims) == [4, 5] and t.kind == 0


def test_nested_enums_keep_their_value_names_apart():
    # Caffe's PoolingParameter.PoolMethod and EltwiseParameter.EltwiseOp both name a value MAX
    m = build_messages("t.nested", {"Pool": [("pool", 1, "Pool.Method", "optional", "AVE")],
                                    "Eltwise": [("op", 1, "Eltwise.Op", "optional", "SUM")]},
                       {"Pool.Method": {"MAX": 0, "AVE": 1}, "Eltwise.Op": {"PROD": 0, "SUM": 1, "MAX": 2}})
    assert m["Pool"]().pool == 1 and m["Eltwise"]().op == 1
    assert text_format.Parse("op: MAX", m["Eltwise"]()).op == 2
    assert text_format.Parse("pool: MAX", m["Pool"]()).pool == 0
