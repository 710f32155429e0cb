"""Storage: the driver interface, Distribution's layout, and drivers."""
