"""The microvisor kernel: system-call handlers plugged into the device."""
