"""Skills graphs: the file format (this package's io) and, elsewhere in it, how graphs are learned.

Importing this package stays light (numpy only); learning code imports torch on its own.
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
