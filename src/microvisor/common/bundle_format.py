"""What the bundle format fixes, without protobuf or cryptography: the manifest's message tables
(`manifest_schema` builds its classes from them) and the sizes a bundle may have. The command line's
--help reads its ranges and defaults here, so that it loads neither."""

from __future__ import annotations

APP_FLASH_REGION_SIZE = 0x100000  # the application's internal flash, as the official tool targets it
# What a bundle may hold: layers for at most the 1 MiB of application flash (or a kernel), a manifest
# and a few small records; anything beyond is refused before it is inflated.
MAX_BUNDLE_FILE = 8 * 1024 * 1024  # bytes of ZIP
MAX_UPLOAD = MAX_BUNDLE_FILE + 64 * 1024  # a bundle and the multipart form around it (the service's default)

# message -> [(field, number, type, repeated, oneof)]; a type that is not a scalar names a
# message, or an enum when it is listed in ENUMS. Field numbers are the published ones
# (shared/reference/bundle-format.md); `Signature` and OpaqueManifest.countersignatures (4) are
# this project's addition for co-signing: proto3 readers of the published schema skip field 4.
MESSAGES: dict[str, list[tuple]] = {
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
ENUMS = {
    "KernelLayerRegion": ["Invalid", "Kernel", "NSC", "Boot", "Upgrader"],
    "DeviceType": ["Invalid", "Imp201c", "Imp201f"],
}


def field_type(message: str, field: str) -> str:
    """The type of a field (a dotted path through nested messages, e.g. "crash.minimum_restart_ms") of
    a message of MESSAGES: a scalar's name ("uint32"), or the message or enum it names."""
    *parents, leaf = field.split(".")
    for name in parents:
        message = _field(message, name)[2]
    return _field(message, leaf)[2]


def _field(message: str, name: str) -> tuple:
    """The MESSAGES row of one field; KeyError when the message has none of that name."""
    for row in MESSAGES[message]:
        if row[0] == name:
            return row
    raise KeyError(f"{message} has no field {name!r}")
