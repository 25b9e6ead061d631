#!/usr/bin/python3
"""Independent numeric reference for the gradient-based explainers.

Builds three small torchvision-style networks with seeded weights, exports them
to ONNX (opset 12), and computes in PyTorch (float64), from the published
formulas as pytorch-grad-cam implements them, the activations and gradients at
chosen layers and the raw map of every gradient method (and CAM), plus final
maps (upsampled, scaled, multi-layer averaged) and FullGrad. The TypeScript tests
(test/explain-reference.test.ts) load the .onnx files with loadOnnx and compare.

Run with Debian's PyTorch:  /usr/bin/python3 explainers/reference/generate.py
Writes test/fixtures/explain/*.onnx and test/fixtures/explain/reference.json.

Conventions shared with explainers/cam-math.ts (documented there):
  - min-max scaling is (x - min) / (max - min), all-zero when max == min
    (pytorch-grad-cam divides by 1e-7 + max, which is not scale-invariant);
  - final maps are upsampled (bilinear, half-pixel, = torch align_corners=False
    = cv2 INTER_LINEAR) and then scaled;
  - the SVD sign of the eigen projections is chosen so that the projection
    correlates positively with the plain channel sum.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.io

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'explain')
IMAGES = os.environ.get('GRADLENS_IMAGES', os.path.join(ROOT, '..', 'shared', 'images'))
OPSET = 12
SIZE = 32


# ---- models --------------------------------------------------------------------------------

class Block(nn.Module):
    """torchvision's BasicBlock: conv-bn-relu-conv-bn (+ shortcut) -> relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + (self.down(x) if self.down is not None else x))


class ResNetMini(nn.Module):
    """BN + residual blocks + global average pooling + linear: CAM applies."""

    def __init__(self, classes=5):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.layer1 = Block(8, 8, 1)
        self.layer2 = Block(8, 16, 2)
        self.layer3 = Block(16, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.relu(self.bn(self.conv(x))))))
        return self.fc(torch.flatten(self.pool(x), 1))


class VGGMini(nn.Module):
    """Conv + bias, max pooling, flatten + two linear layers (no GAP: CAM does not apply)."""

    def __init__(self, classes=5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, 1, 1)
        self.relu2 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(8, 16, 3, 1, 1)
        self.relu3 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 8 * 8, 32)
        self.relu4 = nn.ReLU()
        self.fc2 = nn.Linear(32, classes)

    def forward(self, x):
        x = self.pool1(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        x = self.pool2(self.relu3(self.conv3(x)))
        return self.fc2(self.relu4(self.fc1(torch.flatten(x, 1))))


class SiLUNet(nn.Module):
    """SiLU activations, a squeeze-excitation gate (sigmoid), GAP + linear, and an
    auxiliary output the logits do not depend on (for the no-gradient-path error)."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2, 1)
        self.act1 = nn.SiLU()
        self.conv = nn.Conv2d(8, 16, 3, 1, 1)
        self.act2 = nn.SiLU()
        self.se_pool = nn.AdaptiveAvgPool2d(1)
        self.se_reduce = nn.Conv2d(16, 4, 1)
        self.se_relu = nn.ReLU()
        self.se_expand = nn.Conv2d(4, 16, 1)
        self.se_gate = nn.Sigmoid()
        self.head = nn.Conv2d(16, 16, 3, 2, 1)
        self.act3 = nn.SiLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)
        self.aux = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        s = self.act1(self.stem(x))
        y = self.act2(self.conv(s))
        y = y * self.se_gate(self.se_expand(self.se_relu(self.se_reduce(self.se_pool(y)))))
        y = self.act3(self.head(y))
        logits = self.fc(torch.flatten(self.pool(y), 1))
        aux = torch.flatten(self.aux(s).mean((2, 3)), 1)
        return logits, aux


def init_weights(model, seed):
    """Default init plus non-trivial BatchNorm parameters and statistics."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5
            if m.bias is not None:
                m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1
        elif isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=g)
            m.bias.data = torch.randn(c, generator=g) * 0.1
            m.running_mean.data = torch.randn(c, generator=g) * 0.1
            m.running_var.data = 0.5 + torch.rand(c, generator=g)
    return model.eval()


def randomize_top(model, names, seed):
    """Adebayo et al. 2018's cascading model randomization: re-draw the weights of
    the named modules (from the top of the network down)."""
    g = torch.Generator().manual_seed(seed)
    mods = dict(model.named_modules())
    for name in names:
        for p in mods[name].parameters():
            p.data = torch.randn(p.shape, generator=g) * p.data.std().clamp(min=1e-3)
    return model


