#!/usr/bin/python3
"""Export a PyTorch Siamese network (the seed notebook's `Siamese_net`) to a SimilarFaces model.safetensors.

    /usr/bin/python3 tools/reference/export_seed_model.py --state-dict trained.pt --out model.safetensors
    /usr/bin/python3 tools/reference/export_seed_model.py --init-seed 0 --out model.safetensors

The file holds the state_dict under PyTorch's own names (conv_layers.N.*, fully_connect.N.*; F32, and I64
for num_batches_tracked) and, in __metadata__, the architecture as SimilarFaces reads it, so
`similar-faces embed/eval/compare --model model.safetensors` use the PyTorch weights directly.

--image-size and --hidden describe variants of the seed network (default: the seed, 100 and 500 500).
--fixture FILE additionally writes a test fixture: 6 random images (with a fixed seed), the model's eval-mode
embeddings of them, and the torch version; the C# test loads the exported model and compares embeddings.
With --fixture the BatchNorm running statistics are first moved away from their defaults by training-mode
forward passes over random batches, so the test exercises them.
"""

import argparse
import json

import torch
import torch.nn as nn

from safetensors_file import encode_safetensors
from seed_tower import SeedTower


def architecture_json(image_size: int, hidden: list[int], embedding: int) -> str:
    """The architecture record SimilarFaces stores in its checkpoints (Model/SiameseArchitecture.cs)."""
    return json.dumps({"ImageSize": image_size, "Channels": [4, 8, 8], "Padding": "Replication", "MaxPool": False,
                       "Hidden": hidden, "EmbeddingSize": embedding}, separators=(",", ":"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--state-dict", help="a torch.save()d state_dict (or whole model) of the seed network")
    source.add_argument("--init-seed", type=int, help="export a freshly initialised network (torch.manual_seed)")
    parser.add_argument("--image-size", type=int, default=100)
    parser.add_argument("--hidden", type=int, nargs="*", default=[500, 500])
    parser.add_argument("--embedding", type=int, default=5)
    parser.add_argument("--out", required=True)
    parser.add_argument("--fixture", help="also write a test fixture of inputs and embeddings")
    args = parser.parse_args()

    if args.init_seed is not None:
        torch.manual_seed(args.init_seed)
    model = SeedTower(args.image_size, args.hidden, args.embedding)
    if args.state_dict:
        loaded = torch.load(args.state_dict, map_location="cpu")
        model.load_state_dict(loaded.state_dict() if isinstance(loaded, nn.Module) else loaded)

    generator = torch.Generator().manual_seed(1234)
    if args.fixture:
        model.train()
        with torch.no_grad():
            for _ in range(3):
                model(torch.rand(4, 1, args.image_size, args.image_size, generator=generator))

    metadata = {"architecture": architecture_json(args.image_size, args.hidden, args.embedding),
                "exported_by": "tools/reference/export_seed_model.py", "torch_version": torch.__version__}
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    with open(args.out, "wb") as f:
        f.write(encode_safetensors(state, metadata))

    if args.fixture:
        model.eval()
        images = torch.rand(6, 1, args.image_size, args.image_size, generator=generator)
        with torch.no_grad():
            embeddings = model(images)
        with open(args.fixture, "wb") as f:
            f.write(encode_safetensors({"images": images, "embeddings": embeddings},
                                       {"torch_version": torch.__version__, "model": args.out,
                                        "generator": "tools/reference/export_seed_model.py", "mode": "eval"}))


if __name__ == "__main__":
    main()
