"""`python main.py train`: the same code path for the terminal, the GUI (QProcess,
--progress jsonl) and torchrun."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from model.cli.args import (anchor_sizes, below_one, check_writable, iteration_list,
                            non_negative_float,
                            non_negative_int, output_file, positive_float, positive_int, side,
                            unit_interval)
from model.cli.progress import ProgressBar
from model.net.sizes import MAX_SIDE, MIN_SIDE
from model.text import format_eta


def add_train_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="fine-tune Mask R-CNN on the reviewed images of a COCO file",
        description="Fine-tune on reviewed images: marked done, or with every instance decided "
                    "(accepted, rejected, edited or drawn by a person). Works under "
                    "`torchrun --nproc_per_node N main.py train ...`.")
    p.add_argument("coco", help="COCO JSON (as MaskLoop saves it), or any annotations MaskLoop "
                                "opens: labelme, YOLO-seg, mask PNGs, label images")
    p.add_argument("--out", required=True, type=output_file, help="checkpoint to write (best by val segm AP); "
                                                "the resumable state goes to OUT.last.pt")
    p.add_argument("--images", default=None, help="image root (default: the JSON's folder)")
    p.add_argument("--weights", default="coco", help="start point: coco (default), coco-v2, "
                                                     "none, or a checkpoint")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=positive_int, default=10, help="passes over the data (default 10)")
    g.add_argument("--iterations", type=positive_int, default=None, help="optimizer steps instead of epochs")
    p.add_argument("--batch-size", type=positive_int, default=2)
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default 0.0025 x batch size; half that from --weights none)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--min-size", type=side, default=800,
                   help=f"shorter side, jittered +-20%% while training ({MIN_SIDE}..{MAX_SIDE})")
    p.add_argument("--max-size", type=side, default=1333, help="longer side cap (at least --min-size)")
    p.add_argument("--val-fraction", type=below_one, default=0.2,
                   help="held-out share of the reviewed images (>= 1 image from 5 images)")
    p.add_argument("--workers", type=non_negative_int, default=2, help="DataLoader worker processes")
    p.add_argument("--resume", action="store_true", help="continue from OUT.last.pt")
    p.add_argument("--all-images", action="store_true",
                   help="treat every image as reviewed (a ground-truth file made elsewhere)")
    p.add_argument("--include-corrected", action="store_true",
                   help="also train on images with corrections but unreviewed predictions "
                        "left (their unlabelled objects are taught as background)")
    p.add_argument("--progress", choices=["bar", "jsonl"], default="bar",
                   help="bar on stderr (default), or JSON lines on stdout for programs")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--hflip", type=unit_interval, default=0.5, help="horizontal flip probability")
    p.add_argument("--scale-jitter", type=below_one, default=0.2,
                   help="min_size is drawn from +-this fraction per batch (0: off)")
    p.add_argument("--schedule", choices=["cosine", "step", "constant"], default="cosine")
    p.add_argument("--clip-grad", type=non_negative_float, default=None,
                   help="max gradient norm (0: off; default 10 from pretrained weights, 100 "
                        "from --weights none, whose gradient norms are 100-1000 at first)")
    p.add_argument("--warmup", type=non_negative_int, default=100, help="linear warm-up iterations")
    p.add_argument("--rois-per-image", type=positive_int, default=512,
                   help="box-head samples per image (128 trains faster on small data)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-id", default=None, help="name stored in the checkpoint and in the "
                                                    "provenance of its predictions")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--norm", choices=("batch", "group"), default=None,
                   help="from random weights (--weights none): BatchNorm2d (the default) or "
                        "GroupNorm(32); bench/learning.py measures both")
    p.add_argument("--snapshots", type=iteration_list, default=(),
                   help="also keep the model at these iterations, e.g. 100,200 (OUT.iter100.pt)")
    p.add_argument("--checkpoint-minutes", type=non_negative_float, default=10.0,
                   help="write the resume state (OUT.last.pt) at most this often, and at the end")
    p.add_argument("--stop-file", default=None, help="stop (saving a checkpoint) when this file appears")
    p.add_argument("--anchors", type=anchor_sizes, default="keep",
                   help="RPN anchor sizes: keep (the start weights'; torchvision's 32..512), "
                        "auto (fitted to the training boxes where that gives more of them an "
                        "anchor of IoU 0.7: small objects), or five sizes, e.g. 8,16,32,64,128")
    c = p.add_argument_group("learning while a person works")
    c.add_argument("--continuous", action="store_true",
                   help="train until stopped (--stop-file, Ctrl+C): the COCO file is re-read "
                        "whenever it changes and its new images join; --val-fraction of them "
                        "are held out on arrival, and every --eval-every iterations the model "
                        "is measured on them against the version in use. A model that beats "
                        "it is written beside OUT. --epochs and --iterations are ignored")
    c.add_argument("--in-use", default=None,
                   help="with --continuous: a JSON file {\"weights\": SPEC} naming the version "
                        "in use, re-read when it changes (default: the start weights, then "
                        "each model that beat them)")
    c.add_argument("--eval-every", type=positive_int, default=100,
                   help="with --continuous: held-out evaluation every this many iterations")
    from model.cli.commands import add_crowd_option, add_follow_symlinks_option
    add_crowd_option(p)
    add_follow_symlinks_option(p)
    p.set_defaults(func=cmd_train)


class _Reporter:
    def __init__(self, mode: str):
        self.mode = mode
        self.bar: ProgressBar | None = None

    def __call__(self, event: dict) -> None:
        if self.mode == "jsonl":
            sys.stdout.write(json.dumps(event, default=str) + "\n")
            sys.stdout.flush()
            return
        kind = event.get("event")
        if kind == "start" and event["iterations"] is not None:
            self.bar = ProgressBar(event["iterations"], "train", unit="it")
            self.bar.done = event.get("start_iteration", 0)
            print(f"training on {event['train_images']} image(s), validating on "
                  f"{event['val_images']}, {event['device']}, {event['iterations']} iterations",
                  file=sys.stderr)
        elif kind == "start" and event["iterations"] is None:  # continuous: no end to show
            print(f"training on {event['train_images']} image(s) until stopped, holding out "
                  f"{event['val_images']}, {event['device']}", file=sys.stderr)
        elif kind == "iter" and self.bar is not None:
            self.bar.update(1, f"loss {event['loss']:.3f}")
        elif kind == "heldout" and event.get("ap") is not None:
            use = event.get("in_use_ap")
            print(f"iteration {event['iteration']}: held-out segm AP {event['ap']:.3f} on "
                  f"{event['images']} image(s), in use "
                  + ("-" if use is None else f"{use:.3f}")
                  + (f": wrote {event['checkpoint']}" if event.get("checkpoint") else ""),
                  file=sys.stderr)
        elif kind == "val":
            segm, bbox = event["metrics"]["segm"], event["metrics"]["bbox"]
            print(f"\nepoch {event['epoch']}: val bbox AP {bbox['AP'] or 0:.3f}, segm AP "
                  f"{segm['AP'] or 0:.3f}", file=sys.stderr)
        elif kind in ("warning", "info"):
            print(f"{kind}: {event['message']}", file=sys.stderr)
        elif kind == "done":
            print(f"\n{event['status']}: {event['checkpoint']} after {event['iterations']} "
                  f"iterations in {format_eta(event['seconds'])}", file=sys.stderr)


def _set_threads(threads: int | None) -> None:
    """The command's one decision on torch's CPU threads: --threads, else every core
    (OMP_NUM_THREADS wins); the GUI's training process passes one core less."""
    import torch

    from model.net.devices import configure_cpu_threads
    if threads:
        torch.set_num_threads(threads)
    else:
        configure_cpu_threads(reserve=0)


