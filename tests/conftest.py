import os, tempfile
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')
# pytest -n 2 on two cores: one thread per worker. With the default (one per core) each worker's
# OpenMP threads spin against the other's, and small FFTs in the notebooks become ~100× slower.
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')
# The director's reply cache (default ~/.cache/dreamjourney/director) is shared by every run on the machine: a reply cached by an
# earlier run or test makes the director skip its request. Tests get a cache of their own, empty when the session starts.
os.environ['DREAMJOURNEY_CACHE'] = tempfile.mkdtemp(prefix='dj_test_cache_')
