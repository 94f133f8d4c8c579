"""Golden cases for src/ops/rnn.c: torch's fused lstm, gru, rnn_tanh and rnn_relu over one
layer (torch.lstm etc. with a flat weight list, as nn.LSTM calls them). Rows with initial
states return the outputs and final states packed along dim 0, as the C rows do."""
import torch


def packed(fn):
    def run(x, h0, *rest):
        if fn is torch.lstm:
            out, h, c = fn(x, (h0, rest[0]), list(rest[1:]), True, 1, 0.0, False, False, False)
            return torch.cat([out, h, c], 0)
        out, h = fn(x, h0, list(rest), True, 1, 0.0, False, False, False)
        return torch.cat([out, h], 0)
    return run


def batch_first(fn, hidden=6):
    def run(x, *ws):
        n = x.shape[0]
        ws = list(ws)
        has_biases = len(ws) == 4
        zero = torch.zeros(1, n, hidden, dtype=x.dtype)
        hx = (zero, zero) if fn is torch.lstm else zero
        return fn(x, hx, ws, has_biases, 1, 0.0, False, False, True)[0]
    return run


CASES = {
    "lstm_layer": packed(torch.lstm),
    "lstm_wide": packed(torch.lstm),
    "lstm_batch_first": batch_first(torch.lstm),
    "gru_layer": packed(torch.gru),
    "gru_batch_first": batch_first(torch.gru),
    "rnn_tanh": packed(torch.rnn_tanh),
    "rnn_relu": packed(torch.rnn_relu),
}
