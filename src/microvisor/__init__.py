"""Microvisor: virtual STM32U585, microvisor kernel, cloud service, developer and factory tools."""
