"""The plain training loop MaskLoop is measured against, written the way torchvision's
detection reference does it (references/detection: a dataset that opens each image
with PIL and rasterises each COCO annotation with pycocotools, a DataLoader,
model(images, targets), the sum of the losses, backward, SGD step) and with the model
built the way torchvision builds it without weights (BatchNorm2d, every backbone
stage trainable). fp32, warm-up then cosine."""
from __future__ import annotations

import math
import time
from pathlib import Path

LR_PER_IMAGE = 0.0025


class PlainCocoDataset:
    def __init__(self, ann: Path, hflip: bool = True):
        from pycocotools.coco import COCO
        self.root, self.coco, self.hflip = Path(ann).parent, COCO(str(ann)), hflip
        self.ids = sorted(self.coco.imgs)
        self.cats = sorted(self.coco.cats)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        import numpy as np
        import torch
        from PIL import Image
        from torchvision.transforms.functional import hflip, to_tensor
        info = self.coco.imgs[self.ids[i]]
        img = Image.open(self.root / info["file_name"]).convert("RGB")
        anns = [a for a in self.coco.imgToAnns[self.ids[i]] if not a.get("iscrowd")]
        masks = torch.as_tensor(np.stack([self.coco.annToMask(a) for a in anns])) if anns \
            else torch.zeros((0, info["height"], info["width"]), dtype=torch.uint8)
        boxes = torch.as_tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                  a["bbox"][1] + a["bbox"][3]] for a in anns],
                                dtype=torch.float32).reshape(-1, 4)
        labels = torch.as_tensor([self.cats.index(a["category_id"]) + 1 for a in anns],
                                 dtype=torch.int64)
        image = to_tensor(img)
        if self.hflip and torch.rand(1) < 0.5:
            image, masks = hflip(image), masks.flip(-1)
            w = image.shape[-1]
            boxes = boxes[:, [2, 1, 0, 3]] * torch.tensor([-1, 1, -1, 1]) + \
                torch.tensor([w, 0, w, 0])
        return image, {"boxes": boxes, "labels": labels, "masks": masks}


def _collate(batch):
    return tuple(zip(*batch))


def plain_model(num_classes: int, size: int | tuple[int, ...], rois: int = 128,
                max_size: int | None = None):
    """size: the shorter side, or several (torchvision's transform draws one per image)."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes,
                                  min_size=size, max_size=max_size or max(size if isinstance(
                                      size, tuple) else (size,)))
    model.roi_heads.fg_bg_sampler.batch_size_per_image = rois
    return model


def plain_train(coco: Path, size: int | tuple[int, ...], iters: int, workers: int, device: str,
                batch: int = 2, warmup: int = 50, lr: float | None = None,
                schedule: str = "cosine", rois: int = 128, stamps: list | None = None,
                snapshots: dict | None = None, max_size: int | None = None):
    """Train from random weights; returns the model (in train mode). `stamps` gets a
    perf_counter per iteration; `snapshots` maps iterations to files for the state_dict."""
    import torch
    dev = torch.device(device)
    ds = PlainCocoDataset(coco)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True,
                                         num_workers=workers, collate_fn=_collate,
                                         persistent_workers=workers > 0)
    model = plain_model(len(ds.cats) + 1, size, rois, max_size).to(dev)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr or LR_PER_IMAGE * batch, momentum=0.9,
                          weight_decay=1e-4)
    warm = max(1, min(warmup, iters // 2 or 1))

    def factor(it: int) -> float:
        w = 0.001 + (1 - 0.001) * min(1.0, it / warm)
        s = 1.0 if schedule == "constant" else \
            0.5 * (1 + math.cos(math.pi * min(it, iters) / max(iters, 1)))
        return w * max(s, 0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    it = 0
    while it < iters:
        for images, targets in loader:
            images = [i.to(dev) for i in images]
            targets = [{k: v.to(dev) for k, v in t.items()} for t in targets]
            losses = sum(loss for loss in model(images, targets).values())
            if not math.isfinite(losses.item()):
                raise SystemExit("plain loop: non-finite loss")
            opt.zero_grad()
            losses.backward()
            opt.step()
            sched.step()
            it += 1
            if stamps is not None:
                stamps.append(time.perf_counter())
            if snapshots and it in snapshots:
                torch.save(model.state_dict(), snapshots[it])
            if it >= iters:
                break
    return model
