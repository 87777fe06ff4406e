"""The same Predictor behind other servers, for bench/bench_peers.py (not part of the product)."""
