from torch import nn


def shard(net: nn.Module, mesh) -> None:
    """FSDP2 for the net: parameters, gradients and optimizer state split across the ranks of
    `mesh`, gathered one block at a time for its forward and backward. Each direct child that
    has parameters is its own block (`features`, `head`, a ResNet stage...), then the net."""
    from torch.distributed.fsdp import FSDPModule, fully_shard

    if isinstance(net, FSDPModule):  # `fit` then `test` configure the same model twice
        return
    for child in net.children():
        if any(p.requires_grad for p in child.parameters()):
            fully_shard(child, mesh=mesh)
    fully_shard(net, mesh=mesh)
