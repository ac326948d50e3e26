"""Sample AI job: a character-level GPT in PyTorch, trained from scratch on a text uplinked as a
job input (``train``), and text generated from a trained model or a checkpoint (``generate``).
Runs on CUDA where there is a GPU, on the CPU otherwise (``--device``).

Both follow the payload's job protocol (docs/jobs.md):

- $JOB_READY_FILE is made once SIGUSR1 and SIGTERM are handled;
- SIGUSR1: a checkpoint at the next step boundary, named in $JOB_CHECKPOINT_DIR/LATEST;
- SIGTERM: a checkpoint, then exit 143;
- $JOB_RESUME: the checkpoint to go on from. A checkpoint holds the whole state of the run (the
  weights, the optimizer's moments, every random generator, the losses so far, the settings and
  the CPU thread count), so a run that is stopped and resumed ends bit-identical on the CPU to
  one that never stopped. On CUDA, deterministic kernels are asked for (cuBLAS's workspace fixed,
  TF32 off); how close a resumed run ends there is not measured yet (no GPU so far);
- $JOB_INTEGRITY=abft: ABFT over the linear layers (``Abft``), exit 86 when it catches
  corruption, before any checkpoint holds it;
- $JOB_REPLAY_TO: replay the interval from $JOB_RESUME to the checkpoint it names, write it, exit
  0 (checkpoint-replay);
- $SIM_GPU_UPSETS, bench only: the simulated GPU's weight upsets to take (``Upsets``).

Files are safetensors (deterministic: the same state is the same octets). Results, in the job
directory: ``train`` leaves model.safetensors, losses.json and samples.txt; ``generate`` leaves
generated.txt; each with its SHA-256 in SHA256SUMS. The payload downlinks them with their SHA-256
(RESULTS.json). A checkpoint's name is ``step-NNNNNNN.safetensors``; its SHA-256 is the digest of
the model state at that step.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import signal
import sys
import time
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS: before CUDA

try:
    import torch
    from safetensors.torch import load as load_tensors
    from safetensors.torch import save as save_tensors
    from torch import nn
    from torch.nn import functional as F
except ImportError as missing:  # a flight image without the [ai] extra
    print(f"char-gpt: {missing.name} is not installed (the [ai] extra)", file=sys.stderr)
    sys.exit(2)

META_KEY = "char_gpt"  # the one metadata entry: JSON with sorted keys (so octets are stable)
PROGRESS_EVERY = 10
SDC_EXIT = 86  # the job protocol's: silent data corruption caught, no checkpoint written since


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then a 4x MLP."""

    def __init__(self, embd: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln1, self.ln2 = nn.LayerNorm(embd), nn.LayerNorm(embd)
        self.qkv = nn.Linear(embd, 3 * embd)
        self.proj = nn.Linear(embd, embd)
        self.fc = nn.Linear(embd, 4 * embd)
        self.out = nn.Linear(4 * embd, embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(b, t, c)))
        return x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)))))


