"""sign_notes: a Jupyter-first course on recognising signs and actions from skeleton landmarks, as a package.

Framework-free (importing `sign_notes` loads neither framework): core, landmarks, data, synth, stats, device, viz,
graph, fsd, cli. TensorFlow/Keras 3: `sign_notes.islr`. PaddlePaddle: `sign_notes.stgcn`, which refuses to load
after TensorFlow, since paddle imported after tensorflow crashes the process. Written in nbs/ with nbdev 2; this
file is the only module not exported from a notebook (nbdev keeps its `__version__` line up to date).
"""

__version__ = "0.1.0"
