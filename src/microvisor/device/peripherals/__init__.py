"""Memory-mapped peripherals of the virtual STM32U585."""