class CharGPT(nn.Module):
    def __init__(self, vocab: int, block: int, layers: int, heads: int, embd: int, dropout: float):
        super().__init__()
        self.block = block
        self.tok = nn.Embedding(vocab, embd)
        self.pos = nn.Embedding(block, embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(embd, heads, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(embd)
        self.head = nn.Linear(embd, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.drop(self.tok(idx) + self.pos(pos))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


# --- integrity


class SilentCorruption(Exception):
    """A check found a product or a weight that is not what it should be."""


class Abft:
    """Algorithm-based fault tolerance for the model's linear layers ($JOB_INTEGRITY=abft).

    After every update each weight matrix's column sums (and those of its magnitudes) are kept.
    A layer computes y = x W^T + b, so the sum of each output row must equal x times the column
    sums, plus the sum of b, within float rounding; a weight changed in memory since the update,
    or a wrong product, makes them disagree. Checked on every forward pass, and over the weights
    themselves before a checkpoint or a result is written, so corruption caught never reaches
    one. The embeddings and layer norms are not matrix products and are not covered; a flip too
    small to exceed float rounding (a low mantissa bit) is not caught (docs/jobs.md)."""

    RTOL = 1e-3

    def __init__(self, model: nn.Module) -> None:
        self.layers = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        self.sums: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        for name, layer in self.layers.items():
            layer.register_forward_hook(self._check(name))
        self.refresh()

    @torch.no_grad()
    def refresh(self) -> None:
        """Take the checksums of the weights as they are now (after an update)."""
        for name, layer in self.layers.items():
            w = layer.weight
            bias = layer.bias.sum() if layer.bias is not None else w.new_zeros(())
            self.sums[name] = (w.sum(0), w.abs().sum(0), bias)

    def _check(self, name: str):  # noqa: ANN202 (a forward hook)
        @torch.no_grad()
        def check(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            col, mag, bias = self.sums[name]
            x = inputs[0]
            bound = self.RTOL * (x.abs() @ mag + bias.abs()) + 1e-6
            if not ((output.sum(-1) - (x @ col + bias)).abs() <= bound).all():  # NaN fails too
                raise SilentCorruption(f"{name}: its product disagrees with its checksums")

        return check

    @torch.no_grad()
    def verify_weights(self) -> None:
        for name, layer in self.layers.items():
            col, mag, _ = self.sums[name]
            if not ((layer.weight.sum(0) - col).abs() <= self.RTOL * mag + 1e-6).all():
                raise SilentCorruption(f"{name}: its weights disagree with their checksums")


def integrity_for(model: nn.Module) -> Abft | None:
    policy = os.environ.get("JOB_INTEGRITY", "none")
    if policy not in ("none", "abft"):
        raise SystemExit(f"char-gpt: JOB_INTEGRITY {policy!r}: this job checks none or abft")
    return Abft(model) if policy == "abft" else None


def caught(exc: SilentCorruption) -> int:
    """Exit SDC_EXIT, saying what was caught: the controller runs the job again from its last
    checkpoint (which the check kept clean)."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # no checkpoint now, and none while exiting
    print(f"char-gpt: silent data corruption caught: {exc}", file=sys.stderr, flush=True)
    return SDC_EXIT


# --- the job protocol


class Signals:
    """SIGUSR1 and SIGTERM, noted to be acted on at the next step boundary."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        signal.signal(signal.SIGUSR1, lambda *_: self.asked.append("checkpoint"))
        signal.signal(signal.SIGTERM, lambda *_: self.asked.append("stop"))
        Path(os.environ.get("JOB_READY_FILE", "ready")).touch()

    def take(self) -> set[str]:
        """What was asked since the last boundary, once each: requests that piled up while the
        job started or computed give one checkpoint, not one each."""
        taken, self.asked[:] = set(self.asked), []
        return taken

    @staticmethod
    def done() -> None:
        """The work is written: SIGUSR1 and SIGTERM ignored from here (Python puts back their
        default actions, which kill, while it shuts down; the controller may still ask for a
        checkpoint, or stop it, meanwhile), so a finished run ends 0."""
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_results(results: dict[str, bytes]) -> None:
    """The result files, and SHA256SUMS with the digest of each as computed here, from the
    octets in memory: the controller checks the files against it before they go down, so an
    upset in storage after they were written is caught (docs/jobs.md)."""
    for name, data in results.items():
        write_atomically(Path(name), data)
    sums = [f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in results.items()]
    write_atomically(Path("SHA256SUMS"), "".join(sums).encode())


def checkpoint_dir() -> Path:
    directory = Path(os.environ.get("JOB_CHECKPOINT_DIR", "checkpoints"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def write_checkpoint(step: int, tensors: dict[str, torch.Tensor], meta: dict) -> str:
    """The state as step-NNNNNNN.safetensors, named in LATEST; its SHA-256."""
    directory = checkpoint_dir()
    name = f"step-{step:07d}.safetensors"
    data = save_tensors(tensors, metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    write_atomically(directory / name, data)
    write_atomically(directory / "LATEST", name.encode() + b"\n")
    return hashlib.sha256(data).hexdigest()


def read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """A checkpoint's or a model's tensors and metadata (a clear exit if it is neither)."""
    data = read_input(path, binary=True)
    try:
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        return load_tensors(data), json.loads(header["__metadata__"][META_KEY])
    except Exception as exc:  # safetensors raises its own error type; any failure says the same
        raise SystemExit(f"char-gpt: {path.name} is not a char-gpt model or checkpoint") from exc


def read_input(path: Path, binary: bool = False):  # noqa: ANN201 (bytes or str)
    try:
        return path.read_bytes() if binary else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"char-gpt: cannot read {path}: {getattr(exc, 'strerror', exc)}") from exc


def progress(fraction: float) -> None:
    write_atomically(
        Path(os.environ.get("JOB_PROGRESS_FILE", "progress")), f"{fraction:.4f}\n".encode()
    )


def input_path(name: str) -> Path:
    """A job input by its name in the file store ($JOB_INPUT_DIR), or a path as given."""
    store = os.environ.get("JOB_INPUT_DIR")
    candidate = Path(store) / name if store else Path(name)
    return candidate if candidate.exists() else Path(name)


def choose_device(asked: str) -> torch.device:
    if asked == "auto":
        asked = "cuda" if torch.cuda.is_available() else "cpu"
    if asked == "cuda" and not torch.cuda.is_available():
        raise SystemExit("char-gpt: --device cuda, and there is no CUDA device")
    return torch.device(asked)


def deterministic(threads: int) -> None:
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(threads)


def rng_tensors(batch_rng: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    state = {"rng.cpu": torch.get_rng_state(), "rng.batch": batch_rng.get_state()}
    if device.type == "cuda":
        state["rng.cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(tensors: dict, batch_rng: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(tensors["rng.cpu"])
    batch_rng.set_state(tensors["rng.batch"])
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)


def replay_target(pattern: str) -> int | None:
    """$JOB_REPLAY_TO (checkpoint-replay): the checkpoint this run is to reproduce, by its
    number; the run stops there, writes it and exits 0."""
    name = os.environ.get("JOB_REPLAY_TO")
    if not name:
        return None
    match = re.fullmatch(pattern, name)
    if match is None:
        raise SystemExit(f"char-gpt: JOB_REPLAY_TO {name!r} is not a checkpoint name of this job")
    return int(match.group(1))


CHECKPOINT_NAME = r"step-(\d{7,})\.safetensors"


class Upsets:
    """Bench only: the bit flips the HIL bench's simulated GPU injects ($SIM_GPU_UPSETS, a
    directory it drops one ``*.upset`` file into per upset; never set in flight). At a step
    boundary each is taken: one bit of one weight (chosen by the file's seed) flips, as a
    radiation upset in GPU memory would, silently; where it landed is written beside it in
    ``*.applied`` for the bench's account, never on the job's own output."""

    def __init__(self) -> None:
        where = os.environ.get("SIM_GPU_UPSETS")
        self.directory = Path(where) if where else None

    def apply(self, model: nn.Module, step: int) -> None:
        if self.directory is None:
            return
        for path in sorted(self.directory.glob("*.upset")):
            try:
                seed = int(json.loads(path.read_text())["seed"])
                path.unlink()
            except (OSError, ValueError, KeyError, TypeError):
                continue  # half-written, or taken by another: the next boundary sees it
            where = flip_bit(model, seed)
            run = {"job": os.environ.get("JOB_ID"), "attempt": os.environ.get("JOB_ATTEMPT")}
            record = json.dumps({"seed": seed, "step": step, **run, **where}).encode()
            write_atomically(path.with_suffix(".applied"), record)


@torch.no_grad()
def flip_bit(model: nn.Module, seed: int) -> dict:
    """Flip one bit of one float32 weight, chosen by ``seed`` (weighted by tensor size)."""
    rng = random.Random(seed)
    named = [(name, p) for name, p in model.named_parameters() if p.dtype == torch.float32]
    name, param = rng.choices(named, weights=[p.numel() for _, p in named])[0]
    index, bit = rng.randrange(param.numel()), rng.randrange(32)
    words = param.data.view(-1).view(torch.int32)
    mask = (1 << bit) if bit < 31 else -(1 << 31)
    words[index] = words[index] ^ torch.tensor(mask, dtype=torch.int32, device=words.device)
    return {"tensor": name, "index": index, "bit": bit}


# --- train


def train_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--text", required=True, help="the training text: a job input's name")
    sub.add_argument("--steps", type=int, default=5000)
    sub.add_argument("--layers", type=int, default=6)
    sub.add_argument("--heads", type=int, default=6)
    sub.add_argument("--embd", type=int, default=384)
    sub.add_argument("--block", type=int, default=256, help="context length, characters")
    sub.add_argument("--batch", type=int, default=64)
    sub.add_argument("--lr", type=float, default=1e-3)
    sub.add_argument("--dropout", type=float, default=0.2)
    sub.add_argument("--seed", type=int, default=1337)
    sub.add_argument("--eval-every", type=int, default=250)
    sub.add_argument("--eval-batches", type=int, default=20)
    sub.add_argument("--sample-chars", type=int, default=500)


SETTINGS = (
    "steps",
    "layers",
    "heads",
    "embd",
    "block",
    "batch",
    "lr",
    "dropout",
    "seed",
    "eval_every",
    "eval_batches",
    "sample_chars",
)


def check_settings(cfg: dict) -> None:
    """A clear exit for settings no model can have."""
    positive = ("layers", "heads", "embd", "block", "batch", "eval_every", "eval_batches")
    wrong = [key for key in positive if cfg[key] < 1]
    wrong += [key for key in ("steps", "sample_chars") if cfg[key] < 0]
    wrong += [] if 0 < cfg["lr"] < 1 else ["lr"]
    wrong += [] if 0 <= cfg["dropout"] < 1 else ["dropout"]
    if wrong:
        raise SystemExit(
            f"char-gpt: out of range: {', '.join('--' + k.replace('_', '-') for k in wrong)}"
        )
    if cfg["embd"] % cfg["heads"]:
        raise SystemExit("char-gpt: --embd must be a multiple of --heads")


def encode_text(text: str, vocab: str) -> torch.Tensor:
    index = {ch: i for i, ch in enumerate(vocab)}
    return torch.tensor([index[ch] for ch in text], dtype=torch.long)


def batch_of(data: torch.Tensor, cfg: dict, rng: torch.Generator, device: torch.device):
    starts = torch.randint(len(data) - cfg["block"] - 1, (cfg["batch"],), generator=rng)
    x = torch.stack([data[s : s + cfg["block"]] for s in starts.tolist()])
    y = torch.stack([data[s + 1 : s + 1 + cfg["block"]] for s in starts.tolist()])
    return x.to(device), y.to(device)


@torch.no_grad()
def evaluate(model: CharGPT, data: dict, cfg: dict, device: torch.device) -> dict[str, float]:
    """Mean loss over fixed batches of each split (their own generator: the run's is untouched)."""
    model.eval()
    losses = {}
    for split in ("train", "val"):
        rng = torch.Generator().manual_seed(cfg["seed"] + 2)
        total = 0.0
        for _ in range(cfg["eval_batches"]):
            x, y = batch_of(data[split], cfg, rng, device)
            logits = model(x)
            total += F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
        losses[split] = total / cfg["eval_batches"]
    model.train()
    return losses


@torch.no_grad()
def sample(
    model: CharGPT,
    vocab: str,
    prompt: str,
    chars: int,
    temperature: float,
    rng: torch.Generator,
    device: torch.device,
    on_char=None,
) -> str:
    """Characters drawn one at a time (the generator is on the CPU, so the draws are the same
    on any device). ``on_char(text)`` after each: a checkpoint may be asked for there."""
    model.eval()
    text = prompt
    index = {ch: i for i, ch in enumerate(vocab)}
    while len(text) - len(prompt) < chars:
        context = text[-model.block :] or vocab[0]
        idx = torch.tensor([[index.get(ch, 0) for ch in context]], device=device)
        logits = model(idx)[0, -1].float().cpu() / max(temperature, 1e-6)
        finite(logits, f"the model's output after {len(text) - len(prompt)} characters")
        text += vocab[int(torch.multinomial(F.softmax(logits, dim=-1), 1, generator=rng))]
        if on_char is not None:
            on_char(text)
    return text


def finite(values: torch.Tensor, what: str) -> None:
    """A clear end (exit 1, one line) for a model that has diverged or been corrupted (an
    upset in an exponent bit can make a weight infinite): never a traceback, never such
    output written as a result."""
    if not bool(torch.isfinite(values).all()):
        raise SystemExit(f"char-gpt: {what} is not finite: the model diverged or is corrupt")


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    return {
        f"opt.{index}.{key}": value
        for index, state in opt.state_dict()["state"].items()
        for key, value in state.items()
    }


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})


def train(args: argparse.Namespace) -> int:
    signals = Signals()
    device = choose_device(args.device)
    text = read_input(input_path(args.text))
    cfg = {key: getattr(args, key) for key in SETTINGS}
    vocab = "".join(sorted(set(text)))
    losses: list[list[float]] = []  # [step, train, val] at each evaluation
    step, resumed = 0, None
    if os.environ.get("JOB_RESUME"):
        resumed, meta = read_state(Path(os.environ["JOB_RESUME"]))
        cfg, vocab, losses, step = meta["settings"], meta["vocab"], meta["losses"], meta["step"]
        args.threads = meta["threads"]
    check_settings(cfg)
    deterministic(args.threads or torch.get_num_threads())
    if len(text) < 2 * cfg["block"] + 2 or set(text) - set(vocab):
        raise SystemExit("char-gpt: the text is too short for the context, or not the one resumed")
    data = encode_text(text, vocab)
    cut = int(0.9 * len(data))
    data = {"train": data[:cut], "val": data[cut:]}
    if len(data["val"]) <= cfg["block"] + 1:
        raise SystemExit("char-gpt: the text is too short to keep a tenth for validation")
    torch.manual_seed(cfg["seed"])
    model = CharGPT(
        len(vocab), cfg["block"], cfg["layers"], cfg["heads"], cfg["embd"], cfg["dropout"]
    ).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], foreach=False)
    batch_rng = torch.Generator().manual_seed(cfg["seed"] + 1)
    if resumed is not None:
        model.load_state_dict({k[6:]: v for k, v in resumed.items() if k.startswith("model.")})
        restore_optimizer(opt, {k: v.to(device) for k, v in resumed.items()})
        restore_rng(resumed, batch_rng, device)
        print(f"resumed from step {step}", flush=True)

    abft = integrity_for(model)

    def state() -> tuple[dict[str, torch.Tensor], dict]:
        if abft is not None:  # never a checkpoint or a result of corrupted weights
            abft.verify_weights()
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        tensors |= optimizer_tensors(opt) | rng_tensors(batch_rng, device)
        meta = {
            "kind": "train",
            "step": step,
            "settings": cfg,
            "vocab": vocab,
            "losses": losses,
            "threads": torch.get_num_threads(),
        }
        return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, meta

    target = replay_target(CHECKPOINT_NAME)
    if target is not None and not step <= target <= cfg["steps"]:  # at it: resumed from it
        raise SystemExit(f"char-gpt: cannot replay from step {step} to step {target}")
    upsets = Upsets()
    started, first_step = time.monotonic(), step
    model.train()
    while step < (cfg["steps"] if target is None else target):
        upsets.apply(model, step)
        x, y = batch_of(data["train"], cfg, batch_rng, device)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        finite(loss, f"the loss at step {step + 1}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if abft is not None:
            abft.refresh()
        step += 1
        if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
            split = evaluate(model, data, cfg, device)
            losses.append([step, split["train"], split["val"]])
            print(f"step {step}: train {split['train']:.4f} val {split['val']:.4f}", flush=True)
        if step % PROGRESS_EVERY == 0:
            progress(step / cfg["steps"])
        asked = signals.take()
        if asked:
            digest = write_checkpoint(step, *state())
            print(f"checkpoint at step {step}: {digest}", flush=True)
            if "stop" in asked:
                return 143
    seconds = time.monotonic() - started
    rate = (step - first_step) * cfg["batch"] * cfg["block"] / max(seconds, 1e-9)
    if target is not None:
        digest = write_checkpoint(step, *state())
        said = f"replayed to step {step} on {device.type}: {rate:.0f} tokens/s: {digest}"
        print(said, flush=True)
        signals.done()
        return 0
    print(f"trained {step} steps on {device.type}: {rate:.0f} tokens/s", flush=True)
    tensors, meta = state()
    weights = {k: v for k, v in tensors.items() if k.startswith("model.")}
    model_meta = {"kind": "model", "step": step, "settings": cfg, "vocab": vocab}
    data_out = save_tensors(weights, metadata={META_KEY: json.dumps(model_meta, sort_keys=True)})
    rng = torch.Generator().manual_seed(cfg["seed"] + 3)
    text_out = sample(model, vocab, "\n", cfg["sample_chars"], 1.0, rng, device)
    write_results(
        {
            "model.safetensors": data_out,
            "losses.json": json.dumps({"losses": losses}).encode(),
            "samples.txt": text_out.encode("utf-8"),
        }
    )
    signals.done()
    return 0


# --- generate


def generate_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--model",
        required=True,
        help="model.safetensors or a training checkpoint: a job input's name",
    )
    sub.add_argument("--prompt", default="\n")
    sub.add_argument("--chars", type=int, default=2000)
    sub.add_argument("--temperature", type=float, default=0.8)
    sub.add_argument("--seed", type=int, default=42)
    sub.add_argument("--out", default="generated.txt")


def generate(args: argparse.Namespace) -> int:
    signals = Signals()
    device = choose_device(args.device)
    tensors, meta = read_state(input_path(args.model))
    cfg, vocab = meta["settings"], meta["vocab"]
    settings = {
        "prompt": args.prompt,
        "chars": args.chars,
        "temperature": args.temperature,
        "seed": args.seed,
    }
    rng = torch.Generator().manual_seed(args.seed)
    text = settings["prompt"]
    if os.environ.get("JOB_RESUME"):
        saved, done = read_state(Path(os.environ["JOB_RESUME"]))
        rng.set_state(saved["rng.sample"])
        settings, text, args.threads = done["settings"], done["text"], done["threads"]
        print(f"resumed at {len(text) - len(settings['prompt'])} characters", flush=True)
    deterministic(args.threads or torch.get_num_threads())
    model = CharGPT(len(vocab), cfg["block"], cfg["layers"], cfg["heads"], cfg["embd"], 0.0)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    model.to(device)
    abft = integrity_for(model)

    def checkpoint(so_far: str) -> str:
        if abft is not None:
            abft.verify_weights()
        meta_out = {
            "kind": "generate",
            "settings": settings,
            "text": so_far,
            "threads": torch.get_num_threads(),
        }
        made = len(so_far) - len(settings["prompt"])
        return write_checkpoint(made, {"rng.sample": rng.get_state()}, meta_out)

    def on_char(so_far: str) -> None:
        made = len(so_far) - len(settings["prompt"])
        if made % PROGRESS_EVERY == 0:
            progress(made / settings["chars"])
        asked = signals.take()
        if asked:
            checkpoint(so_far)
            if "stop" in asked:
                raise SystemExit(143)

    made = len(text) - len(settings["prompt"])
    target = replay_target(CHECKPOINT_NAME)
    if target is not None and not made < target <= settings["chars"]:
        raise SystemExit(f"char-gpt: cannot replay from {made} to {target} characters")
    remaining = (settings["chars"] if target is None else target) - made
    started = time.monotonic()
    text = sample(model, vocab, text, remaining, settings["temperature"], rng, device, on_char)
    if target is not None:
        print(f"replayed to {target} characters: {checkpoint(text)}", flush=True)
        signals.done()
        return 0
    seconds = time.monotonic() - started
    print(
        f"generated {remaining} characters on {device.type}: "
        f"{remaining / max(seconds, 1e-9):.1f} characters/s",
        flush=True,
    )
    if abft is not None:
        abft.verify_weights()
    write_results({args.out: text.encode("utf-8")})
    signals.done()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="char-gpt", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads (0: torch's default); a resumed run keeps its own",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_arguments(commands.add_parser("train", help="train a model on a text"))
    generate_arguments(commands.add_parser("generate", help="generate text from a model"))
    args = parser.parse_args()
    try:
        return train(args) if args.command == "train" else generate(args)
    except SilentCorruption as exc:
        return caught(exc)


if __name__ == "__main__":
    sys.exit(main())
