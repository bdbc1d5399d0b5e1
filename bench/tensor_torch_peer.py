"""PyTorch side of bench/tensor: the same nets, batch sizes, optimizer and timing as sampler-free tensor-bench."""
import json, sys, time, resource
import torch, torch.nn as nn
torch.set_num_threads(1)
runs = int(sys.argv[1])
def digits():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(1024, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))
def mnist():
    return nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1152, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))
for name, size, make in [("digits", 8, digits), ("mnist", 28, mnist)]:
    for batch in (128, 256):
        torch.manual_seed(1)
        model = make(); opt = torch.optim.Adam(model.parameters(), 1e-3); lossf = nn.CrossEntropyLoss()
        x = torch.rand(batch, 1, size, size); y = torch.randint(0, 10, (batch,))
        def step():
            opt.zero_grad(); loss = lossf(model(x), y); loss.backward(); opt.step()
        step(); steps = 10 if name == "digits" else 3; rates = []; inf = []
        for _ in range(runs):
            t = time.perf_counter()
            for _ in range(steps): step()
            rates.append(batch * steps / (time.perf_counter() - t))
        model.eval()
        with torch.no_grad():
            for _ in range(runs):
                t = time.perf_counter()
                for _ in range(steps): model(x)
                inf.append(batch * steps / (time.perf_counter() - t))
        model.train()
        print(json.dumps({"net": name, "batch": batch, "train_images_per_second": sorted(rates)[len(rates)//2],
            "inference_images_per_second": sorted(inf)[len(inf)//2], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
