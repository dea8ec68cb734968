"""Train the refinement generator (stage 6 of the mesh method; streamanon.photometric.refine).

    python tools/train_refiner.py pairs --out /work/cache/refine_pairs.npz --count 8000
    python tools/train_refiner.py train --pairs /work/cache/refine_pairs.npz --work /work/cache/refiner \
        --minutes 60 [--resume]
    python tools/train_refiner.py export --work /work/cache/refiner --out engines/refiner.onnx

pairs: per training face (../shared/data/faces: utkface, facemask, expressions), its MediaPipe mesh; its de-lit
texture (tools/fit_texture_model.py) projected onto the albedo model (coefficients clipped at 1.5 std, as the
samples are) and calmed as at run time; that albedo rendered through the run-time stages (FaceRenderer: the
face's own geometry and measured light, drawn eyes, brows and lips of a random look, colour, grain, cover,
blend). Input = ``refine_input`` of that composed face, target = the real face in the same aligned crop.

train: a small U-Net (pixel-unshuffled to half size) predicting a tanh correction added inside the cover.
Losses: L1 over the cover on the image and on two coarser levels, and, after --gan-after steps, a hinge
PatchGAN loss (discriminator sees image and cover) at a small weight. Deterministic seed, 4% held out,
checkpoints every 3 minutes (--resume continues), a JSON-lines log and held-out grids
(input | output | real).

export: ONNX (opset 18, dynamic batch) and its numbers for the model card.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

SETS = ("utkface", "facemask", "expressions")


def build_pairs(args: argparse.Namespace) -> None:
    from fit_texture_model import delit_texture, model_face, read_face

    from streamanon.faces.align import warp_crop
    from streamanon.faces.mp_backend import silenced_stderr, solutions
    from streamanon.models.engine import verified_model
    from streamanon.photometric.features import brow_top, glabella_zone, random_look
    from streamanon.photometric.grain import noise_texture
    from streamanon.photometric.refine import SIZE, refine_input
    from streamanon.photometric.stages import FaceRenderer, PhotometricSettings
    from streamanon.photometric.texture import TextureModel, calm_albedo

    texture = TextureModel.load(verified_model("texture_model.npz"))
    renderer = FaceRenderer(PhotometricSettings(temporal=False, refine=False), model_face(), texture.tone)
    top = brow_top()
    files = sorted(p for s in SETS for p in (args.faces / s).iterdir() if p.suffix.lower() in (".jpg", ".png"))
    rng = np.random.default_rng(args.seed)
    files = [files[i] for i in rng.permutation(len(files))][args.shard::args.shards]
    with silenced_stderr():
        mesh = solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    xs, masks, ys, names = [], [], [], []
    t0 = time.perf_counter()
    for i, path in enumerate(files):
        if len(xs) >= args.count:
            break
        face = read_face(path, mesh, min_side=64)
        if face is None:
            continue
        rgb, pts = face
        out = delit_texture(rgb, pts, texture.res)
        if out is None:
            continue
        flat = out[0].reshape(-1, 3)[texture.texels]
        valid = out[1].ravel()[texture.texels]
        flat = np.where(valid[:, None], flat, texture.mean)
        coeffs = np.clip(texture.project(flat[None])[0], -1.5 * texture.std, 1.5 * texture.std)
        albedo = calm_albedo(texture.texture(coeffs), top, zone=glabella_zone(texture.res))
        r = np.random.default_rng([args.seed, args.shard, i])
        try:
            p = renderer.apply(rgb.copy(), pts, pts, i, albedo, noise_texture(r), random_look(r))
            x, m = refine_input(p.output, p.cover, p.own)
        except Exception as exc:  # degenerate meshes
            print(f"{path.name}: {exc}", flush=True)
            continue
        xs.append(np.round((x[:3].transpose(1, 2, 0) + 1.0) * 127.5).astype(np.uint8))
        masks.append(np.round(x[3] * 255).astype(np.uint8))
        ys.append(warp_crop(p.original, m, SIZE))
        names.append(f"{path.parent.name}/{path.name}")
        if len(xs) % 500 == 0:
            print(f"{len(xs)} pairs from {i + 1} faces, {time.perf_counter() - t0:.0f} s", flush=True)
    mesh.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, x=np.stack(xs), mask=np.stack(masks), y=np.stack(ys), names=np.array(names))
    print(f"{len(xs)} pairs -> {args.out} ({time.perf_counter() - t0:.0f} s)", flush=True)


def networks():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from streamanon.photometric.refine import IN_CHANNELS, MAX_CORRECTION

    def block(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.LeakyReLU(0.2, True),
                             nn.Conv2d(o, o, 3, padding=1), nn.LeakyReLU(0.2, True))

    class Refiner(nn.Module):
        """U-Net on the half-size (pixel-unshuffled) crop; out = tanh correction x MAX_CORRECTION."""

        def __init__(self, c: int = 32):
            super().__init__()
            self.e1 = block(IN_CHANNELS * 4, c)
            self.e2 = block(c, 2 * c)
            self.e3 = block(2 * c, 4 * c)
            self.e4 = block(4 * c, 4 * c)
            self.d3 = block(8 * c, 2 * c)
            self.d2 = block(4 * c, c)
            self.d1 = block(2 * c, c)
            self.out = nn.Conv2d(c, 12, 3, padding=1)

        def forward(self, x):
            e1 = self.e1(F.pixel_unshuffle(x, 2))
            e2 = self.e2(F.avg_pool2d(e1, 2))
            e3 = self.e3(F.avg_pool2d(e2, 2))
            e4 = self.e4(F.avg_pool2d(e3, 2))
            d3 = self.d3(torch.cat([F.interpolate(e4, scale_factor=2.0, mode="nearest"), e3], 1))
            d2 = self.d2(torch.cat([F.interpolate(d3, scale_factor=2.0, mode="nearest"), e2], 1))
            d1 = self.d1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="nearest"), e1], 1))
            return torch.tanh(F.pixel_shuffle(self.out(d1), 2)) * MAX_CORRECTION

    class Critic(nn.Module):
        """PatchGAN on (image, cover)."""

        def __init__(self, c: int = 32):
            super().__init__()
            sn = nn.utils.spectral_norm
            self.net = nn.Sequential(
                sn(nn.Conv2d(4, c, 4, 2, 1)), nn.LeakyReLU(0.2, True),
                sn(nn.Conv2d(c, 2 * c, 4, 2, 1)), nn.LeakyReLU(0.2, True),
                sn(nn.Conv2d(2 * c, 4 * c, 4, 2, 1)), nn.LeakyReLU(0.2, True),
                sn(nn.Conv2d(4 * c, 1, 3, 1, 1)))

        def forward(self, img, mask):
            return self.net(torch.cat([img, mask], 1))

    return Refiner, Critic


def train(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    Refiner, Critic = networks()
    parts = [np.load(p) for p in args.pairs]
    x_all, m_all, y_all = (np.concatenate([d[k] for d in parts]) for k in ("x", "mask", "y"))
    n = len(x_all)
    order = np.random.default_rng(args.seed).permutation(n)
    held, train_idx = order[: max(8, n // 25)], order[max(8, n // 25):]
    G, D = Refiner(args.width), Critic()
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.99))
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt = args.work / "ckpt.pt"
    step, seconds = 0, 0.0
    if args.resume and ckpt.exists():
        from train_generator import restore

        step, seconds = restore(torch.load(ckpt, weights_only=False), G, D, opt_g, opt_d)
    rng = np.random.default_rng([args.seed, step])

    def batch(idx: np.ndarray, augment: bool):
        x = x_all[idx].astype(np.float32) / 127.5 - 1.0
        m = m_all[idx].astype(np.float32)[..., None] / 255.0
        y = y_all[idx].astype(np.float32) / 127.5 - 1.0
        if augment:
            flip = rng.random(len(idx)) < 0.5
            x[flip], m[flip], y[flip] = x[flip, :, ::-1], m[flip, :, ::-1], y[flip, :, ::-1]
        t = [torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))) for a in (x, m, y)]
        return t[0], t[1], t[2]

    def forward(x, m):
        corr = G(torch.cat([x, m], 1))
        return (x + corr * m).clamp(-1, 1)

    def masked_l1(a, b, m):
        return ((a - b).abs() * m).sum() / (m.sum() * 3 + 1e-6)

    def recon(out, y, m):
        loss = masked_l1(out, y, m)
        for _ in range(2):
            out, y, m = F.avg_pool2d(out, 2), F.avg_pool2d(y, 2), F.avg_pool2d(m, 2)
            loss = loss + masked_l1(out, y, m)
        return loss

    def checkpoint() -> None:
        torch.save({"G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(), "step": step, "seconds": seconds, "width": args.width}, ckpt)

    def held_out() -> tuple[float, float]:
        G.eval()
        with torch.no_grad():
            x, m, y = batch(held[:256], False)
            out = forward(x, m)
            before, after = masked_l1(x, y, m).item(), masked_l1(out, y, m).item()
        G.train()
        return before, after

    def grid(tag: str) -> None:
        G.eval()
        with torch.no_grad():
            x, m, y = batch(held[:8], False)
            out = forward(x, m)
        G.train()
        rows = [np.concatenate([((t[i].numpy().transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).astype(np.uint8)
                                for t in (x, out, y)], 1) for i in range(len(x))]
        cv2.imwrite(str(args.work / f"grid_{tag}.png"), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))

    log = (args.work / "train.log").open("a")
    last_save = time.perf_counter()
    t_start = time.perf_counter() - seconds
    while seconds < args.minutes * 60:
        idx = rng.choice(train_idx, args.batch, replace=False)
        x, m, y = batch(idx, True)
        out = forward(x, m)
        gan = step >= args.gan_after
        if gan:
            d_real = D(y, m)
            d_fake = D(out.detach(), m)
            loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        loss_r = recon(out, y, m)
        loss_g = loss_r
        if gan:
            loss_adv = -D(out, m).mean()
            loss_g = loss_r + args.gan_weight * loss_adv
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        step += 1
        seconds = time.perf_counter() - t_start
        if step % 50 == 0:
            rec = {"step": step, "min": round(seconds / 60, 2), "recon": round(loss_r.item(), 4)}
            if gan:
                rec.update(d=round(loss_d.item(), 4), adv=round(loss_adv.item(), 4))
            if step % 500 == 0:
                before, after = held_out()
                rec.update(held_input_l1=round(before, 4), held_output_l1=round(after, 4))
                grid(f"{step:06d}")
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if time.perf_counter() - last_save > 180:
            checkpoint()
            last_save = time.perf_counter()
    checkpoint()
    before, after = held_out()
    grid("final")
    (args.work / "final.json").write_text(json.dumps({"step": step, "minutes": round(seconds / 60, 1),
                                                      "pairs": int(n), "held_out": int(len(held)),
                                                      "held_input_l1": before, "held_output_l1": after}))
    print(f"done: step {step}, held-out L1 over the cover {before:.4f} -> {after:.4f}", flush=True)


def export(args: argparse.Namespace) -> None:
    import torch

    from streamanon.photometric.refine import IN_CHANNELS, SIZE

    Refiner, _ = networks()
    s = torch.load(args.work / "ckpt.pt", weights_only=False)
    G = Refiner(s["width"])
    G.load_state_dict(s["G"])
    G.eval()
    dummy = torch.zeros(1, IN_CHANNELS, SIZE, SIZE)
    torch.onnx.export(G, dummy, str(args.out), input_names=["x"], output_names=["correction"], opset_version=18,
                      dynamic_axes={"x": {0: "batch"}, "correction": {0: "batch"}}, dynamo=False)
    from streamanon.models.engine import sha256

    params = sum(p.numel() for p in G.parameters())
    info = {"bytes": args.out.stat().st_size, "params": int(params), "train_step": int(s["step"]),
            "train_minutes": round(s["seconds"] / 60, 1), "sha256": sha256(args.out),
            "licence": "non-commercial research (UTKFace, Face-Mask-Detection and facial_expressions faces)",
            "origin": "tools/train_refiner.py on ../shared/data/faces"}
    manifest = args.out.parent / "manifest.json"
    if manifest.exists():  # the engine is checked against its sha256 before it loads
        entries = json.loads(manifest.read_text())
        entries[args.out.name] = info
        manifest.write_text(json.dumps(dict(sorted(entries.items())), indent=2) + "\n")
    print(json.dumps(info), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pairs")
    p.add_argument("--faces", type=Path, default=ROOT.parent / "shared/data/faces")
    p.add_argument("--count", type=int, default=8000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("/work/cache/refine_pairs.npz"))
    p.add_argument("--shard", type=int, default=0, help="build every --shards-th face from this one (parallel runs)")
    p.add_argument("--shards", type=int, default=1)
    t = sub.add_parser("train")
    t.add_argument("--pairs", type=Path, nargs="+", default=[Path("/work/cache/refine_pairs.npz")])
    t.add_argument("--work", type=Path, default=Path("/work/cache/refiner"))
    t.add_argument("--minutes", type=float, default=60)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--width", type=int, default=32)
    t.add_argument("--gan-after", type=int, default=600)
    t.add_argument("--gan-weight", type=float, default=0.01)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--resume", action="store_true")
    e = sub.add_parser("export")
    e.add_argument("--work", type=Path, default=Path("/work/cache/refiner"))
    e.add_argument("--out", type=Path, default=ROOT / "engines" / "refiner.onnx")
    args = ap.parse_args()
    {"pairs": build_pairs, "train": train, "export": export}[args.cmd](args)


if __name__ == "__main__":
    main()
