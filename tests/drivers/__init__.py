"""Host device drivers (pyhv/drivers) against register-level device models (tests/drivers/models)."""
