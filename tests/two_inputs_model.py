import torch
from torch import nn


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.cls = nn.Linear(4 * 8 * 8 + 8, 5)
        self.reg = nn.Linear(8, 2)

    def forward(self, image, ids):
        tokens = self.embed(ids).mean(1)
        features = torch.cat([torch.relu(self.conv(image)).flatten(1), tokens], 1)
        return self.cls(features), self.reg(tokens)


def build():
    torch.manual_seed(0)
    return TwoHeads()
