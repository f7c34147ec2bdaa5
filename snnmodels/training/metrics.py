r"""Accuracy, confusion matrices, per-layer firing rates and synaptic-operation counts.

Energy estimate
---------------
:class:`ActivityMonitor` hooks every ``Conv2d``/``Linear`` and every spiking neuron of a model.
A synaptic layer whose input is binary (spikes) performs one accumulate per input spike and per
outgoing synapse (a synaptic operation, SOP); a layer with real-valued input (the first conv on
event counts) performs multiply-accumulates (MACs) for every weight use:

.. math::

    \mathrm{SOP}_{\mathrm{conv}} &= \mathrm{nnz}(X)\,\frac{C_{out}\,k_h k_w}{s_h s_w}, \qquad
    \mathrm{SOP}_{\mathrm{fc}} = \mathrm{nnz}(X)\,F_{out} \\
    \mathrm{MAC}_{\mathrm{conv}} &= |Y|\,\frac{C_{in}}{g}\,k_h k_w, \qquad
    \mathrm{MAC}_{\mathrm{fc}} = N\,F_{in} F_{out} \\
    E &= E_{AC}\,\mathrm{SOP} + E_{MAC}\,\mathrm{MAC}, \quad
    E_{AC} = 0.9\ \mathrm{pJ},\ E_{MAC} = 4.6\ \mathrm{pJ}

summed over layers and time steps and divided by the number of samples (per-inference numbers).
The energies are 32-bit float add / multiply-add in 45 nm CMOS (Horowitz, ISSCC 2014), the
convention of the SNN literature; the conv SOP count ignores border effects of padding (an upper
bound). Padded time steps of variable-length batches are counted too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from snnmodels.neurons.modules import _Neuron

__all__ = ["rank_classes", "predict", "topk_correct", "confusion_matrix", "ActivityMonitor", "LayerActivity", "E_AC_PJ", "E_MAC_PJ"]

E_AC_PJ = 0.9
E_MAC_PJ = 4.6


def rank_classes(scores: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Class indices ordered by descending score: the ONE ranking every prediction uses.

    Tie rule: among equal scores the lower class index ranks first (a stable descending sort),
    on every device. ``argmax`` predictions (:func:`predict`, the confusion matrix), top-k
    accuracy (:func:`topk_correct`) and the per-sample top-k lines of ``snnmodels eval`` all come
    from this function, so they never disagree on a tie.

    Parameters
    ----------
    scores
        ``[..., K]`` scores (firing rates, logits or probabilities).
    k
        Keep the first ``k`` classes (None: all ``K``; larger than ``K``: ``K``).

    Returns
    -------
    torch.Tensor
        ``[..., min(k, K)]`` int64 class indices.
    """
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    return order if k is None else order[..., : min(k, scores.shape[-1])]


def predict(scores: torch.Tensor) -> torch.Tensor:
    """Top-1 class of each row (ties: the lowest class index, see :func:`rank_classes`)."""
    return rank_classes(scores, 1)[..., 0]


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 3)) -> dict[int, int]:
    """Number of samples whose label is among the ``k`` highest scores, for each ``k``.

    Ties follow :func:`rank_classes` (lower class index first).
    """
    out = {}
    k_max = min(max(ks), scores.shape[-1])
    top = rank_classes(scores, k_max)
    hit = top == labels[:, None]
    for k in ks:
        out[k] = int(hit[:, : min(k, k_max)].any(-1).sum())
    return out


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``cm[true, predicted]`` counts, ``[K, K]`` int64."""
    idx = labels.to(torch.int64) * num_classes + preds.to(torch.int64)
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


@dataclass
class LayerActivity:
    """Accumulated activity of one hooked layer."""

    name: str
    kind: str  # "neuron", "conv", "fc"
    spikes: float = 0.0  # neurons: output spikes; synaptic layers: SOPs
    elements: float = 0.0  # neurons: output elements; synaptic layers: MACs
    binary_input: bool = True

    @property
    def rate(self) -> float:
        """Neurons: mean firing rate (spikes per neuron per step)."""
        return self.spikes / self.elements if self.elements else 0.0


@dataclass
class ActivityMonitor:
    """Context manager recording firing rates and SOP/MAC counts during forwards.

    Examples
    --------
    >>> with ActivityMonitor(model) as mon:
    ...     model(x_seq)
    >>> mon.summary(num_samples=x_seq.shape[1])
    """

    model: nn.Module
    layers: dict[str, LayerActivity] = field(default_factory=dict)
    _handles: list = field(default_factory=list)

    def __enter__(self) -> ActivityMonitor:
        for name, mod in self.model.named_modules():
            if isinstance(mod, _Neuron):
                self.layers[name] = LayerActivity(name, "neuron")
                self._handles.append(mod.register_forward_hook(self._neuron_hook(name)))
            elif isinstance(mod, (nn.Conv2d, nn.Linear)):
                self.layers[name] = LayerActivity(name, "conv" if isinstance(mod, nn.Conv2d) else "fc")
                self._handles.append(mod.register_forward_hook(self._synapse_hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _neuron_hook(self, name: str):
        def hook(mod: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            rec = self.layers[name]
            rec.spikes += float(out.detach().float().sum())
            rec.elements += out.numel()
        return hook

    def _synapse_hook(self, name: str):
        def hook(mod: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            rec = self.layers[name]
            x = inputs[0].detach()
            binary = bool(((x == 0) | (x == 1)).all())
            rec.binary_input = rec.binary_input and binary
            if isinstance(mod, nn.Conv2d):
                kh, kw = mod.kernel_size
                sh, sw = mod.stride
                fan_out = mod.out_channels * kh * kw / (sh * sw)
                macs = out.numel() * (mod.in_channels // mod.groups) * kh * kw
            else:
                fan_out = mod.out_features
                macs = x.numel() * mod.out_features
            if binary:
                rec.spikes += float(torch.count_nonzero(x)) * fan_out
            else:
                rec.elements += float(macs)
        return hook

    def summary(self, num_samples: int) -> dict:
        """Per-inference numbers: firing rate per neuron layer, SOPs, MACs and energy (µJ)."""
        n = max(num_samples, 1)
        rates = {k: v.rate for k, v in self.layers.items() if v.kind == "neuron"}
        sops = sum(v.spikes for v in self.layers.values() if v.kind != "neuron") / n
        macs = sum(v.elements for v in self.layers.values() if v.kind != "neuron") / n
        energy_uj = (E_AC_PJ * sops + E_MAC_PJ * macs) * 1e-6
        return {"firing_rates": rates, "sops": sops, "macs": macs, "energy_uj": energy_uj}
