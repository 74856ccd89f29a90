"""Register-level device models the driver tests run against."""
