"""glpsearch's version: one place, read by pyproject.toml (setuptools' dynamic version), the
records and the model cards."""

__version__ = "0.1.0"
