"""bioauth: the service's code."""

import os

# numpy's OpenBLAS keeps a worker thread per core that spins after each call: about 100 ms of CPU per request,
# taken from the other requests' steps. The service's matrices are small and its requests already run side by
# side, so one BLAS thread. Read once, when numpy is first imported (after this); a value set outside stands.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
