"""Train the conditional face generator on the prepared faces (tools/prepare_faces.py).

    python tools/train_generator.py --variant dense --minutes 90 --out /work/cache/gen_dense [--resume]

Deterministic seed; 5% of the colour faces held out; checkpoints every few minutes (--resume continues);
a log (train.log, JSON lines) and sample grids (held-out faces: input | sketch | output | real).
Uses a CUDA GPU when present (bf16 autocast on both). Losses: L1 on a low-pass of the face region (keeps
colour and lighting) with a weaker full-resolution L1 (less pull toward rebuilding the person's own
texture), hinge adversarial loss from a PatchGAN that sees mask and sketch, and feature matching.
The training mask is the union of the face's hull and the hull of an identity-swapped version of its
shape, as at run time, so the generator learns to fill the region the swap asks for.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLOUR_SETS = ("utkface", "facemask", "expressions")


def split(names: np.ndarray, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    n_val = int(round(held_out * len(names)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def build_conditions(crops: np.ndarray, landmarks: np.ndarray, variant: str, seed: int):
    """Per face: sketch (5, S, S) uint8 of its own landmarks and mask (S, S) uint8 (own hull ∪ swapped hull)."""
    from streamanon.faces.shape import ShapeModel
    from streamanon.faces.sketch import crop_mask, render_sketch, render_sparse
    from streamanon.generate import EXPRESSION_POINTS

    size = crops.shape[1]
    model = ShapeModel.load(ROOT / "engines" / "shape_model.npz")
    rng = np.random.default_rng(seed)
    weights = np.ones(len(landmarks[0]), np.float32)
    weights[EXPRESSION_POINTS] = 0.5
    swapped = [model.new_shape(lm[:, :2], model.sample_identity(rng), weights, size) for lm in landmarks]
    render = render_sparse if variant == "sparse" else render_sketch
    sketches = np.stack([render(lm, size) for lm in landmarks])
    scales = rng.uniform(1.05, 1.2, len(landmarks))
    masks = np.stack([crop_mask(lm, sw, size=size, scale=s) for lm, sw, s in zip(landmarks, swapped, scales)])
    return sketches, masks


def restore(state: dict, G, D, opt_g, opt_d) -> tuple[int, float]:
    """Load a checkpoint's networks and optimisers (--resume); returns (step, seconds trained)."""
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    opt_g.load_state_dict(state["opt_g"])
    opt_d.load_state_dict(state["opt_d"])
    print(f"resumed at step {state['step']} ({state['seconds'] / 60:.1f} min)", flush=True)
    return state["step"], state["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, default=Path("/work/cache/faces128.npz"))
    ap.add_argument("--out", type=Path, default=Path("/work/cache/gen_dense"))
    ap.add_argument("--variant", choices=["dense", "sparse"], default="dense")
    ap.add_argument("--minutes", type=float, default=90.0, help="training time budget (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    ap.add_argument("--init", type=Path, help="start from this checkpoint's weights (e.g. the sparse variant "
                    "fine-tuned from the dense one); --resume takes precedence")
    ap.add_argument("--w-lowpass", type=float, default=10.0)
    ap.add_argument("--w-l1", type=float, default=2.0)
    ap.add_argument("--w-adv", type=float, default=0.5)
    ap.add_argument("--w-fm", type=float, default=1.0)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    from streamanon.models.generator import Discriminator, Generator, count_parameters

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    log = open(args.out / "train.log", "a")

    d = np.load(args.faces)
    keep = np.isin(d["dataset"], COLOUR_SETS)
    crops, landmarks, names = d["crops"][keep], d["landmarks"][keep], d["name"][keep]
    t0 = time.time()
    sketches, masks = build_conditions(crops, landmarks, args.variant, args.seed)
    train_idx, val_idx = split(names, 0.05, args.seed)
    np.save(args.out / "val_names.npy", names[val_idx])
    print(f"{len(train_idx)} train / {len(val_idx)} held out; conditions in {time.time() - t0:.0f}s", flush=True)

    G = Generator(width=args.width, levels=args.levels).to(device)
    D = Discriminator().to(device)
    opt_g = torch.optim.Adam(G.parameters(), args.lr, betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), args.lr, betas=(0.5, 0.99))
    step, seconds = 0, 0.0
    ckpt = args.out / "ckpt.pt"
    if args.resume and ckpt.exists():
        step, seconds = restore(torch.load(ckpt, map_location=device), G, D, opt_g, opt_d)
    elif args.init:
        s = torch.load(args.init, map_location=device)
        G.load_state_dict(s["G"])
        D.load_state_dict(s["D"])
        print(f"initialised from {args.init} (step {s['step']}, {s['seconds'] / 60:.1f} min)", flush=True)
    print(f"G {count_parameters(G) / 1e6:.2f}M params, D {count_parameters(D) / 1e6:.2f}M; {device}", flush=True)

    rng = np.random.default_rng(args.seed + step)

    def batch(idx: np.ndarray, train: bool):
        real = torch.from_numpy(crops[idx]).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        sk = torch.from_numpy(sketches[idx]).float().div(255)
        m = torch.from_numpy(masks[idx]).float().div(255)[:, None]
        if train:
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            real[flip], sk[flip], m[flip] = real[flip].flip(-1), sk[flip].flip(-1), m[flip].flip(-1)
        m = (m > 0.5).float()
        noise = torch.randn(len(idx), 1, *real.shape[-2:])
        x = torch.cat([real * (1 - m), m, sk, noise], 1)
        return x.to(device), real.to(device), m.to(device), sk.to(device)

    def save_grid(tag: str) -> None:
        import cv2
        G.eval()
        with torch.no_grad():
            x, real, m, sk = batch(val_idx[:8], False)
            fake = G(x).float()
        G.train()

        def img(t):
            return ((t.clamp(-1, 1) + 1) * 127.5).byte().permute(0, 2, 3, 1).cpu().numpy()
        skimg = torch.stack([sk[:, 0] + sk[:, 3], sk[:, 1] + sk[:, 4], sk[:, 2]], 1).clamp(0, 1) * 2 - 1
        rows = [np.concatenate(list(img(t)), 1) for t in (x[:, :3], skimg, fake, real)]
        cv2.imwrite(str(args.out / f"grid_{tag}.png"), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))

    def checkpoint() -> None:
        torch.save({"G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(), "step": step, "seconds": seconds, "args": {
                        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}, args.out / "ckpt.tmp")
        (args.out / "ckpt.tmp").replace(ckpt)

    budget = args.minutes * 60
    last_ckpt = time.time()
    amp = dict(device_type=device.type, dtype=torch.bfloat16)
    while seconds < budget:
        t_step = time.time()
        idx = rng.choice(train_idx, args.batch, replace=False)
        x, real, m, sk = batch(idx, True)
        with torch.autocast(**amp):
            fake = G(x)
            d_real, _ = D(torch.cat([real, m, sk], 1))
            d_fake, _ = D(torch.cat([fake.detach(), m, sk], 1))
            loss_d = F.relu(1 - d_real.float()).mean() + F.relu(1 + d_fake.float()).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with torch.autocast(**amp):
            g_fake, f_fake = D(torch.cat([fake, m, sk], 1))
            with torch.no_grad():
                _, f_real = D(torch.cat([real, m, sk], 1))
            fake32 = fake.float()
            area = m.mean().clamp(min=1e-3)
            lowpass = (F.avg_pool2d(fake32 * m, 4) - F.avg_pool2d(real * m, 4)).abs().mean() / area
            l1 = ((fake32 - real).abs() * m).mean() / area
            adv = -g_fake.float().mean()
            fm = sum((a.float() - b.float()).abs().mean() for a, b in zip(f_fake, f_real)) / len(f_fake)
            loss_g = args.w_lowpass * lowpass + args.w_l1 * l1 + args.w_adv * adv + args.w_fm * fm
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        step += 1
        seconds += time.time() - t_step
        if step % 10 == 0:
            rec = {"step": step, "min": round(seconds / 60, 2), "img_s": round(args.batch / (time.time() - t_step), 1),
                   "d": round(loss_d.item(), 4), "lowpass": round(lowpass.item(), 4), "l1": round(l1.item(), 4),
                   "adv": round(adv.item(), 4), "fm": round(fm.item(), 4)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if time.time() - last_ckpt > 300:
            checkpoint()
            save_grid(f"{step:06d}")
            last_ckpt = time.time()
    checkpoint()
    save_grid("final")
    print(f"done: step {step}, {seconds / 60:.1f} min -> {ckpt}", flush=True)


if __name__ == "__main__":
    main()
