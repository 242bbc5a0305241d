"""The virtual STM32U585: CPU, exception model, memory, storage, peripherals, debug port."""
