"""Skills graphs: the file format (io) and its heatmap (plot). Pure: numpy only, no training.

How graphs are learned from training runs is `skillit.graphlearn`, a layer above training.
"""

from skillit.graph.io import (
    SkillGraph,
    complete_graph,
    export_npy,
    graph_from_config,
    identity_graph,
    load_graph,
    save_graph,
)

__all__ = [
    "SkillGraph",
    "complete_graph",
    "export_npy",
    "graph_from_config",
    "identity_graph",
    "load_graph",
    "save_graph",
]
