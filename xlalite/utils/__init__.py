"""Utilities around training: TensorBoard logging (``SummaryWriter``)."""

from xlalite.utils.tensorboard import SummaryWriter, graph_def

__all__ = ["SummaryWriter", "graph_def"]
