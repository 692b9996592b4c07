"""Benchmarks of hotline against baselines measured in the same run (DESIGN §5a); not run by pytest."""
