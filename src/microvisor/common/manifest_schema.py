"""The bundle format's protobuf messages (package `bundle`), built at import from bundle_format's table."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from .bundle_format import ENUMS, MESSAGES

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {"uint32": _F.TYPE_UINT32, "uint64": _F.TYPE_UINT64, "bytes": _F.TYPE_BYTES,
          "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING}


def _build() -> dict[str, type]:
    file = descriptor_pb2.FileDescriptorProto(name="microvisor_bundle.proto", package="bundle",
                                              syntax="proto3")
    for name, values in ENUMS.items():
        enum = file.enum_type.add(name=name)
        for number, value in enumerate(values):
            # proto3 enum values share the package scope: prefix them as protoc would need.
            enum.value.add(name=f"{name}_{value}", number=number)
    made: dict[str, descriptor_pb2.DescriptorProto] = {}
    for dotted, fields in sorted(MESSAGES.items(), key=lambda item: item[0].count(".")):
        parent, _, leaf = dotted.rpartition(".")
        container = made[parent].nested_type if parent else file.message_type
        message = made.setdefault(dotted, container.add(name=leaf))
        oneofs: dict[str, int] = {}
        for field_name, number, kind, *rest in fields:
            repeated = bool(rest and rest[0])
            field = message.field.add(name=field_name, number=number,
                                      label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if kind in _TYPES:
                field.type = _TYPES[kind]
            else:
                field.type = _F.TYPE_ENUM if kind in ENUMS else _F.TYPE_MESSAGE
                field.type_name = f".bundle.{kind}"
            if len(rest) > 1:
                if rest[1] not in oneofs:
                    oneofs[rest[1]] = len(message.oneof_decl)
                    message.oneof_decl.add(name=rest[1])
                field.oneof_index = oneofs[rest[1]]
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"bundle.{name}"))
            for name in MESSAGES}


_CLASSES = _build()
HpkeCiphertext = _CLASSES["HpkeCiphertext"]
NewKeys = _CLASSES["NewKeys"]
NewKeysBody = _CLASSES["NewKeys.Body"]
Signature = _CLASSES["Signature"]
OpaqueManifest = _CLASSES["OpaqueManifest"]
AppManifest = _CLASSES["AppManifest"]
AppBody = _CLASSES["AppManifest.AppBody"]
AppLayerReference = _CLASSES["AppLayerReference"]
KernelManifest = _CLASSES["KernelManifest"]
KernelBody = _CLASSES["KernelManifest.KernelBody"]
KernelMeta = _CLASSES["KernelMeta"]

KERNEL_LAYER_KERNEL = 1
DEVICE_TYPE_IMP201F = 2
