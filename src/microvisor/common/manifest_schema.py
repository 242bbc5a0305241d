"""The bundle format's protobuf messages (package `bundle`), built from a field table at import."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {"uint32": _F.TYPE_UINT32, "uint64": _F.TYPE_UINT64, "bytes": _F.TYPE_BYTES,
          "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING}

# message -> [(field, number, type, repeated, oneof)]; a type that is not a scalar names a
# message, or an enum when it is listed in _ENUMS. Field numbers are the published ones
# (shared/reference/bundle-format.md); `Signature` and OpaqueManifest.countersignatures (4) are
# this project's addition for co-signing: proto3 readers of the published schema skip field 4.
_MESSAGES: dict[str, list[tuple]] = {
    "HpkeCiphertext": [("receiver_id", 1, "uint64"), ("sender_pub", 2, "bytes"),
                       ("ciphertext", 3, "bytes")],
    "NewKeys.Body": [("delete_manifest_signers", 1, "uint64", True),
                     ("delete_layer_decrypters", 2, "uint64", True),
                     ("add_manifest_signers", 3, "bytes", True),
                     ("add_layer_decrypters", 4, "HpkeCiphertext", True)],
    "NewKeys": [("signer_id", 1, "uint64"), ("body", 2, "NewKeys.Body"), ("signature", 3, "bytes")],
    "Signature": [("signer_id", 1, "uint64"), ("signature", 2, "bytes")],
    "OpaqueManifest": [("signer_id", 1, "uint64"), ("body", 2, "bytes"), ("signature", 3, "bytes"),
                       ("countersignatures", 4, "Signature", True)],
    "InternalFlashRegion": [("start", 1, "uint32"), ("size", 2, "uint32")],
    "SpiFlashRegion": [("start", 1, "uint32"), ("size", 2, "uint32")],
    "AppLayerRegion": [("internal_flash", 1, "InternalFlashRegion", False, "where"),
                       ("external_flash", 2, "SpiFlashRegion", False, "where")],
    "AppLayerReference": [("target", 1, "AppLayerRegion"), ("encrypted_with_key_id", 2, "uint64"),
                          ("fetch_hash", 3, "bytes"), ("measurement_hash", 4, "bytes")],
    "DebugPolicy": [("debuggable", 1, "bool"), ("debug_auth_pubkey", 2, "bytes")],
    "CrashPolicy": [("minimum_restart_ms", 1, "uint32"), ("maximum_restart_ms", 2, "uint32"),
                    ("crash_report_pubkey", 3, "bytes"), ("include_stack_bytes", 4, "uint32")],
    "UpdatePolicy": [("maximum_politeness_time_sec", 1, "uint32"),
                     ("minimum_kernel_version", 2, "uint32")],
    "ConnectivityPolicy": [("connection_grace_time_sec", 1, "uint32"),
                           ("minimum_check_in_time_sec", 2, "uint32")],
    "AppManifest.AppBody": [("layers", 1, "AppLayerReference", True), ("debug", 2, "DebugPolicy"),
                            ("crash", 3, "CrashPolicy"), ("update", 4, "UpdatePolicy"),
                            ("connectivity", 5, "ConnectivityPolicy")],
    "AppManifest": [("signer_id", 1, "uint64"), ("body", 2, "AppManifest.AppBody"),
                    ("signature", 3, "bytes")],
    "KernelLayerReference": [("target", 1, "KernelLayerRegion"), ("encrypted_with_key_id", 2, "uint64"),
                             ("fetch_hash", 3, "bytes")],
    "KernelMeta": [("version_security_ratchet", 1, "uint32"), ("device_type", 2, "DeviceType"),
                   ("version_string", 3, "string"), ("version_number", 4, "uint32")],
    "KernelManifest.KernelBody": [("layers", 1, "KernelLayerReference", True), ("meta", 2, "KernelMeta")],
    "KernelManifest": [("signer_id", 1, "uint64"), ("body", 2, "KernelManifest.KernelBody"),
                       ("signature", 3, "bytes")],
}
_ENUMS = {
    "KernelLayerRegion": ["Invalid", "Kernel", "NSC", "Boot", "Upgrader"],
    "DeviceType": ["Invalid", "Imp201c", "Imp201f"],
}


def _build() -> dict[str, type]:
    file = descriptor_pb2.FileDescriptorProto(name="microvisor_bundle.proto", package="bundle",
                                              syntax="proto3")
    for name, values in _ENUMS.items():
        enum = file.enum_type.add(name=name)
        for number, value in enumerate(values):
            # proto3 enum values share the package scope: prefix them as protoc would need.
            enum.value.add(name=f"{name}_{value}", number=number)
    made: dict[str, descriptor_pb2.DescriptorProto] = {}
    for dotted, fields in sorted(_MESSAGES.items(), key=lambda item: item[0].count(".")):
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
                field.type = _F.TYPE_ENUM if kind in _ENUMS else _F.TYPE_MESSAGE
                field.type_name = f".bundle.{kind}"
            if len(rest) > 1:
                if rest[1] not in oneofs:
                    oneofs[rest[1]] = len(message.oneof_decl)
                    message.oneof_decl.add(name=rest[1])
                field.oneof_index = oneofs[rest[1]]
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"bundle.{name}"))
            for name in _MESSAGES}


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
