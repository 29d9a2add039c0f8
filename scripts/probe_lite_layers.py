"""Which depth of the frozen ImageNet Lite0 trunk separates BreakHis patients best? (linear probe)

    python3 scripts/probe_lite_layers.py [WxH]      # default 224x144 sub-images

Mean-pooled features after blocks 3, 5, 10, 14, 15 and the 1280-channel head, each with a
class-balanced logistic regression in 5-fold grouped patient cross-validation (standardised on the
training folds); image level = mean of the 9 sub-image probabilities. Its result chose the trunk
cut of the shipped breakhis-100x model (recorded in its card as trunk_depth_probe).
"""
import sys, time, numpy as np, torch
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]; sys.path.insert(0, str(ROOT))
from bcviewer.training.tiles import load_tileset
from bcviewer.training.pipeline import patient_group
from bcviewer.datasets import patient_kfold
from bcviewer.nets.lite import full_lite_network, imagenet_state
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import roc_auc_score
torch.set_num_threads(2)
size = tuple(int(v) for v in sys.argv[1].split("x")) if len(sys.argv) > 1 else (224, 144)
t0 = time.time()
ts = load_tileset(ROOT.parent / "shared" / "data" / "breakhis", size)
print("tiles", ts.tiles.shape, time.time() - t0)
net = full_lite_network()
net.load_state_dict(imagenet_state())
net.eval()
mean = torch.tensor([0.485, 0.456, 0.406]).view(1,3,1,1); std = torch.tensor([0.229, 0.224, 0.225]).view(1,3,1,1)
# stage end indices of lite0 blocks
def run(x):
    outs = []
    h = net._swish(net._bn0(net._conv_stem(x)))
    for i, b in enumerate(net._blocks):
        h = b(h)
        if i in (3, 5, 10, 14, 15):
            outs.append(h.mean((2, 3)))
    h = net._swish(net._bn1(net._conv_head(h)))
    outs.append(h.mean((2, 3)))
    return outs
t0 = time.time()
allouts = []
with torch.no_grad():
    for s in range(0, len(ts), 64):
        x = torch.from_numpy(ts.tiles[s:s+64]).permute(0,3,1,2).float()/255
        allouts.append([o.numpy() for o in run((x-mean)/std)])
print("extract", time.time() - t0, [len(net._blocks)])
layers = [np.concatenate([a[j] for a in allouts]) for j in range(6)]
print([l.shape[1] for l in layers])
votes = {}
for im in ts.images: votes.setdefault(patient_group(im.patient), []).append(im.label)
groups = {g: str(int(np.mean(v) >= .5)) for g, v in votes.items()}
pg = np.array([patient_group(ts.images[i].patient) for i in ts.image_index])
yimg = np.array([im.label for im in ts.images])
def cv(X, C=0.1):
    p = np.zeros(len(ts))
    for fold, (_, test) in enumerate(patient_kfold(groups, 5, 0)):
        te = np.isin(pg, list(test)); tr = ~te
        sc = StandardScaler().fit(X[tr]); clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
        clf.fit(sc.transform(X[tr]), ts.labels[tr]); p[te] = clf.predict_proba(sc.transform(X[te]))[:, 1]
    pim = np.array([p[ts.image_index == i].mean() for i in range(len(ts.images))])
    return ((pim >= .5) == yimg).mean(), roc_auc_score(yimg, pim)
for name, X in [("block3", layers[0]), ("block5", layers[1]), ("block10", layers[2]), ("block14", layers[3]), ("block15", layers[4]), ("head", layers[5]), ("mid-cat", np.concatenate(layers[1:5], 1)), ("all", np.concatenate(layers, 1))]:
    for C in (0.01, 0.1):
        print(name, C, "acc %.3f auc %.3f" % cv(X, C))

