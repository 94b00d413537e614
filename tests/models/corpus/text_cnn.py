# Corpus program of tracejit's real-model tests (tests/models/runner.py): the upstream
# file below this header is kept byte for byte; only this header was added.
# Source: https://github.com/Shawn1993/cnn-text-classification-pytorch/blob/93415f08168a1ae60635320569f6eca0ae3a40bb/model.py
# Repository: Shawn1993/cnn-text-classification-pytorch
# Path: model.py
# Commit: 93415f08168a1ae60635320569f6eca0ae3a40bb
# Licence: Apache-2.0, copyright notice that is included in or attached to the work;
# the full licence text is in tests/models/corpus/LICENSES/Shawn1993+cnn-text-classification-pytorch.txt.
# ------------------------------------------------------------------------------
import torch
import torch.nn as nn
import torch.nn.functional as F


class CNN_Text(nn.Module):

    def __init__(self, args):
        super(CNN_Text, self).__init__()
        self.args = args

        V = args.embed_num
        D = args.embed_dim
        C = args.class_num
        Ci = 1
        Co = args.kernel_num
        Ks = args.kernel_sizes

        self.embed = nn.Embedding(V, D, padding_idx=0)
        # Kim's paper: uniform[-0.25, 0.25] initialization for random embeddings
        nn.init.uniform_(self.embed.weight, -0.25, 0.25)
        self.embed.weight.data[0].fill_(0)  # padding stays zero

        self.convs = nn.ModuleList([nn.Conv2d(Ci, Co, (K, D)) for K in Ks])
        self.dropout = nn.Dropout(args.dropout)
        self.fc1 = nn.Linear(len(Ks) * Co, C)

        if self.args.static:
            self.embed.weight.requires_grad = False

    def forward(self, x):
        x = self.embed(x)  # (N, W, D)

        x = x.unsqueeze(1)  # (N, Ci, W, D)

        x = [F.relu(conv(x)).squeeze(3) for conv in self.convs]  # [(N, Co, W), ...]*len(Ks)

        x = [F.max_pool1d(i, i.size(2)).squeeze(2) for i in x]  # [(N, Co), ...]*len(Ks)

        x = torch.cat(x, 1)

        x = self.dropout(x)  # (N, len(Ks)*Co)
        logit = self.fc1(x)  # (N, C)
        return logit
