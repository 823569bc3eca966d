"""The nightly SQLite source: agreement, product and meterpoint, snapshotted into the lake."""
