"""The factory: SPI image, SFI card, installer station, Microvisor test program."""
