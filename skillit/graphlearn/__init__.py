"""Learning a skills graph from short training runs ("probes"): plan, run, estimate, write.

This package sits above training: its runner drives `skillit.training.train` through the build layer.
Nothing below training imports it; the graph file format it writes is `skillit.graph`.
"""
