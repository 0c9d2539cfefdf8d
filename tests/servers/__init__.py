"""Real-socket test servers used by the provider, SDK and example tests (and by ``bench/``)."""
