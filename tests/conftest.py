import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')
# pytest -n 2 on two cores: one thread per worker. With the default (one per core) each worker's
# OpenMP threads spin against the other's, and small FFTs in the notebooks become ~100× slower.
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')
