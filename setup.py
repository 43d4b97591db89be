"""The one thing pyproject.toml does not say: ampkit's optional C extension.

The export decoder (``src/ampkit/export/_decoder.c``, Python's headers and nothing else) is
``optional``: on a machine without a C compiler the build goes on without it, and the export
readers use DuckDB's JSON reader and the Python converter instead (same rows, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ampkit.export._decoder",
            sources=["src/ampkit/export/_decoder.c"],
            optional=True,
        )
    ]
)
