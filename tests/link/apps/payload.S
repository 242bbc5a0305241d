/* payload.S - the blob PAYLOAD_FILE, in flash after the code. */
    .section .rodata.payload, "a"
    .balign 4
    .global payload_start
    .global payload_end
payload_start:
    .incbin PAYLOAD_FILE
payload_end:
