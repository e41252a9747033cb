"""Audio models with an STFT front end and a recurrent body, as factories for ``--model recurrent_models:NAME``."""

from __future__ import annotations

import torch
from fft_zoo import LogMel
from torch import nn


class LstmTagger(nn.Module):
    """Log-mel frames (stft) through a two-layer bidirectional LSTM to per-frame scores: a keyword spotter's shape."""

    def __init__(self) -> None:
        super().__init__()
        self.front = LogMel(n_fft=64, hop=16, n_mels=12)
        self.lstm = nn.LSTM(12, 8, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(16, 3)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        frames, _ = self.lstm(self.front(wave))
        return self.head(frames)


def lstm_tagger() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """``recurrent_models:lstm_tagger``: two 400-sample waves."""
    torch.manual_seed(0)
    return LstmTagger().eval(), (torch.randn(2, 400),)