# ---- the formulas --------------------------------------------------------------------------

def minmax(x):
    """Per-image min-max over the last two axes; all-zero when constant."""
    lo = x.amin(dim=(-2, -1), keepdim=True)
    rng = x.amax(dim=(-2, -1), keepdim=True) - lo
    return (x - lo) / rng.clamp(min=1e-30)


def upsample(x, size):
    """[N, h, w] -> [N, H, W], bilinear with half-pixel centers."""
    return F.interpolate(x[:, None], size=size, mode='bilinear', align_corners=False)[:, 0]


def projection(x):
    """First principal component of [N, C, h, w] (pytorch-grad-cam's get_2d_projection)
    with the sign that correlates with the channel sum."""
    out = []
    for a in x:
        c = a.shape[0]
        rows = a.reshape(c, -1).T
        rows = rows - rows.mean(0)
        _, s, vt = torch.linalg.svd(rows, full_matrices=False)
        p = rows @ vt[0]
        if torch.dot(p, a.sum(0).reshape(-1)) < 0:
            p = -p
        out.append(p.reshape(a.shape[1:]))
        if len(s) > 1:
            GAPS.append(float(s[1] / s[0]))
    return torch.stack(out)


GAPS = []


def weighted(method, A, G):
    """The per-position weighted activations each method sums over channels."""
    if method == 'gradcam':  # Selvaraju 2017, eq. 1
        return G.mean((2, 3), keepdim=True) * A
    if method == 'gradcam++':  # Chattopadhay 2018, eq. 19 (pytorch-grad-cam's closed form)
        g2 = G ** 2
        g3 = g2 * G
        aij = g2 / (2 * g2 + A.sum((2, 3), keepdim=True) * g3 + 1e-6)
        aij = torch.where(G != 0, aij, torch.zeros_like(aij))
        return (F.relu(G) * aij).sum((2, 3), keepdim=True) * A
    if method == 'xgradcam':  # Fu 2020, eq. 9
        return (G * A / (A.sum((2, 3), keepdim=True) + 1e-7)).sum((2, 3), keepdim=True) * A
    if method == 'hirescam':  # Draelos 2020, eq. 5
        return G * A
    if method == 'gradcamelementwise':
        return F.relu(G * A)
    if method == 'layercam':  # Jiang 2021, eq. 5-7
        return F.relu(G) * A
    raise ValueError(method)


METHODS = ['gradcam', 'gradcam++', 'xgradcam', 'hirescam', 'gradcamelementwise', 'layercam']


def raw_map(method, A, G, eigen=False):
    if method == 'eigengradcam':
        return F.relu(projection(G * A))
    w = weighted(method, A, G)
    return F.relu(projection(w) if eigen else w.sum(1))


def run_with_grads(model, x, layers, category, output_index=0, softmax=False):
    """Forward with hooks on the named modules' outputs; backward from the class score."""
    acts, grads = {}, {}
    mods = dict(model.named_modules())
    handles = []
    for name in layers:
        def hook(_m, _i, out, name=name):
            out.retain_grad()
            acts[name] = out
        handles.append(mods[name].register_forward_hook(hook))
    x = x.clone().requires_grad_(True)
    out = model(x)
    logits = out[output_index] if isinstance(out, tuple) else out
    scores = F.softmax(logits, -1) if softmax else logits
    cats = category if isinstance(category, list) else [category] * x.shape[0]
    score = sum(scores[i, c] for i, c in enumerate(cats))
    score.backward()
    for h in handles:
        h.remove()
    for name in layers:
        grads[name] = acts[name].grad if acts[name].grad is not None else None
    return x, scores, acts, grads


# ---- FullGrad (pytorch-grad-cam's, with our scaling) --------------------------------------

def fullgrad(model, x, category, output_index=0):
    mods = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))
            and m.bias is not None]
    names = [n for n, _ in mods]
    xg, _, acts, grads = run_with_grads(model, x, names, category, output_index)
    size = tuple(x.shape[2:])

    def per_channel(t, resize):
        n, c, h, w = t.shape
        s = minmax(t.reshape(n * c, h, w))
        if resize:
            s = upsample(s, size)
        return s.reshape(n, c, *s.shape[1:]).sum(1)

    total = per_channel((xg.grad * xg).abs(), False)
    used = []
    for name, m in mods:
        g = grads[name]
        if g is None:  # no path to the target (an auxiliary branch)
            continue
        if isinstance(m, nn.BatchNorm2d):
            bias = m.bias - m.running_mean * m.weight / torch.sqrt(m.running_var + m.eps)
        else:
            bias = m.bias
        total = total + per_channel((g * bias[None, :, None, None]).abs(), True)
        used.append(name)
    return total, minmax(total), xg.grad, used


