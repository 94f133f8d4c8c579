"""Twin of bench/lstm.c: embedding 96 -> 64, nn.LSTM(64, 128, num_layers=2, batch_first),
Linear(128, 96), batches of 64 sequences of 40 random characters, hidden state carried from
batch to batch and detached (truncated BPTT), Adam lr 2e-3, clip_grad_norm_ 5. Prints the same
JSON line (median step time over 5 rounds of 20 steps after 5 warm-up steps, characters/s,
GFLOP/s, peak RSS). Run through ../shared/bench/torch-tuned (scripts/bench does)."""
import json
import resource
import statistics
import time

import torch

import common

filt = common.setup("lstm.py")
torch.manual_seed(1)

VOCAB, EMBED, HIDDEN, SEQ, BATCH, ROUNDS, STEPS = 96, 64, 128, 40, 64, 5, 20
STEP_FLOPS = 6.0 * BATCH * SEQ * (4 * HIDDEN * (EMBED + HIDDEN) + 4 * HIDDEN * 2 * HIDDEN
                                  + HIDDEN * VOCAB)


class CharLSTM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, EMBED)
        self.lstm = torch.nn.LSTM(EMBED, HIDDEN, num_layers=2, batch_first=True)
        self.out = torch.nn.Linear(HIDDEN, VOCAB)

    def forward(self, x, state):
        y, state = self.lstm(self.embed(x), state)
        return self.out(y), state


def bench_lstm():
    model = CharLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    state = None
    times = []
    for r in range(-1, ROUNDS):
        steps = 5 if r < 0 else STEPS
        t0 = time.perf_counter()
        for _ in range(steps):
            x = torch.randint(0, VOCAB, (BATCH, SEQ))
            y = torch.randint(0, VOCAB, (BATCH, SEQ))
            if state is not None:
                state = tuple(s.detach() for s in state)
            opt.zero_grad(set_to_none=False)
            logits, state = model(x, state)
            loss = loss_fn(logits.reshape(-1, VOCAB), y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            loss.item()
        if r >= 0:
            times.append((time.perf_counter() - t0) * 1e3 / steps)
    step = statistics.median(times)
    print(json.dumps({"name": "char-lstm 2x128 train step", "ms": round(step, 4),
                      "chars_per_s": round(BATCH * SEQ / step * 1e3),
                      "gflops": round(STEP_FLOPS / step / 1e6, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                           / 1024, 1)}), flush=True)


if not filt or filt in "char-lstm 2x128 train step":
    bench_lstm()
