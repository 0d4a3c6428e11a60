"""Recording the host: psutil readings to samples (`sampler`), the `recorder` loop, top `processes`."""
