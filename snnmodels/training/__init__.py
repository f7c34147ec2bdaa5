"""Training spiking networks on eventkit frame stores.

>>> from snnmodels.training import TrainConfig, fit, evaluate_checkpoint
>>> result = fit(TrainConfig(store="…/frames-T8-time.zarr", model="small", epochs=10, out="runs/demo"))
>>> report = evaluate_checkpoint("runs/demo/best.pt", "…/frames-T8-time.zarr", samples=[0, 5])
"""

from snnmodels.training.data import FrameBatches, StoreInfo, store_info
from snnmodels.training.evaluation import EvalResult, evaluate_checkpoint, format_report
from snnmodels.training.loop import EpochStats, evaluate, train_one_epoch
from snnmodels.training.losses import LOSSES, firing_rate, probabilities, rate_ce_loss, rate_mse_loss
from snnmodels.training.metrics import ActivityMonitor, confusion_matrix, topk_correct
from snnmodels.training.plots import plot_confusion, plot_curves
from snnmodels.training.trainer import TrainConfig, TrainResult, fit, load_checkpoint, model_from_checkpoint

__all__ = [
    "FrameBatches", "StoreInfo", "store_info", "EvalResult", "evaluate_checkpoint", "format_report",
    "EpochStats", "evaluate", "train_one_epoch", "LOSSES", "firing_rate", "probabilities", "rate_ce_loss",
    "rate_mse_loss", "ActivityMonitor", "confusion_matrix", "topk_correct", "plot_confusion", "plot_curves",
    "TrainConfig", "TrainResult", "fit", "load_checkpoint", "model_from_checkpoint",
]
