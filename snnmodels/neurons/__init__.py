"""Spiking neurons: functional API (:mod:`.functional`) and thin modules (:mod:`.modules`)."""

from snnmodels.neurons.config import NeuronConfig
from snnmodels.neurons.functional import LIFState
from snnmodels.neurons.modules import IF, LIAF, LIF, PLIF
from snnmodels.neurons.surrogate import heaviside

__all__ = ["IF", "LIF", "PLIF", "LIAF", "LIFState", "NeuronConfig", "heaviside"]
