"""A tiny training run driven by muse.core.train.Trainer, used by test_resume.py and test_ddp.py.

Run as a script (plain `python` or under `torchrun`): trains a small next-token model on fixed
random sequences and writes `metrics.jsonl` and checkpoints to OUT_DIR. `--kill-at N` makes the
process SIGKILL itself right after optimizer step N (after that step's checkpoint, if any).
"""

from __future__ import annotations

import argparse
import os
import signal

import torch
from torch import nn

from muse.core.distributed import shutdown_distributed
from muse.core.train import LossOutput, TrainConfig, Trainer

VOCAB, LENGTH = 13, 9


class TinyLM(nn.Module):
    def __init__(self, dropout: float, width: int = 16) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, width)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList([nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.Tanh())
                                     for _ in range(2)])
        self.head = nn.Linear(width, VOCAB)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.emb(x))
        for layer in self.layers:
            h = h + layer(h)
        return self.head(h)

    def next_token_loss(self, batch: torch.Tensor) -> LossOutput:
        """A method other than forward, as real models have (DDP/FSDP must still see it)."""
        logits = self(batch[:, :-1])
        target = batch[:, 1:]
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten())
        return LossOutput(loss, {"accuracy": (logits.argmax(-1) == target).float().mean()}, target.numel())


def loss_fn(model: TinyLM, batch: torch.Tensor) -> LossOutput:
    return model.next_token_loss(batch)


def sequences(n: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, VOCAB, (LENGTH,), generator=g) for _ in range(n)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--grad-accum", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--checkpoint-every", type=int, default=3)
    p.add_argument("--strategy", default="auto")
    p.add_argument("--kill-at", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(1234)  # model initialisation
    model = TinyLM(args.dropout)
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=3e-3, warmup_steps=2,
        weight_decay=0.1, grad_clip=0.5, eval_every=4, checkpoint_every=args.checkpoint_every,
        keep_checkpoints=2, seed=7, strategy=args.strategy,
    )

    def on_step(step: int, record: dict) -> None:
        if step == args.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    trainer = Trainer(model, loss_fn, sequences(48, 0), sequences(12, 1), config, args.out_dir,
                      model_config={"vocab": VOCAB, "dropout": args.dropout}, on_step=on_step, progress=False)
    trainer.fit(resume=args.resume)
    shutdown_distributed()


if __name__ == "__main__":
    main()
