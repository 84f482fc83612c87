"""The sample digit classifier in PyTorch: the same architecture as the Keras one.

Load it in edgekit with a factory spec:
    edgekit convert sample_models/digits_torch.py:build \
        --weights sample_models/digits_torch.pt --target android
"""
import torch
from torch import nn


class DigitNet(nn.Module):
    """28x28x1 grayscale digit (NCHW, values 0..1) -> 10 class probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 5 * 5, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier(self.features(x)), dim=-1)


def build() -> nn.Module:
    return DigitNet()
