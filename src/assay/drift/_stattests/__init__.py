"""Built-in drift tests; each module registers one test."""