# ---- export and bookkeeping -------------------------------------------------------------------

def export(model, name, outputs, preserve_bn=False):
    path = os.path.join(OUT, name)
    torch.onnx.export(
        model.float(), torch.zeros(1, 3, SIZE, SIZE), path, opset_version=OPSET, input_names=['input'],
        output_names=outputs, do_constant_folding=True,
        training=torch.onnx.TrainingMode.PRESERVE if preserve_bn else torch.onnx.TrainingMode.EVAL)
    return path


def onnx_names(path):
    import onnx
    m = onnx.load(path)
    return {n.name: list(n.output) for n in m.graph.node}


def tensor_name(nodes, node_name):
    """The ONNX tensor a module's output became (torch names nodes '/module/Op')."""
    if node_name not in nodes:
        sys.exit(f'node {node_name} not in the export; nodes: {sorted(nodes)}')
    return nodes[node_name][0]


def flat(t):
    return [float(f'{v:.8g}') for v in t.detach().double().reshape(-1).tolist()]


def load_image(name):
    """An image as a [1, 3, SIZE, SIZE] tensor, ImageNet-normalized (torchvision's decoder)."""
    img = torchvision.io.read_image(os.path.join(IMAGES, name), torchvision.io.ImageReadMode.RGB).double() / 255
    img = F.interpolate(img[None], size=(SIZE, SIZE), mode='bilinear', align_corners=False, antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64)[None, :, None, None]
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64)[None, :, None, None]
    # Round to float32 so both sides start from the same numbers.
    return ((img - mean) / std).float().double()


