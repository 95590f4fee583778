"""The model zoo, every model written with the recurrence API (no hand-written backward code)
and following one protocol (``graph``, ``feed``, ``state_shapes``, ``recurrence``: see
:class:`Module`), so calls, ``loss_and_grad``, ``fit``, generation and diagrams work alike."""

from .checks import TokenError
from .layers import Embedding, Linear
from .module import Module, StateDictError
from .elman import Elman
from .heads import LanguageModel, Readout
from .jordan import Autonomous, Jordan
from .rnn import GRU, LSTM, RNN, RNNBase
from .seq2seq import Seq2Seq

__all__ = ["Module", "StateDictError", "TokenError", "Linear", "Embedding", "RNNBase", "RNN", "LSTM", "GRU",
           "Jordan", "Autonomous", "Seq2Seq", "Readout", "LanguageModel", "Elman"]
