import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OVCC_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "ovcc"))
