"""Sources that write stores: ``synthetic`` (embedded default), ``files`` (your exports)."""
