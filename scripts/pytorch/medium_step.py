"""The `medium` preset's training step in PyTorch, for `scripts/pytorch-comparison`.

The same model as ntng's MaskedLanguageModel: pre-LayerNorm BERT encoder, bias-free linears,
scaled sinusoidal positions, embedding LayerNorm, plain tanh-GELU FFN, final LayerNorm on the
masked rows only, a bias-free head transform and a decoder tied to the token embedding; the same
batch (64 x 128 tokens, 15 % masked, about 1128 masked rows) and the same step (forward, backward,
global-norm clipping at 1.0, AdamW). Not part of ntng: it runs in a scratch virtual environment.

Prints one JSON line: {"mode", "threads", "samples": [seconds per step, ...]}.
"""
import argparse, json, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F

V, H, NH, FF, L, S, B = 8192, 256, 4, 1024, 4, 128, 64


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(H, eps=1e-12)
        self.qkv = nn.Linear(H, 3 * H, bias=False)
        self.out = nn.Linear(H, H, bias=False)
        self.norm2 = nn.LayerNorm(H, eps=1e-12)
        self.up = nn.Linear(H, FF, bias=False)
        self.down = nn.Linear(FF, H, bias=False)

    def forward(self, x):
        b, s, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, NH, H // NH).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, H)
        x = x + self.out(a)
        return x + self.down(F.gelu(self.up(self.norm2(x)), approximate="tanh"))


class MaskedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.token = nn.Embedding(V, H)
        nn.init.normal_(self.token.weight, std=0.02)
        self.position_scale = nn.Parameter(torch.tensor(1 / math.sqrt(H)))
        position = torch.arange(S).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, H, 2) * (-math.log(10000.0) / H))
        table = torch.zeros(S, H)
        table[:, 0::2], table[:, 1::2] = torch.sin(position * frequency), torch.cos(position * frequency)
        self.register_buffer("sinusoids", table)
        self.embedding_norm = nn.LayerNorm(H, eps=1e-12)
        self.layers = nn.ModuleList(Layer() for _ in range(L))
        self.final_norm = nn.LayerNorm(H, eps=1e-12)
        self.head = nn.Linear(H, H, bias=False)

    def forward(self, tokens, positions, labels):
        x = self.embedding_norm(self.token(tokens) + self.position_scale * self.sinusoids)
        for layer in self.layers:
            x = layer(x)
        rows = self.final_norm(x.reshape(-1, H)[positions])
        logits = self.head(rows) @ self.token.weight.t()
        return F.cross_entropy(logits, labels)


def batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(5, V, (B, S), generator=g)
    per = round((S - 2) * 0.15)
    flat = []
    for row in range(B):
        cols = sorted(set(torch.randint(1, S - 1, (per,), generator=g).tolist()))
        flat += [row * S + c for c in cols]
    positions = torch.tensor(flat)
    labels = tokens.reshape(-1)[positions].clone()
    tokens.reshape(-1)[positions] = 4
    return tokens, positions, labels


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["eager", "compile", "bf16"], required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = MaskedLM()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    tokens, positions, labels = batch()
    loss_of = torch.compile(model) if a.mode == "compile" else model

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.mode == "bf16"):
            loss = loss_of(tokens, positions, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    samples = []
    for _ in range(a.steps):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    print(json.dumps({"mode": a.mode, "threads": a.threads, "torch": torch.__version__, "samples": samples}))


if __name__ == "__main__":
    main()
