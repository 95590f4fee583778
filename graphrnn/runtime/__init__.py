"""Running graphs: the array backends (NumPy, CuPy, CUDA-on-host), the reference
evaluator with its input binding, anomaly mode and gradient checking."""
