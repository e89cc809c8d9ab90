"""The science, tensors in and tensors out: the data and its episodes, the Conv-4, the one
inner loop of MAML and Meta-SGD (`meta.adapt`), stacked training state, the head-free
probe and the rate meta-gradient diagnostic. Reads datasets (``data``), never a run
directory; imports nothing of the package outside ``core`` but ``stats``."""
