import pytest
import torch

from src.nets import AirbenchNet, CifarResNet, ConvNet, MLPNet, SmallCNN, TorchvisionNet


@pytest.mark.parametrize("net_class", [MLPNet, SmallCNN, ConvNet])
@pytest.mark.parametrize("input_shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_forward_shape_and_finite(net_class, input_shape):
    net = net_class(input_shape=input_shape, num_classes=7)
    logits = net(torch.randn(4, *input_shape))
    assert logits.shape == (4, 7)
    assert torch.isfinite(logits).all()


def test_sizes_are_configurable():
    small = SmallCNN(channels=[8, 16])
    large = SmallCNN(channels=[32, 64, 128])
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(small) < count(large)
    assert [
        m.out_features for m in MLPNet(hidden_dims=[64, 32]).modules() if hasattr(m, "out_features")
    ] == [64, 32, 10]
    widths = lambda net: [m.out_features for m in net.head if hasattr(m, "out_features")]  # noqa: E731
    assert widths(ConvNet()) == [10] and widths(ConvNet(hidden=256)) == [256, 10]


@pytest.mark.parametrize("input_shape", [(3, 32, 32), (1, 28, 28)])
def test_airbench_net_forward_and_whitening(input_shape):
    net = AirbenchNet(input_shape=input_shape, num_classes=7, widths=[8, 16, 16])
    images = torch.randn(64, *input_shape) * torch.linspace(0.5, 2, input_shape[-1])  # correlated
    net.init_whitening(images)
    logits = net(images[:4])
    assert logits.shape == (4, 7) and torch.isfinite(logits).all()
    # the first half of the whitening filters maps 2x2 patches to unit, uncorrelated outputs
    half = net.whiten.weight[: net.whiten.out_channels // 2]
    out = torch.nn.functional.conv2d(images, half).transpose(0, 1).flatten(1)
    cov = torch.cov(out)
    assert torch.allclose(cov, torch.eye(len(cov)), atol=0.05)
    assert not net.whiten.weight.requires_grad


@pytest.mark.parametrize("input_shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_cifar_resnet_forward_shape_and_finite(input_shape):
    net = CifarResNet(input_shape=input_shape, num_classes=7, blocks=[1, 1], widths=[8, 16])
    logits = net(torch.randn(4, *input_shape))
    assert logits.shape == (4, 7) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
@pytest.mark.parametrize("input_shape", [(1, 28, 28), (3, 32, 32)])
def test_torchvision_net_forward_shape_and_finite(name, input_shape):
    net = TorchvisionNet(input_shape=input_shape, num_classes=7, name=name).eval()
    logits = net(torch.randn(2, *input_shape))
    assert logits.shape == (2, 7) and torch.isfinite(logits).all()
