"""Dataset reading, verification and splitting."""