def cmd_train(args: argparse.Namespace) -> int:
    from model.errors import TrainingDataError, TrainingError, WeightsError
    from model.training.config import TrainConfig
    from model.training.rng import seed_all
    from model.training.train import run_training

    check_writable(Path(args.out))  # before the data loads and the model builds
    cfg = TrainConfig(
        coco=Path(args.coco), out=Path(args.out), images=Path(args.images) if args.images else None,
        weights=args.weights, epochs=args.epochs, iterations=args.iterations,
        batch_size=args.batch_size, lr=args.lr, device=args.device, min_size=args.min_size,
        max_size=args.max_size, val_fraction=args.val_fraction, workers=args.workers,
        resume=args.resume, all_images=args.all_images,
        crowd_as_instances=args.crowd_as_instances, follow_symlinks=args.follow_symlinks,
        include_corrected=args.include_corrected, amp=not args.no_amp,
        schedule=args.schedule, warmup_iters=args.warmup, seed=args.seed,
        rois_per_image=args.rois_per_image, clip_grad=args.clip_grad, hflip=args.hflip,
        scale_jitter=args.scale_jitter, model_id=args.model_id,
        stop_file=Path(args.stop_file) if args.stop_file else None,
        checkpoint_every_s=60.0 * args.checkpoint_minutes, norm=args.norm,
        snapshots=args.snapshots, anchors=args.anchors, continuous=args.continuous,
        in_use=Path(args.in_use) if args.in_use else None, eval_every=args.eval_every)
    _set_threads(args.threads)
    # the process's one seeding, per torchrun rank: every generator a resume file records
    # starts from it (model/training/rng.py)
    seed_all(args.seed + int(os.environ.get("RANK", "0") or 0))
    cancel = threading.Event()
    report = _Reporter(args.progress)
    try:
        with _stop_on_signals(cancel):
            run_training(cfg, report, cancel)
    except (TrainingError, TrainingDataError, WeightsError) as e:
        if args.progress == "jsonl":  # the app shows this one message
            report({"event": "error", "message": str(e)})
        print(f"error: {e}", file=sys.stderr)
        return 1 if isinstance(e, TrainingError) else 2  # a failed run / bad input
    return 0


@contextlib.contextmanager
def _stop_on_signals(cancel: threading.Event):
    """Ctrl+C and SIGTERM stop training at the next iteration, saving; the handlers that
    were there before come back afterwards (main() may run inside a longer-lived process)."""
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, lambda *_: cancel.set())
        except ValueError:  # not the main thread (tests calling main() from a thread)
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