def reference(model, x, layer_modules, layer_names, category, output_index=0, cam_weights=None):
    """Everything the tests compare for one model, one input and one class."""
    model = model.double()
    x = x.double()
    _, scores, acts, grads = run_with_grads(model, x, layer_modules, category, output_index)
    size = [x.shape[2], x.shape[3]]
    res = {'category': category if isinstance(category, list) else [category],
           'score': flat(scores[:, category] if not isinstance(category, list)
                         else torch.stack([scores[i, c] for i, c in enumerate(category)])),
           'logits': flat(scores), 'layers': {}, 'raw': {}, 'final': {}}
    for mod, name in zip(layer_modules, layer_names):
        A, G = acts[mod].detach(), grads[mod].detach()
        res['layers'][name] = {'shape': list(A.shape), 'activations': flat(A), 'gradients': flat(G)}
        raws = {}
        for m in METHODS + ['eigengradcam']:
            raws[m] = raw_map(m, A, G)
        raws['gradcam+eigen'] = raw_map('gradcam', A, G, eigen=True)
        raws['layercam+eigen'] = raw_map('layercam', A, G, eigen=True)
        if cam_weights is not None:
            cats = res['category'] * (A.shape[0] if len(res['category']) == 1 else 1)
            w = torch.stack([cam_weights[c] for c in cats])[:, :, None, None]
            raws['cam'] = F.relu((w * A).sum(1))
        for m, r in raws.items():
            nonzero = float((r > 0).double().mean())
            if nonzero == 0:
                print(f'  warning: {name} {m}: all-zero raw map')
            res['raw'].setdefault(m, {})[name] = flat(r)
    # Final maps: one layer, and all layers averaged.
    for m in METHODS + ['eigengradcam']:
        scaled = [minmax(upsample(raw_map(m, acts[mod].detach(), grads[mod].detach()), size)) for mod in layer_modules]
        res['final'][m] = flat(scaled[0])
        if len(scaled) > 1:
            res['final'][m + '@all'] = flat(minmax(sum(scaled)))
    return res


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    cat = load_image('chelsea.png')
    dog = load_image('dog.jpg')
    out = {'generator': 'explainers/reference/generate.py', 'torch': torch.__version__, 'opset': OPSET,
           'size': SIZE, 'inputs': {'chelsea': flat(cat), 'dog': flat(dog)}, 'models': {}}

    # -- mini ResNet: BN folded at export (resnet_mini.onnx) and kept (resnet_mini_bn.onnx)
    resnet = init_weights(ResNetMini(), seed=1)
    p = export(resnet, 'resnet_mini.onnx', ['logits'])
    export(resnet, 'resnet_mini_bn.onnx', ['logits'], preserve_bn=True)
    nodes = onnx_names(p)
    mods = ['layer3.relu2', 'layer2.relu2']
    names = [tensor_name(nodes, '/layer3/relu2/Relu'), tensor_name(nodes, '/layer2/relu2/Relu')]
    with torch.no_grad():
        logits = resnet.double()(cat)
    category = int(logits.argmax())
    r = reference(resnet, cat, mods, names, category, cam_weights=resnet.fc.weight.detach().double())
    fg_raw, fg_map, fg_grad, used = fullgrad(resnet.double(), cat, category)
    r['fullgrad'] = {'raw': flat(fg_raw), 'map': flat(fg_map), 'input_gradient': flat(fg_grad), 'bias_layers': len(used)}
    # A batch of two with one class per image.
    both = torch.cat([cat, dog])
    rb = reference(resnet, both, mods[:1], names[:1], [2, 4])
    r['batch'] = {'inputs': ['chelsea', 'dog'], 'category': [2, 4], 'score': rb['score'],
                  'raw': {'gradcam': rb['raw']['gradcam'], 'hirescam': rb['raw']['hirescam']}}
    # Softmax target on the same layer.
    _, probs, acts, grads = run_with_grads(resnet.double(), cat, mods[:1], category, softmax=True)
    r['softmax'] = {'score': flat(probs[:, category]), 'raw': {'gradcam': flat(raw_map('gradcam', acts[mods[0]].detach(), grads[mods[0]].detach()))}}
    r.update({'file': 'resnet_mini.onnx', 'file_bn': 'resnet_mini_bn.onnx', 'output': 'logits', 'input': 'chelsea',
              'layer_names': names})
    out['models']['resnet_mini'] = r

    # Model randomization (Adebayo et al. 2018): the top of the ResNet re-drawn.
    randomized = randomize_top(init_weights(ResNetMini(), seed=1), ['fc', 'layer3'], seed=99)
    export(randomized, 'resnet_mini_random.onnx', ['logits'])

    # -- mini VGG
    vgg = init_weights(VGGMini(), seed=2)
    p = export(vgg, 'vgg_mini.onnx', ['logits'])
    nodes = onnx_names(p)
    mods = ['relu3', 'relu2']
    names = [tensor_name(nodes, '/relu3/Relu'), tensor_name(nodes, '/relu2/Relu')]
    with torch.no_grad():
        category = int(vgg.double()(cat).argmax())
    r = reference(vgg, cat, mods, names, category)
    fg_raw, fg_map, fg_grad, used = fullgrad(vgg.double(), cat, category)
    r['fullgrad'] = {'raw': flat(fg_raw), 'map': flat(fg_map), 'input_gradient': flat(fg_grad), 'bias_layers': len(used)}
    r.update({'file': 'vgg_mini.onnx', 'output': 'logits', 'input': 'chelsea', 'layer_names': names})
    out['models']['vgg_mini'] = r

    # -- SiLU + squeeze-excitation net (two outputs)
    silu = init_weights(SiLUNet(), seed=3)
    p = export(silu, 'silu_mini.onnx', ['logits', 'aux'])
    nodes = onnx_names(p)
    mods = ['act3', 'act2']
    names = [tensor_name(nodes, '/act3/Mul'), tensor_name(nodes, '/act2/Mul')]
    with torch.no_grad():
        category = int(silu.double()(dog)[0].argmax())
    r = reference(silu, dog, mods, names, category, cam_weights=silu.fc.weight.detach().double())
    fg_raw, fg_map, fg_grad, used = fullgrad(silu.double(), dog, category)
    r['fullgrad'] = {'raw': flat(fg_raw), 'map': flat(fg_map), 'input_gradient': flat(fg_grad), 'bias_layers': len(used)}
    r.update({'file': 'silu_mini.onnx', 'output': 'logits', 'input': 'dog', 'layer_names': names,
              'unreachable_layer': tensor_name(nodes, '/aux/Conv')})
    out['models']['silu_mini'] = r

    out['eigen_gap_max'] = max(GAPS)
    with open(os.path.join(OUT, 'reference.json'), 'w') as f:
        json.dump(out, f, separators=(',', ':'))
    print('largest second/first singular value ratio of the eigen projections:', max(GAPS))
    for name in sorted(os.listdir(OUT)):
        print(f'  {name}: {os.path.getsize(os.path.join(OUT, name))} bytes')


if __name__ == '__main__':
    main()
