"""What the Numba targets share: element tables and expression generation, the driver
writer, the program record, the kernel cache, and the target base class (``target.py``)."""
